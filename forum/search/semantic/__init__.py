"""A semantic second opinion: thread vectors from a small sentence-embedding model, fused
with the lexical ranking by reciprocal rank fusion.

Vectors are derived data like the index (``vectors.py``): the change applier writes them
with the index (``write``) - or, for an import's batches and backlogs, records them as
pending, embedded afterwards by the serving processes' appliers (``embed_pending``) -, a
rebuild writes them all (``fill``), check-index compares them with the database
(``problems``). Without a usable model every function here is a no-op and search stays
lexical; ``state`` says which, and why (and how many threads wait), for /healthz.

- ``vectors.py``: writing, deferring, embedding pending vectors, checking them.
- ``model.py``: the ONNX model and tokenizer (local file only, checksummed).
- ``query_graph.py``: the same model's faster graph for queries (int8 weights kept int8).
- ``store.py``: vectors per index generation (a memory-mapped base and a small delta).
- ``fuse.py``: nearest vectors to a query, and RRF.

A search embeds its query first (``start``; with ``SEARCH_SEMANTIC_OVERLAP`` in a worker
thread while the lexical evaluator runs - less wall time on an idle machine, more CPU),
then finds the nearest threads after the lexical search and fuses (``Dense.ranking``);
the last
``QUERY_CACHE`` query vectors are kept, so paging or repeating a query does not embed
it again, and so are their nearest threads, for as long as the vectors they were found
in are current (a changed thread vector makes a new snapshot, and the next search
looks again).
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from flask import current_app

from ..lru import ByteLRU
from .fuse import nearest
from .model import Model, ModelUnavailable
from .store import Snapshot, VectorStore
from .vectors import (
    CHUNK,
    current_model,
    current_model_id,
    defer,
    defer_ids,
    embed_all_pending,
    embed_pending,
    fill,
    fill_ids,
    pending_count,
    prepare,
    problems,
    problems_ids,
    thread_text,
    write,
)

__all__ = [
    "CHUNK",
    "Dense",
    "ModelUnavailable",
    "clear_query_cache",
    "current_model",
    "current_model_id",
    "defer",
    "defer_ids",
    "embed_all_pending",
    "embed_pending",
    "fill",
    "fill_ids",
    "pending_count",
    "prepare",
    "problems",
    "problems_ids",
    "ranking",
    "snapshot",
    "start",
    "state",
    "thread_text",
    "write",
]

log = logging.getLogger(__name__)

MIN_SIMILARITY = 0.2  # default SEARCH_SEMANTIC_MIN_SIMILARITY: below it, not a neighbour
QUERY_CACHE = 1024  # query vectors kept (normalised query text -> vector)
WAIT = 5.0  # default SEARCH_SEMANTIC_WAIT: seconds a search waits for its query vector


_snapshots: dict[str, tuple[tuple, Snapshot | None]] = {}
_snap_lock = threading.Lock()
_serials = itertools.count(1)  # each snapshot read gets the next: it names the vectors


def snapshot(generation: str | Path) -> Snapshot | None:
    """This process's view of a generation's vectors, reread when a writer changed them."""
    vs = VectorStore(generation)
    version = vs.version()
    key = str(vs.dir)
    with _snap_lock:
        held = _snapshots.get(key)
        if held is not None and held[0] == version:
            return held[1]
    snap = vs.snapshot()
    if snap is not None:
        snap.serial = next(_serials)
    with _snap_lock:
        _snapshots[key] = (version, snap)
    return snap


def _usable(generation: str | Path | None) -> tuple[Model | None, Snapshot | None, str]:
    """(model, vectors, why) when semantic search can run now; (None, None, why not)."""
    try:
        model = current_model()
    except ModelUnavailable as exc:
        return None, None, str(exc)
    if generation is None:
        return None, None, "no search index yet"
    snap = snapshot(generation)
    if snap is None:
        return None, None, "the index has no thread vectors: run flask forum reindex"
    if snap.model != model.id:
        return None, None, "thread vectors come from another model: run flask forum reindex"
    if snap.incomplete:
        return None, None, "thread vectors are incomplete: run flask forum reindex"
    count = len(snap.base_ids) + len(snap.delta_ids)
    graph = "the int8 query graph" if model.query_session is not None else "the model's graph"
    why = f"model {model.id}, {count} vectors, queries through {graph}"
    waiting = pending_count(generation)
    if waiting:  # an import's or a backlog's threads: ranked lexically until embedded
        why += f"; {waiting} threads waiting for their vectors (computed in the background)"
    return model, snap, why


def state(generation: str | Path | None) -> tuple[bool, str]:
    """(semantic search on, why): for /healthz."""
    model, _snap, why = _usable(generation)
    return model is not None, why


# (model id, query text) -> read-only vector; a vector and its key are about 1.7 KB.
_query_vectors = ByteLRU(QUERY_CACHE * 1800)
# (model id, query text, limit, floor, snapshot serial) -> nearest thread ids (~1.7 KB):
# the serial keeps a repeated query from reusing neighbours of vectors since replaced.
_query_neighbours = ByteLRU(QUERY_CACHE * 1900)
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _cached_vector(model: Model, text: str) -> np.ndarray | None:
    return _query_vectors.get((model.id, text))


def query_vector(model: Model, text: str) -> np.ndarray:
    """``text``'s vector (read-only), from the cache of recent queries when it is there."""
    vec = _cached_vector(model, text)
    if vec is not None:
        return vec
    vec = model.embed_query(text)
    vec.setflags(write=False)
    _query_vectors.put((model.id, text), vec, vec.nbytes)
    return vec


def clear_query_cache() -> None:
    """Forget every cached query vector and neighbour list (benchmarks time the
    embedding and the nearest search with this)."""
    _query_vectors.clear()
    _query_neighbours.clear()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-embed")
        return _pool


class Dense:
    """A query's dense side, started before the lexical search and joined after it.

    ``vector``: the query's vector, a done future (embedded before the lexical search)
    or, with ``SEARCH_SEMANTIC_OVERLAP``, embedded in a worker thread while the lexical
    search runs (one onnxruntime call, which holds no GIL). The nearest threads are
    looked for afterwards, in the request thread: some fifty short numpy passes, which
    in the worker handed the GIL back and forth with the lexical search's Python for
    ~0.7 ms more CPU a query and no wall time saved (2026-12-05, docs/search.md)."""

    def __init__(
        self,
        model: Model,
        snap: Snapshot,
        text: str,
        vector: Future,
        limit: int,
        floor: float,
        wait: float,
    ):
        self.model = model
        self.snap = snap
        self.text = text
        self.vector = vector
        self.limit = limit
        self.floor = floor
        self.wait = wait

    def ranking(self, allowed: np.ndarray | None = None, limit: int = 50) -> list[int] | None:
        """Thread ids nearest to the query, best first (only ids in ``allowed`` when
        given); None (search stays lexical) when embedding failed or took longer than
        the wait."""
        try:
            query = self.vector.result(timeout=self.wait)
            if allowed is None and limit <= self.limit:
                found = _neighbours(self.model, self.snap, self.text, query, self.limit, self.floor)
                return found[:limit]
            return [i for i, _s in nearest(self.snap, query, limit, self.floor, allowed)]
        except Exception:
            log.warning("semantic second opinion failed: search is lexical", exc_info=True)
            return None


def _neighbours(
    model: Model, snap: Snapshot, text: str, query: np.ndarray, limit: int, floor: float
) -> list[int]:
    """The ``limit`` thread ids nearest to ``text``'s vector ``query`` (or those found
    for the same query in these same vectors before: ~3.5 ms of CPU saved at 100,000
    threads)."""
    key = (model.id, text, limit, floor, snap.serial)
    found = _query_neighbours.get(key)
    if found is None:
        found = np.array([i for i, _s in nearest(snap, query, limit, floor)], np.int64)
        found.setflags(write=False)
        _query_neighbours.put(key, found, found.nbytes + 120)
    return found.tolist()


def start(generation: str | Path | None, text: str, limit: int = 50) -> Dense | None:
    """Embed ``text`` (here, or with ``SEARCH_SEMANTIC_OVERLAP`` in a worker thread while
    the caller's lexical search runs); its ``limit`` nearest threads are found when
    ``Dense.ranking`` asks. None when semantic search is off, the text is empty or the
    embedding failed (the search stays lexical)."""
    try:
        model, snap, _why = _usable(generation)
        if model is None or not text.strip():
            return None
        config = current_app.config
        floor = float(config.get("SEARCH_SEMANTIC_MIN_SIMILARITY", MIN_SIMILARITY))
        if config.get("SEARCH_SEMANTIC_OVERLAP", False):
            vector = _executor().submit(query_vector, model, text)
        else:  # here, before the lexical search (no thread hand-off)
            vector = Future()
            vector.set_result(query_vector(model, text))
        wait = float(config.get("SEARCH_SEMANTIC_WAIT", WAIT))
        return Dense(model, snap, text, vector, limit, floor, wait)
    except Exception:
        log.warning("semantic second opinion failed to start: search is lexical", exc_info=True)
        return None


def ranking(
    generation: str | Path, text: str, allowed: np.ndarray | None = None, limit: int = 50
) -> list[int] | None:
    """Thread ids nearest to ``text``, best first; None when semantic search is off."""
    dense = start(generation, text, limit)
    return None if dense is None else dense.ranking(allowed, limit)
