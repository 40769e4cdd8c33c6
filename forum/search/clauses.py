"""Per-searcher results of a query's clauses, shared by later queries with the clause.

A search for "rash nausea" and one for "nausea liver" both evaluate the clause the word
"nausea" expands to (its words in title and content, its concept token, its side-effect
tag at a constant score): the same postings, the same BM25F scores. A searcher is a
snapshot that never changes - its segments, deletions and statistics (idf, average field
lengths) are fixed while it lives - so a clause's matches and scores in one of its
segments are fixed too, and are remembered on the searcher, as Lucene's query cache
keeps per-segment results of frequently used clauses:

- the clauses are the top of the query (the whole query when it is one word's clause)
  and the parts directly under it, among the subtrees made only of Term, Or and
  ConstantScoreQuery (``marked``). Those sum their matching children's scores in a fixed
  order, so a clause's score for a document is the same whether its postings were
  narrowed to some candidates (``topk.Narrowed``) or not, and a remembered result cut
  to the candidates is exactly what the narrowed evaluation gives;
- a clause's match mask in a segment is kept the first time it is computed (it costs
  nothing more); its scores over the whole segment - more than the top-k path computes
  for one query - only once a second query has used the clause (``scored``), so a word
  nobody searched for before costs what it did;
- deleted and hidden documents are in the remembered results as in the postings:
  every search masks them afterwards, as before;
- the results live in a byte-bounded LRU on the searcher (``SEARCH_CLAUSE_CACHE_MB``;
  0 switches this off) and go with it when the index changes and the store opens a new searcher.
"""

from __future__ import annotations

import itertools

import numpy as np
from whoosh import query as wq

from .lru import ByteLRU
from .matches import Sparse

CACHE_MB = 32  # default SEARCH_CLAUSE_CACHE_MB, per searcher; 0: nothing remembered
BYTES = CACHE_MB * 2**20  # set from the app's config by each search
_SCALARS = (str, bytes, int, float, bool, type(None))
_runs = itertools.count(1)


def shape(value):
    """A hashable description of a query tree: every attribute of every node, by class.
    Raises TypeError for anything it cannot describe exactly (then nothing is kept)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(shape(v) for v in value)
    if isinstance(value, wq.Query):
        attrs = tuple(sorted((k, shape(v)) for k, v in vars(value).items()))
        return (type(value).__module__, type(value).__qualname__, attrs)
    raise TypeError(f"cannot describe {type(value).__name__}")


def _children(q) -> list:
    t = type(q)
    if t in (wq.Or, wq.And):
        return list(q.subqueries)
    if t in (wq.AndMaybe, wq.AndNot):
        return [q.a, q.b]
    if t is wq.ConstantScoreQuery:
        return [q.child]
    return []


def _sums_in_order(q) -> bool:
    """Only Term, Or and ConstantScoreQuery below: the score is the same narrowed or not."""
    t = type(q)
    if t is wq.Term or q is wq.NullQuery:
        return True
    if t is wq.Or or t is wq.ConstantScoreQuery:
        return all(_sums_in_order(c) for c in _children(q))
    return False


def marked(q) -> dict[int, object]:
    """id(node) -> shape for the clauses of ``q`` worth remembering (see the module)."""
    found: dict[int, object] = {}

    def walk(node, top: bool) -> None:
        if type(node) is wq.Term or node is wq.NullQuery:
            return
        if _sums_in_order(node):
            found[id(node)] = shape(node)
            if top:
                for child in _children(node):
                    walk(child, False)
            return
        for child in _children(node):
            walk(child, top)

    if BYTES > 0:
        try:
            walk(q, True)
        except TypeError:
            return {}
    return found


class _Kept:
    """A clause's mask in a segment, and its matches' (ids, scores) once remembered (one
    attribute, set at once: threads share the searcher)."""

    __slots__ = ("mask", "scored", "runs", "last")

    def __init__(self, mask: np.ndarray):
        mask.flags.writeable = False
        self.mask = mask
        self.scored: tuple[np.ndarray, np.ndarray] | None = None
        self.runs = 0
        self.last = 0

    def nbytes(self) -> int:
        ids, scores = self.scored or (self.mask[:0], self.mask[:0])
        return self.mask.nbytes + ids.nbytes + scores.nbytes


class Clauses:
    """The clauses of one query (``marked``) and the searcher's remembered results."""

    def __init__(self, searcher, q):
        self.shapes = marked(q)
        self.run = next(_runs)
        self.kept: ByteLRU | None = None
        if self.shapes:
            self.kept = getattr(searcher, "_forum_clauses", None)
            if self.kept is None or self.kept.max_bytes != BYTES:
                self.kept = searcher._forum_clauses = ByteLRU(BYTES)

    def _get(self, seg, q) -> tuple[object, _Kept | None]:
        found = self.shapes.get(id(q))
        if found is None:
            return None, None
        key = (seg.key, found)
        kept = self.kept.get(key)
        if kept is not None and kept.last != self.run:
            kept.last = self.run
            kept.runs += 1
        return key, kept

    def mask(self, seg, q, compute) -> np.ndarray:
        """``compute()`` (the clause's match mask in ``seg``), remembered."""
        key, kept = self._get(seg, q)
        if key is None:
            return compute()
        if kept is None:
            kept = _Kept(compute())
            kept.runs, kept.last = 1, self.run
            self.kept.put(key, kept, kept.nbytes())
        return kept.mask

    def scored(self, seg, q, compute):
        """The clause's matches in ``seg`` (a segment, or one narrowed to candidates)
        with their scores: ``compute(segment)`` evaluates it; remembered over the whole
        segment once a second query uses the clause, and cut to the candidates."""
        whole = getattr(seg, "_seg", seg)
        key, kept = self._get(whole, q)
        if key is None or kept is None or (kept.scored is None and kept.runs < 2):
            return compute(seg)
        scored = kept.scored
        if scored is None:
            full = compute(whole)
            if isinstance(full, Sparse):  # its ids may be a cached postings list: a copy
                ids, scores = full.ids.copy(), full.scores.copy()
            else:
                ids = np.flatnonzero(full.mask)
                scores = full.scores[ids]
            ids.flags.writeable = scores.flags.writeable = False
            scored = (ids, scores)
            # (200: what ByteLRU.put adds for the key and bookkeeping)
            if kept.mask.nbytes + ids.nbytes + scores.nbytes + 200 <= self.kept.max_bytes:
                kept.scored = scored  # else used for this search only: it never fits
                self.kept.put(key, kept, kept.nbytes())
        ids, scores = scored
        if whole is seg:
            return Sparse(ids, scores)
        cand = seg.cand
        hit = cand[kept.mask[cand]]
        return Sparse(hit, scores[np.searchsorted(ids, hit)])
