"""The search service's use of the vectors: fuse the lexical ranking with the threads
nearest to the query, by reciprocal rank fusion (k = 60, the top 50 of each).

The query is embedded as the query understanding left it: spelling corrected (the "did
you mean" text) and with the labels of the concepts it named, so "knackered" and "tierd"
both reach the threads about fatigue. A neighbour outside the person's filters never
enters the ranking. Past the fused top, lexical results follow in their own order.
Results are still loaded back from the database, so nothing hidden is ever shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flask import current_app

from . import Dense
from . import start as _start
from .fuse import DEPTH, K, member, rrf

__all__ = ["DEPTH", "merge", "query_text", "start", "wanted"]

NEIGHBOURS = DEPTH * 4  # nearest threads looked for: room for a filter to drop some


def wanted() -> bool:
    """Whether this app asks for the second opinion at all (the model may still be off)."""
    return bool(current_app.config.get("SEARCH_SEMANTIC", True))


def query_text(parsed, built) -> str:
    """The normalised query: corrected words (or the typed ones), then the names of the
    concepts found in it that the words do not already spell out."""
    typed = " ".join([*parsed.words, *(w for p in parsed.phrases for w in p)])
    text = built.suggestion or typed
    labels = dict.fromkeys(getattr(built, "concepts", []) or [])
    extra = [label for label in labels if label.lower() not in text.lower()]
    return " ".join([text, *extra]).strip()


def start(generation: Path | None, text: str) -> Dense | None:
    """Start the dense side for the normalised query ``text`` in the index ``generation``
    (its embedding runs while the lexical search does); None when it is off."""
    return _start(generation, text, NEIGHBOURS) if generation else None


def merge(
    pending: Dense | None,
    lexical: list[tuple[int, float]],
    allowed: np.ndarray | None = None,
) -> tuple[list[tuple[int, float]], int]:
    """(fused ranking, how many threads the dense side added). ``pending``: what
    ``start`` returned; ``lexical``: (thread id, score) best first, at least its top
    ``DEPTH``; ``allowed``: thread ids of the threads that match the person's filters
    (None: no filters). Unchanged when semantic search is off or failed. Fused threads
    score their RRF sum; the lexical rest follow with score 0."""
    k = int(current_app.config.get("SEARCH_SEMANTIC_RRF_K", K))
    dense = pending.ranking(limit=NEIGHBOURS) if pending is not None else None
    if dense is None:
        return lexical, 0
    if allowed is not None:  # one vectorised membership test, in the dense order
        found = np.asarray(dense, np.int64)
        dense = found[member(found, allowed)][:DEPTH].tolist()
    lexical_ids = [t for t, _s in lexical]
    fused = rrf([lexical_ids[:DEPTH], dense[:DEPTH]], k=k, depth=DEPTH)
    ranks = [{t: r for r, t in enumerate(ids[:DEPTH], start=1)} for ids in (lexical_ids, dense)]
    head = [(t, sum(1.0 / (k + r[t]) for r in ranks if t in r)) for t in fused]
    seen = set(fused)
    tail = [(t, 0.0) for t in lexical_ids[DEPTH:] if t not in seen]
    return head + tail, len(seen - set(lexical_ids))
