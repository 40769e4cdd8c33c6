"""Scoring only the documents that can reach the page (``engine.run``'s top-k path).

A query's total and facet counts need every matching document, but not its score: the
match set is one boolean pass over the postings (``match``). Only the first ``k`` ranked
documents need scores, and with MaxScore most matches need none:

- every leaf that adds to a score (a term, a phrase, a constant-score filter) has an upper
  bound: BM25F grows with the term's weight and shrinks with the field's length, so the
  term's highest weight and shortest field (whoosh keeps both per term and segment) bound
  every posting's score; times the boosts on the way down the tree;
- a document's score is the sum of the leaves it matches (Or, And and AndMaybe add their
  children; AndNot adds its positive side only), so a document matched only by leaves
  whose bounds sum below the k-th best score ``theta`` cannot be in the top k;
- ``theta`` comes from the exact scores of a few documents: those matched by the
  highest-bound leaves (rare words: short lists) until there are ``k`` of them;
- the candidates are then the matches that have at least one "essential" leaf (the ones
  left after the low-bound ones, cheapest first, are set aside), and they are scored
  exactly, by the same evaluator on postings narrowed to the candidates (``Narrowed``),
  so the scores are the ones full evaluation gives.

A sorted search narrows by its sort key instead: only matches whose key reaches the k-th
largest can be on the page. The common words the forum's queries expand to have the
lowest bounds and the longest lists, so they are counted but rarely scored.
"""

from __future__ import annotations

import numpy as np
from whoosh import query as wq
from whoosh.reading import TermNotFound

from .matches import Dense
from .segment import Postings, Segment

enabled = True  # SEARCH_TOPK: False scores every match (the same results, slower)
_MARGIN = 1e-9  # relative slack on bounds against floating-point rounding
_PROBE_SHARE = 0.25  # give up pruning when theta needs lists over this share of a segment
_FEW = 4  # up to _FEW * k matches are all scored (pruning would not pay)


class Narrowed:
    """A segment whose term postings are cut to ``cand`` (ascending document numbers):
    evaluating a query on it scores exactly the candidates that match."""

    def __init__(self, seg: Segment, cand: np.ndarray):
        self._seg = seg
        self.cand = cand
        self.n = seg.n
        self.key = seg.key
        self.reader = seg.reader
        self._in_cand: np.ndarray | None = None

    def __getattr__(self, name):  # lengths, positions, pack ... as the segment has them
        return getattr(self._seg, name)

    def postings(self, fieldname: str, tbytes: bytes) -> Postings:
        post = self._seg.postings(fieldname, tbytes)
        n = len(post.ids)
        if not n:
            return post
        if len(self.cand) * max(1, n.bit_length()) < n:
            # Few candidates, a long list: a binary search per candidate.
            idx = np.searchsorted(post.ids, self.cand)
            idx[idx >= n] = n - 1
            at = idx[post.ids[idx] == self.cand]
        else:  # many candidates (pruning kept most matches): one look-up per posting
            if self._in_cand is None:
                self._in_cand = np.zeros(self.n, dtype=bool)
                self._in_cand[self.cand] = True
            at = np.flatnonzero(self._in_cand[post.ids])
        return Postings(post.ids[at], None if post.weights is None else post.weights[at])


# -- match sets without scores ------------------------------------------------------------


def visible_matches(ev, segs: list[Segment], q) -> np.ndarray:
    """Sorted global numbers of the visible documents of ``segs`` that ``q`` matches."""
    found = [np.flatnonzero(match(ev, s, q) & ~s.hidden()) + s.offset for s in segs if s.n]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def match(ev, seg: Segment, q) -> np.ndarray:
    """Boolean mask of the documents of ``seg`` that ``q`` matches (deleted included;
    a clause's mask is remembered on the searcher, read-only: ``clauses``)."""
    if ev.clauses is not None and id(q) in ev.clauses.shapes:
        return ev.clauses.mask(seg, q, lambda: _match(ev, seg, q))
    return _match(ev, seg, q)


def _match(ev, seg: Segment, q) -> np.ndarray:
    t = type(q)
    if q is wq.NullQuery:
        return np.zeros(seg.n, dtype=bool)
    if t is wq.Term:
        return _mask(seg.n, _term_ids(ev, seg, q))
    if t is wq.Or or t is wq.And:
        subs = q.subqueries
        if not subs:
            return np.zeros(seg.n, dtype=bool)
        if t is wq.Or and all(type(s) is wq.Term for s in subs):
            mask = np.zeros(seg.n, dtype=bool)
            for s in subs:
                mask[_term_ids(ev, seg, s)] = True
            return mask
        mask = match(ev, seg, subs[0])
        for s in subs[1:]:
            if t is wq.And and not mask.any():
                break
            other = match(ev, seg, s)
            mask = (mask | other) if t is wq.Or else (mask & other)
        return mask
    if t is wq.AndMaybe:
        return match(ev, seg, q.a)
    if t is wq.AndNot:
        a = match(ev, seg, q.a)
        return a & ~match(ev, seg, q.b) if a.any() else a
    if t is wq.ConstantScoreQuery:
        return match(ev, seg, q.child)
    if t is wq.Phrase:
        return _mask(seg.n, ev.phrase(seg, q).ids)
    raise TypeError(t.__name__)  # pragma: no cover - check() ran first


def _mask(n: int, ids: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[ids] = True
    return mask


def _term_ids(ev, seg: Segment, q: wq.Term) -> np.ndarray:
    tbytes = ev.term_bytes(q.fieldname, q.text)
    if tbytes is None:
        return np.zeros(0, dtype=np.int32)
    return seg.postings(q.fieldname, tbytes).ids


# -- bounds -------------------------------------------------------------------------------


def _leaves(ev, seg: Segment, q, boost: float, out: list) -> None:
    """(upper bound of the leaf's contribution, its documents as a mask getter) for every
    leaf of ``q`` that adds to a score."""
    t = type(q)
    if q is wq.NullQuery:
        return
    if t is wq.Term:
        bound = _term_bound(ev, seg, q.fieldname, q.text) * q.boost * boost
        out.append((bound, lambda: _term_ids(ev, seg, q)))
    elif t is wq.Or or t is wq.And:
        inner = boost if len(q.subqueries) == 1 else boost * q.boost
        for s in q.subqueries:
            _leaves(ev, seg, s, inner, out)
    elif t is wq.AndMaybe:
        _leaves(ev, seg, q.a, boost, out)
        _leaves(ev, seg, q.b, boost, out)
    elif t is wq.AndNot:
        _leaves(ev, seg, q.a, boost, out)
    elif t is wq.ConstantScoreQuery:
        out.append((float(q.score) * boost, lambda: np.flatnonzero(match(ev, seg, q.child))))
    elif t is wq.Phrase:
        words = sum(_term_bound(ev, seg, q.fieldname, w) for w in q.words)
        out.append((words * q.boost * boost, lambda: ev.phrase(seg, q).ids))


_BOUNDS_MAX = 50_000  # remembered bounds per searcher (a few MB at most)


def _term_bound(ev, seg: Segment, fieldname: str, text) -> float:
    """The highest BM25F a posting of the term can score in this segment: remembered on
    the searcher, a fixed snapshot whose statistics and segments never change (a common
    word's bound was read from the segment's term info by every search that used it)."""
    bounds = getattr(ev.searcher, "_forum_bounds", None)
    if bounds is None:
        bounds = ev.searcher._forum_bounds = {}
    key = (seg.key, fieldname, text)
    found = bounds.get(key)
    if found is None:
        if len(bounds) >= _BOUNDS_MAX:
            bounds.clear()
        found = bounds[key] = _read_bound(ev, seg, fieldname, text)
    return found


def _read_bound(ev, seg: Segment, fieldname: str, text) -> float:
    tbytes = ev.term_bytes(fieldname, text)
    if tbytes is None:
        return 0.0
    try:
        info = seg.reader.term_info(fieldname, tbytes)
    except (TermNotFound, KeyError):
        return 0.0
    weight = float(info.max_weight() or 0.0)
    scorable, idf, avgfl, b = ev._stats(fieldname, tbytes)
    if not scorable:
        return weight
    k1 = ev.weighting.K1
    if weight <= 0:
        return idf * (k1 + 1)  # BM25F's limit as the weight grows
    fl = float(info.min_length() or 0)
    return idf * ((weight * (k1 + 1)) / (weight + k1 * ((1 - b) + b * fl / avgfl)))


# -- candidates ---------------------------------------------------------------------------


def candidates(ev, seg: Segment, q, matched: np.ndarray, k: int) -> np.ndarray:
    """Ascending document numbers among ``matched`` (a mask of visible matches) that
    include every document scoring among the top ``k`` of this segment."""
    everything = np.flatnonzero(matched)
    if len(everything) <= _FEW * k:
        return everything
    leaves: list = []
    _leaves(ev, seg, q, 1.0, leaves)
    if not leaves:
        return everything
    leaves.sort(key=lambda leaf: -leaf[0])
    # theta: the k-th best exact score among matches of the highest-bound leaves.
    probe = np.zeros(seg.n, dtype=bool)
    taken = 0
    for _bound, ids_of in leaves:
        ids = ids_of()
        taken += len(ids)
        if taken > _PROBE_SHARE * seg.n:
            return everything
        probe[ids] = True
        probe &= matched
        if np.count_nonzero(probe) >= k:
            break
    else:
        return everything
    scores = exact(ev, seg, q, np.flatnonzero(probe))[1]
    theta = np.partition(scores, len(scores) - k)[len(scores) - k]
    # Set aside the lowest bounds while they sum below theta; the rest are essential.
    bounds = np.array([leaf[0] for leaf in leaves]) * (1 + _MARGIN)
    below = np.cumsum(bounds[::-1])  # lowest bound first
    aside = int(np.searchsorted(below, theta * (1 - _MARGIN), side="left"))
    essential = leaves[: len(leaves) - aside]
    if aside == 0:
        return everything
    keep = np.zeros(seg.n, dtype=bool)
    for _bound, ids_of in essential:
        keep[ids_of()] = True
    return np.flatnonzero(keep & matched)


def exact(ev, seg: Segment, q, cand: np.ndarray, whole: bool = False):
    """(ids, scores) of the candidates ``q`` matches, scored as full evaluation does.
    ``whole``: the candidates are every visible match, so the query runs on the segment
    itself instead of on narrowed postings."""
    if not len(cand):
        return cand, np.zeros(0)
    if whole:
        ids, scores = everything(ev, seg, q)
        return ids, scores
    m = ev.eval(Narrowed(seg, cand), q)
    if isinstance(m, Dense):
        ids = np.flatnonzero(m.mask)
        return ids, m.scores[ids]
    return m.ids, m.scores


def everything(ev, seg: Segment, q):
    """Every visible match of ``q`` in ``seg`` with its score."""
    m = ev.eval(seg, q)
    if isinstance(m, Dense):
        ids = np.flatnonzero(m.mask)
        s = m.scores[ids]
    else:
        ids, s = m.ids, m.scores
    keep = ~seg.hidden()[ids]
    return ids[keep], s[keep]


def by_key(keys: np.ndarray, matched: np.ndarray, k: int) -> np.ndarray:
    """Matches whose sort key reaches the k-th largest among them (ties kept)."""
    everything = np.flatnonzero(matched)
    if len(everything) <= k:
        return everything
    mine = keys[everything]
    kth = np.partition(mine, len(mine) - k)[len(mine) - k]
    return everything[mine >= kth]
