"""Nearest threads to a query vector, and reciprocal rank fusion of two rankings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .store import Snapshot

K = 60  # RRF's constant: how little a top rank counts more than the next
DEPTH = 50  # how many of each ranking take part


def nearest(
    snap: Snapshot,
    query: np.ndarray,
    limit: int = DEPTH,
    min_similarity: float = -1.0,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """The ``limit`` threads most similar to ``query`` (cosine: vectors are normalised),
    best first, ties by thread id; only ids in ``allowed`` when given, and only those at
    least ``min_similarity`` similar. One matrix product over the memory-mapped base."""
    query = np.asarray(query, np.float32)
    scores = np.concatenate([snap.base_vecs @ query, snap.delta_vecs @ query])
    ids = np.concatenate([snap.base_ids, snap.delta_ids])
    keep = scores >= min_similarity
    if snap.base_live is not None:
        keep[: len(snap.base_ids)] &= snap.base_live
    if allowed is not None:
        keep &= np.isin(ids, allowed)
    scores, ids = scores[keep], ids[keep]
    if len(scores) > limit:
        top = np.argpartition(-scores, limit - 1)[:limit]
        cut = scores[top].min()  # keep every id tied at the cut, then order exactly
        top = np.flatnonzero(scores >= cut)
        scores, ids = scores[top], ids[top]
    order = np.lexsort((ids, -scores))[:limit]
    return [(int(ids[i]), float(scores[i])) for i in order]


def rrf(rankings: Sequence[Sequence[int]], k: int = K, depth: int = DEPTH) -> list[int]:
    """Reciprocal rank fusion: each thread scores the sum of 1 / (k + rank) over the
    rankings it is in (top ``depth`` of each, rank from 1). Best first; equal scores by
    thread id, so the same rankings always fuse to the same order."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, thread_id in enumerate(ranking[:depth], start=1):
            scores[thread_id] += 1.0 / (k + rank)
    return sorted(scores, key=lambda t: (-scores[t], t))
