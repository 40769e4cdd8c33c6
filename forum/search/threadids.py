"""Which thread each document of a searcher is: a column of thread ids by document
number, read from the stored ids once per segment and kept in the process-wide cache.

It replaces whoosh's one-document look-ups where a search needs many at once: the
lexical hits' thread ids (stored fields, ~17 us each) and the semantic neighbours kept
by the person's filters (``searcher.document_number``, 80-270 us a thread at 100,000
threads: up to tens of milliseconds a filtered query). Reading the column costs about
3 us a document, once per segment and process (~300 ms at 100,000 threads; a merged
segment is read again).

The column is derived from the segment itself, so it cannot disagree with the index:
a segment never changes its documents. Deleted documents keep their thread id here
(an edited thread has an old, deleted document and a new one), so the column never
depends on which deletions a reader sees; callers map document numbers that are already
visible matches.
"""

from __future__ import annotations

import numpy as np

from .lru import cache
from .segment import Segment

NO_THREAD = -1  # the meta document (or a document without a numeric id)


def column(segs: list[Segment]) -> np.ndarray:
    """int64 thread id of every document number of the searcher ``segs`` come from."""
    total = max((seg.offset + seg.n for seg in segs), default=0)
    out = np.full(total, NO_THREAD, np.int64)
    for seg in segs:
        out[seg.offset : seg.offset + seg.n] = segment_column(seg)
    return out


def segment_column(seg: Segment) -> np.ndarray:
    """int64 thread id of every document of one segment (read-only, cached)."""
    key = ("t", seg.key)
    found = cache.get(key)
    if found is None:
        found = _read(seg)
        found.setflags(write=False)
        cache.put(key, found, found.nbytes)
    return found


def _read(seg: Segment) -> np.ndarray:
    out = np.full(seg.n, NO_THREAD, np.int64)
    perdoc = seg.reader._perdoc  # deleted documents too (see the module's docstring)
    for docnum in range(seg.n):
        value = (perdoc.stored_fields(docnum) or {}).get("id")
        if isinstance(value, str) and value.isdigit():
            out[docnum] = int(value)
    return out


def thread_ids(col: np.ndarray, docnums) -> list[int | None]:
    """The thread id of each document number (None for one that is no thread's)."""
    found = col[np.asarray(docnums, np.int64)] if len(docnums) else col[:0]
    return [None if t == NO_THREAD else int(t) for t in found.tolist()]


def documents_of(searcher, ids: list[int]) -> list[int] | None:
    """The live document numbers of ``searcher`` that belong to threads ``ids``: what
    a ``Term("id", str(i))`` lookup per id finds, from each segment's column at once. A
    term lookup costs ~5 us per id and segment, so an import's commit of thousands of
    threads spent a noticeable share of its time looking for documents that a first
    import never has. None when the searcher has a reader of another kind."""
    from whoosh.reading import EmptyReader, SegmentReader

    reader = searcher.reader()
    if isinstance(reader, EmptyReader) or not ids:
        return []
    leaves = [(reader, 0)] if isinstance(reader, SegmentReader) else reader.leaf_readers()
    if any(type(leaf) is not SegmentReader or leaf.is_closed for leaf, _ in leaves):
        return None
    wanted = np.unique(np.asarray(ids, np.int64))
    found: list[int] = []
    for leaf, offset in leaves:
        col = segment_column(Segment(leaf, offset))
        hits = np.flatnonzero(np.isin(col, wanted)).tolist()
        found.extend(offset + d for d in hits if not leaf.is_deleted(d))
    return found
