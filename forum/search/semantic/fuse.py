"""Nearest threads to a query vector, and reciprocal rank fusion of two rankings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .store import Snapshot, query_bits

K = 60  # RRF's constant: how little a top rank counts more than the next
DEPTH = 50  # how many of each ranking take part
CANDIDATES = 2_000  # rows rescored after the sign-bit prefilter (at least) ...
CANDIDATE_SHARE = 20  # ... or one in this many rows, whichever is more
SLACK = 1e-4  # added to the int8 codes' error bound: float32 sums' rounding, and more
TABLE_SPAN = 1 << 24  # widest id range ``member`` looks up in a table (16 MB of flags)


def nearest(
    snap: Snapshot,
    query: np.ndarray,
    limit: int = DEPTH,
    min_similarity: float = -1.0,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """The ``limit`` threads most similar to ``query`` (cosine: vectors are normalised),
    best first, ties by thread id; only ids in ``allowed`` when given, and only those at
    least ``min_similarity`` similar.

    A small base is scored whole. A large one (its snapshot has sign bits) is first cut
    to the ``candidates`` rows nearest by Hamming distance between sign bits, then
    those rows are scored exactly: the same top as scoring every row on nearly every
    query (tests/unit/test_semantic.py measures the recall), for a few milliseconds
    instead of a pass over every vector. Products run without BLAS threads, which on a
    busy two-core machine cost more than they save."""
    query = np.asarray(query, np.float32)
    n = len(snap.base_ids)
    keep_base = snap.base_live
    if allowed is not None:
        ok = member(snap.base_ids, allowed)
        keep_base = ok if keep_base is None else keep_base & ok
    if snap.base_bits is None or n <= candidates(n):
        rows = np.arange(n) if keep_base is None else np.flatnonzero(keep_base)
        base_scores = _dot(snap.base_vecs, query)[rows]
    else:
        rows = _prefilter(snap, query, keep_base, candidates(n))
        if snap.base_codes is not None:
            rows = _could_reach(snap, query, rows, limit, min_similarity)
        base_scores = _dot(np.take(snap.base_vecs, rows, axis=0), query)
    delta_keep = slice(None) if allowed is None else member(snap.delta_ids, allowed)
    scores = np.concatenate([base_scores, _dot(snap.delta_vecs, query)[delta_keep]])
    ids = np.concatenate([snap.base_ids[rows], snap.delta_ids[delta_keep]])
    keep = scores >= min_similarity
    scores, ids = scores[keep], ids[keep]
    if len(scores) > limit:
        top = np.argpartition(-scores, limit - 1)[:limit]
        cut = scores[top].min()  # keep every id tied at the cut, then order exactly
        top = np.flatnonzero(scores >= cut)
        scores, ids = scores[top], ids[top]
    order = np.lexsort((ids, -scores))[:limit]
    return list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))


def member(ids: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Which of ``ids`` are in ``allowed`` (a bool mask; integer ids, any order).

    Thread ids span a bounded range, so one table of flags over it answers in a pass
    over each array (~0.05 ms for 40,000 allowed ids). ``np.isin``'s own choice sorts
    and hashes ``allowed`` when it is sparse in its range: 0.5-2 ms for a filter that
    matches 5,000-15,000 of 100,000 threads, a filtered search's largest semantic cost
    after the embedding and the nearest search."""
    ids, allowed = np.asarray(ids), np.asarray(allowed)
    if not len(ids) or not len(allowed):
        return np.zeros(len(ids), bool)
    span = int(allowed.max()) - int(allowed.min())
    return np.isin(ids, allowed, kind="table" if span <= TABLE_SPAN else None)


def candidates(n: int) -> int:
    """Rows rescored exactly after the sign-bit prefilter, of ``n``."""
    return max(CANDIDATES, n // CANDIDATE_SHARE)


def _dot(vecs: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``vecs @ query`` in one thread (einsum, not BLAS: a matrix-vector product is
    bound by memory, and BLAS threads contend with the rest of the process)."""
    return np.einsum("ij,j->i", vecs, query, dtype=np.float32)


def _prefilter(snap: Snapshot, query: np.ndarray, keep, count: int) -> np.ndarray:
    """Sorted base rows whose sign bits are nearest the query's (Hamming distance)."""
    dist = hamming(snap.base_bits, query_bits(query, snap.projection))
    if keep is not None:
        dist[~keep] = np.iinfo(np.uint16).max
        count = min(count, int(keep.sum()))
    if count >= len(dist):
        return np.flatnonzero(keep) if keep is not None else np.arange(len(dist))
    # The smallest distance that ``count`` rows reach; every row tied with it is kept,
    # so which rows are rescored never depends on their order. Sorted rows read the
    # memory-mapped vectors in file order.
    reach = int(np.searchsorted(np.cumsum(np.bincount(dist)), count))
    return np.flatnonzero(dist <= reach)


def _could_reach(
    snap: Snapshot, query: np.ndarray, rows: np.ndarray, limit: int, floor: float
) -> np.ndarray:
    """The ``rows`` that could be among the ``limit`` best of ``rows`` (and reach
    ``floor``), judged by their int8 codes: a row's code product is within ``slack`` of
    its exact product (the rounding error's length times the query's, plus room for
    float32 sums), so a row whose upper bound is below the ``limit``-th best lower
    bound cannot make the top. Only the rows left (~450 of 5,000 at 100,000 threads)
    are rescored from the float32 vectors, so the scores and the order are exactly
    those of rescoring every row, for a quarter of the memory read."""
    codes = snap.base_codes
    approx = _dot(np.take(codes.codes, rows, axis=0), query) * codes.scales[rows]
    slack = codes.residuals[rows] * np.float32(np.linalg.norm(query)) + np.float32(SLACK)
    upper = approx + slack
    if 0 < limit < len(rows):
        lower = approx - slack
        floor = max(floor, float(np.partition(lower, len(rows) - limit)[len(rows) - limit]))
    return rows[upper >= floor]


def hamming(bits: np.ndarray, qbits: np.ndarray) -> np.ndarray:
    """uint16 Hamming distance of each column of ``bits`` (uint64 [words, n]) to
    ``qbits``. Up to three words' counts add up in uint8 (at most 192) before they are
    widened: a tenth fewer passes over the rows than widening every word."""
    dist = None
    for first in range(0, len(qbits), 3):
        part = np.bitwise_count(bits[first] ^ qbits[first])
        for word in range(first + 1, min(first + 3, len(qbits))):
            part += np.bitwise_count(bits[word] ^ qbits[word])
        if dist is None:
            dist = part.astype(np.uint16)
        else:
            dist += part
    return dist if dist is not None else np.zeros(bits.shape[1], np.uint16)


def rrf(rankings: Sequence[Sequence[int]], k: int = K, depth: int = DEPTH) -> list[int]:
    """Reciprocal rank fusion: each thread scores the sum of 1 / (k + rank) over the
    rankings it is in (top ``depth`` of each, rank from 1). Best first; equal scores by
    thread id, so the same rankings always fuse to the same order."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, thread_id in enumerate(ranking[:depth], start=1):
            scores[thread_id] += 1.0 / (k + rank)
    return sorted(scores, key=lambda t: (-scores[t], t))
