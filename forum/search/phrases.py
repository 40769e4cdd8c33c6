"""Phrases: the documents of a segment whose words sit at consecutive positions.

Candidates are the documents that have every word (an intersection of sorted arrays,
shortest list first); positions are read for the candidates still alive, word by word
(``Segment.positions``: from the postings pack where the segment has one, else decoded
from whoosh's blocks), as (candidate, start position) keys. The result is cached per
segment, so a repeated phrase costs an array lookup.
"""

from __future__ import annotations

import numpy as np

from .lru import cache
from .matches import _NONE, Sparse
from .segment import Postings

_POS_SPAN = 1 << 32  # phrase keys: candidate index * _POS_SPAN + start position (+ offset)


def evaluate(ev, seg, q):
    """The documents of ``seg`` (or of its candidates, on ``topk.Narrowed``) where the
    phrase ``q`` occurs, scored as whoosh scores a phrase: the sum of its words' BM25F."""
    fieldname = q.fieldname
    words = []
    for word in q.words:
        tbytes = ev.term_bytes(fieldname, word)
        if tbytes is None or (fieldname, tbytes) not in seg.reader:
            return _NONE
        words.append(tbytes)
    narrowed = getattr(seg, "cand", None)  # topk.Narrowed: phrase on the whole segment
    seg = getattr(seg, "_seg", seg)
    if (
        len(words) > 1
        and cache.get(("ph", seg.key, fieldname, tuple(words))) is None
        and not all(seg.packed_positions(fieldname, w) for w in words)
    ):
        posts = [seg.postings_and_values(fieldname, w)[0] for w in words]  # one pass
    else:
        posts = [seg.postings(fieldname, w) for w in words]
    matched = consecutive(seg, fieldname, words, posts)
    if narrowed is not None:
        matched = np.intersect1d(matched, narrowed, assume_unique=True)
    if not len(matched):
        return _NONE
    total = np.zeros(len(matched), dtype=np.float64)
    for w, post in zip(words, posts, strict=True):
        at = np.searchsorted(post.ids, matched)
        weights = None if post.weights is None else post.weights[at]
        total += ev.term_scores(seg, fieldname, w, Postings(post.ids[at], weights))
    if q.boost != 1.0:
        total = total * q.boost
    return Sparse(matched, total)


def consecutive(seg, fieldname: str, words, posts) -> np.ndarray:
    """Documents (deleted ones included) with the words at consecutive positions:
    whoosh's SpanNear2(slop=1, ordered, mindist=1) chain, word k at p + k."""
    if len(words) == 1:
        return posts[0].ids
    key = ("ph", seg.key, fieldname, tuple(words))
    found = cache.get(key)
    if found is not None:
        return found
    shortest_first = sorted(posts, key=lambda p: len(p.ids))
    cand = shortest_first[0].ids
    for post in shortest_first[1:]:
        cand = cand[_within(cand, post.ids)]
        if not len(cand):
            break
    if len(cand):
        # (candidate, start position) pairs as one int64 key, narrowed word by word;
        # each word's positions are read only for the candidates still alive.
        alive = np.arange(len(cand), dtype=np.int64)
        starts = None
        for k, (w, post) in enumerate(zip(words, posts, strict=True)):
            at = np.searchsorted(post.ids, cand[alive])
            owner, pos = seg.positions(fieldname, w, at)
            keys = alive[owner] * _POS_SPAN + (pos - k)
            if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
                keys = np.unique(keys)  # positions decoded out of order
            starts = keys if starts is None else starts[_within(starts, keys)]
            if not len(starts):
                break
            alive = _distinct(starts // _POS_SPAN)
        cand = cand[alive if len(starts) else alive[:0]].astype(np.int32)
    cache.put(key, cand, cand.nbytes + 64 * len(words))
    return cand


def _within(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of the elements of ``a`` that are in ``b`` (both ascending, unique)."""
    if not len(b):
        return np.zeros(len(a), dtype=bool)
    idx = np.searchsorted(b, a)
    idx[idx >= len(b)] = len(b) - 1
    return b[idx] == a


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array."""
    if len(sorted_values) < 2:
        return sorted_values
    keep = np.empty(len(sorted_values), dtype=bool)
    keep[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=keep[1:])
    return sorted_values[keep]
