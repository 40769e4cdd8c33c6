"""A vectorised evaluator for the forum's whoosh queries: same matches, same scores.

Whoosh scores every matching posting in pure Python through a tree of matcher
objects, so a broad query (synonym expansion ORs dozens of terms) costs time in
proportion to its matches, twice over: once to rank, once to count and facet. This
module evaluates the query trees that ``query.build`` and ``service`` produce (Term,
Or, And, AndMaybe, AndNot, ConstantScoreQuery, NullQuery, Phrase) with numpy arrays
instead, one segment (leaf reader) at a time:

- A term's postings in a segment are decoded once, block by block through whoosh's
  own codec (``whoosh.codec.whoosh3``: one zlib + unpickle per block of 128), into
  arrays of document numbers and weights. Per-document field lengths come from the
  segment's length column in one read, sort keys from the sortable columns likewise.
  Segments never change apart from deletions, so these arrays are kept in a
  byte-bounded LRU shared by the process (``lru.CACHE_BYTES``) keyed by index directory
  and segment id; a merge or rebuild makes new segments and old keys just age out.
- Deletions are never cached: every search masks the segment's deleted set (as of
  the searcher's reader), and the meta document (id ``__meta__``) is never a result.
- Scores reproduce ``whoosh.scoring.BM25F`` exactly: idf and average field length
  from the whole searcher (``searcher.idf``, ``searcher.avg_field_length``), the
  byte-encoded field length of each document, term boosts; Or sums the children that
  match, And sums all, AndMaybe adds the optional part where it matches, AndNot keeps
  the positive side's score, ConstantScoreQuery gives its constant, a compound's
  boost multiplies (except on a single child, which whoosh passes through), and a
  field that is not scorable scores its weight. A test compares ids and scores with
  ``searcher.search`` on a real index. (With ``limit=None``: whoosh's top-N collector
  swaps in cheaper matchers as its score threshold rises and, for And(...,
  ConstantScoreQuery) trees such as a filtered search, skipped documents that belong
  in the top N; the ranking here is the exhaustive one.)
- Long posting lists are read without unpickling their values (``parse_blocks``);
  misspelled words find candidates in cached per-segment word tables
  (``terms_within``).
- Phrases: candidates are the documents that have every word (an intersection of
  arrays); positions are read for those candidates only (from the segment's postings
  pack where it has them, else decoded from whoosh's blocks), and the documents whose
  words sit at consecutive positions (whoosh's ``SpanNear2`` with slop 1) are cached
  per segment, so a repeated phrase costs an array lookup.
- The total is the exact number of matching visible documents, and facet counts come
  from the keyword fields' postings: one ``bincount`` over the matches per segment.
- A searcher is a snapshot that never changes, so each outcome is remembered on the
  searcher that produced it (``RUNS_PER_SEARCHER`` per searcher, keyed by the query's
  whole structure, the page and the sort): the same search again - another member, a
  reload - costs a dictionary lookup until the index changes, when the store opens a new
  searcher and the old outcomes go with the old one.
- Only documents that can reach the page are scored (``topk``: MaxScore over per-term
  upper bounds, or the sort key's k-th value); the others are only counted.
  ``SEARCH_TOPK = False`` scores every match (the same results, for comparison).
- A query's clauses (one word's expansion, a tag at a constant score) are remembered
  per searcher segment by segment (``clauses``): their match masks, and their scores
  once a second query uses them, so "rash nausea" after "nausea liver" reads nausea's.

Anything else (another query type, another weighting model or codec) raises
``Unsupported`` before any work, and the caller falls back to whoosh itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from whoosh import query as wq
from whoosh.reading import SegmentReader
from whoosh.scoring import BM25F
from whoosh.util.numeric import byte_to_length

from . import clauses, packs, phrases, topk
from .clauses import shape
from .lru import cache, configure
from .matches import _NONE, Dense, Sparse, _dense, _lookup, _scale, _size
from .segment import Postings, Segment, Unsupported

__all__ = ["Outcome", "Unsupported", "cache", "check", "configure", "run", "segments"]

_LENGTHS = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)


# -- evaluation ------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, searcher):
        weighting = searcher.weighting
        if type(weighting) is not BM25F or weighting.use_final:
            raise Unsupported(f"weighting {type(weighting).__name__}")
        self.searcher = searcher
        self.schema = searcher.schema
        self.weighting = weighting
        self._term_stats: dict[tuple[str, bytes], tuple] = {}
        self.clauses: clauses.Clauses | None = None  # set by ``_run``: remembered clauses

    # Checking before any work -------------------------------------------------------

    def check(self, q) -> None:
        t = type(q)
        if q is wq.NullQuery:
            return
        if t is wq.Term:
            if q.minquality:
                raise Unsupported("Term with minquality")
            return
        if t in (wq.Or, wq.And):
            if t is wq.Or and q.scale:
                raise Unsupported("Or with a coordination scale")
            for sub in q.subqueries:
                self.check(sub)
            return
        if t in (wq.AndMaybe, wq.AndNot):
            self.check(q.a)
            self.check(q.b)
            return
        if t is wq.ConstantScoreQuery:
            self.check(q.child)
            return
        if t is wq.Phrase:
            if q.slop != 1 or not q.words or q.fieldname not in self.schema:
                raise Unsupported("Phrase with slop or without words")
            fmt = self.schema[q.fieldname].format
            if not fmt or not fmt.supports("positions"):
                raise Unsupported("Phrase on a field without positions")
            return
        raise Unsupported(t.__name__)

    # Terms ---------------------------------------------------------------------------

    def _stats(self, fieldname: str, tbytes: bytes):
        key = (fieldname, tbytes)
        found = self._term_stats.get(key)
        if found is None:
            fieldobj = self.schema[fieldname]
            if not fieldobj.scorable:
                found = (False, 0.0, 0.0, 0.0)
            else:
                s = self.searcher
                idf = s.idf(fieldname, tbytes)
                avgfl = s.avg_field_length(fieldname) or 1
                b = self.weighting._field_B.get(fieldname, self.weighting.B)
                found = (True, idf, avgfl, b)
            self._term_stats[key] = found
        return found

    def term_bytes(self, fieldname: str, text) -> bytes | None:
        if fieldname not in self.schema:
            return None
        try:
            return self.schema[fieldname].to_bytes(text)
        except ValueError:
            return None

    def term_scores(self, seg: Segment, fieldname: str, tbytes: bytes, post: Postings):
        """BM25F of each posting, with the same float operations as whoosh.scoring."""
        scorable, idf, avgfl, b = self._stats(fieldname, tbytes)
        if post.weights is None:
            tf = np.ones(len(post.ids), dtype=np.float64)
        else:
            tf = post.weights.astype(np.float64)
        if not scorable:
            return tf
        k1 = self.weighting.K1
        fl = _LENGTHS[seg.lengths(fieldname)[post.ids]]
        return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * fl / avgfl)))

    def term(self, seg: Segment, q: wq.Term):
        tbytes = self.term_bytes(q.fieldname, q.text)
        if tbytes is None:
            return _NONE
        post = seg.postings(q.fieldname, tbytes)
        if not len(post.ids):
            return _NONE
        scores = self.term_scores(seg, q.fieldname, tbytes, post)
        if q.boost != 1.0:
            scores = scores * q.boost
        return Sparse(post.ids, scores)

    # Compounds -----------------------------------------------------------------------

    def eval(self, seg: Segment, q):
        if self.clauses is not None and id(q) in self.clauses.shapes:
            return self.clauses.scored(seg, q, lambda s: self._eval(s, q))
        return self._eval(seg, q)

    def _eval(self, seg: Segment, q):
        t = type(q)
        if q is wq.NullQuery:
            return _NONE
        if t is wq.Term:
            return self.term(seg, q)
        if t is wq.Or or t is wq.And:
            subs = q.subqueries
            if not subs:
                return _NONE
            if len(subs) == 1:  # whoosh uses the child's matcher as it is (no boost)
                return self.eval(seg, subs[0])
            if t is wq.Or:
                result = self._or(seg, [self.eval(seg, s) for s in subs])
            else:
                result = self._and(seg, subs)
            return _scale(result, q.boost)
        if t is wq.AndMaybe:
            return self._and_maybe(seg, self.eval(seg, q.a), q.b)
        if t is wq.AndNot:
            a = self.eval(seg, q.a)
            if not _size(a):
                return _NONE
            return self._and_not(seg, a, self.eval(seg, q.b))
        if t is wq.ConstantScoreQuery:
            child = self.eval(seg, q.child)
            if isinstance(child, Sparse):
                return Sparse(child.ids, np.full(len(child.ids), float(q.score)))
            return Dense(child.mask, np.where(child.mask, float(q.score), 0.0))
        if t is wq.Phrase:
            return self.phrase(seg, q)
        raise Unsupported(t.__name__)  # pragma: no cover - check() ran first

    def _or(self, seg: Segment, parts):
        parts = [p for p in parts if _size(p)]
        if not parts:
            return _NONE
        if len(parts) == 1:
            return parts[0]
        mask = np.zeros(seg.n, dtype=bool)
        scores = np.zeros(seg.n, dtype=np.float64)
        for p in parts:
            if isinstance(p, Sparse):
                scores[p.ids] += p.scores  # ids are unique within a part
                mask[p.ids] = True
            else:
                scores += p.scores
                mask |= p.mask
        return Dense(mask, scores)

    def _and(self, seg: Segment, subs):
        parts = []
        for s in subs:
            part = self.eval(seg, s)
            if not _size(part):
                return _NONE
            parts.append(part)
        sparse = [p for p in parts if isinstance(p, Sparse)]
        if not sparse:
            mask = parts[0].mask.copy()
            scores = parts[0].scores.copy()
            for p in parts[1:]:
                mask &= p.mask
                scores += p.scores
            scores[~mask] = 0.0
            return Dense(mask, scores)
        driver = min(sparse, key=lambda p: len(p.ids))
        ids, scores = driver.ids, driver.scores
        for p in parts:
            if p is driver:
                continue
            present, more = _lookup(p, ids)
            ids, scores = ids[present], scores[present] + more[present]
        return Sparse(ids, scores)

    def _and_maybe(self, seg: Segment, a, b_query):
        if not _size(a):
            return _NONE
        b = self.eval(seg, b_query)
        if not _size(b):
            return a
        if isinstance(a, Sparse):
            _present, more = _lookup(b, a.ids)
            return Sparse(a.ids, a.scores + more)
        b = _dense(b, seg.n)
        return Dense(a.mask, a.scores + np.where(a.mask, b.scores, 0.0))

    def _and_not(self, seg: Segment, a, b):
        if not _size(b):
            return a
        if isinstance(a, Sparse):
            present, _more = _lookup(b, a.ids)
            keep = ~present
            return Sparse(a.ids[keep], a.scores[keep])
        b = _dense(b, seg.n)
        mask = a.mask & ~b.mask
        return Dense(mask, np.where(mask, a.scores, 0.0))

    # Phrases -------------------------------------------------------------------------

    def phrase(self, seg: Segment, q: wq.Phrase):
        return phrases.evaluate(self, seg, q)


# -- running a search ------------------------------------------------------------------


@dataclass
class Outcome:
    total: int = 0
    hits: list[tuple[int, float]] = field(default_factory=list)  # (global docnum, score)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> value -> n


def segments(searcher) -> list[Segment]:
    reader = searcher.reader()
    if isinstance(reader, SegmentReader):
        leaves = [(reader, 0)]
    else:
        leaves = reader.leaf_readers()
    found = []
    for leaf, offset in leaves:
        if type(leaf) is not SegmentReader or leaf.is_closed:
            raise Unsupported(f"reader {type(leaf).__name__}")
        found.append(Segment(leaf, offset))
    return found


def check(searcher, q) -> _Evaluator:
    """Raise Unsupported when ``run`` would not reproduce whoosh for this query; else
    an evaluator for it (``topk.visible_matches`` takes one)."""
    (ev := _Evaluator(searcher)).check(q)
    return ev


RUNS_PER_SEARCHER = 64
RUN_HITS_KEPT = 500  # a deeper page's outcome is not kept (bounds the memory: ~64 x 500 hits)
_runs_lock = threading.Lock()


def _copy(out: Outcome) -> Outcome:
    return Outcome(out.total, list(out.hits), {f: dict(v) for f, v in out.facets.items()})


def run(
    searcher,
    q,
    *,
    limit: int,
    start: int = 0,
    sortedby: str | None = None,
    facet_fields: tuple[str, ...] = (),
) -> Outcome:
    """Hits ``start:limit`` (global docnum, score), the exact total, and facet counts.

    Relevance order is score descending, then document number (as whoosh's top
    collector). With ``sortedby`` (a sortable numeric column) the order is that key
    descending, then score, then document number descending. Remembered per searcher
    (see the module's docstring); the caller gets its own copy.
    """
    try:
        key = (shape(q), limit, start, sortedby, tuple(facet_fields), topk.enabled, packs.enabled)
    except TypeError:
        return _run(searcher, q, limit, start, sortedby, facet_fields)
    with _runs_lock:
        runs = getattr(searcher, "_forum_runs", None)
        if runs is None:
            runs = searcher._forum_runs = OrderedDict()
        found = runs.get(key)
        if found is not None:
            runs.move_to_end(key)
            return _copy(found)
    out = _run(searcher, q, limit, start, sortedby, facet_fields)
    if len(out.hits) > RUN_HITS_KEPT:
        return out
    with _runs_lock:
        runs[key] = _copy(out)
        while len(runs) > RUNS_PER_SEARCHER:
            runs.popitem(last=False)
    return out


def _run(searcher, q, limit, start, sortedby, facet_fields) -> Outcome:
    ev = _Evaluator(searcher)
    ev.check(q)
    ev.clauses = clauses.Clauses(searcher, q)
    out = Outcome(facets={f: {} for f in facet_fields})
    gids, scores, keys = [], [], []
    counts: dict[tuple[str, str], int] = {}
    for seg in segments(searcher):
        if not seg.n:
            continue
        if topk.enabled:  # count every match, score only those that can reach the page
            matched = topk.match(ev, seg, q) & ~seg.hidden()
            ids = np.flatnonzero(matched)
        else:
            ids, s = topk.everything(ev, seg, q)
        if not len(ids):
            continue
        out.total += len(ids)
        if facet_fields:
            seg.count_facets(tuple(facet_fields), ids, counts)
        if limit <= start:
            continue
        if topk.enabled:
            if sortedby:
                cand = topk.by_key(seg.sort_keys(sortedby), matched, limit)
            else:
                cand = topk.candidates(ev, seg, q, matched, limit)
            ids, s = topk.exact(ev, seg, q, cand, whole=len(cand) == len(ids))
        gids.append(ids.astype(np.int64) + seg.offset)
        scores.append(s)
        if sortedby:
            keys.append(seg.sort_keys(sortedby)[ids])
    for (fieldname, value), n in counts.items():
        out.facets[fieldname][value] = n
    if not gids or limit <= start:
        return out
    g = np.concatenate(gids)
    s = np.concatenate(scores)
    if sortedby:
        k = np.concatenate(keys)
        order = np.lexsort((g, s, k))[::-1][:limit]
    else:
        if len(g) > 2 * limit:
            # Keep everything scoring at least the limit-th best (ties included).
            threshold = np.partition(s, len(s) - limit)[len(s) - limit]
            near = np.flatnonzero(s >= threshold)
            g_near, s_near = g[near], s[near]
            order = near[np.lexsort((g_near, -s_near))[:limit]]
        else:
            order = np.lexsort((g, -s))[:limit]
    order = order[start:]
    out.hits = list(zip(g[order].tolist(), s[order].tolist(), strict=True))
    return out
