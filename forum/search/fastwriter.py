"""Writing documents into a new whoosh segment fast (used by ``build`` for rebuilds).

``_SegmentBuilder`` adds documents to whoosh's own ``SegmentWriter``, but keeps the
postings in a ``pool.CompactPool`` (packed arrays instead of tuples) and writes them with
the field lengths read back from the just-written length column, and takes an analysed
text field's postings per word in one pass (``add_document``). The segment is the
one whoosh's writer makes (tests/integration/test_index_speed.py compares them).

Spelling words: whoosh writes one posting per distinct word *per document* into the
``spell_content`` field, though only the word list is read (``terms_within``). A writer
here gives each word once (the first document that uses it), which halves the postings
of a rebuild; the field's words are the same.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session
from whoosh.codec import whoosh3
from whoosh.formats import Positions
from whoosh.util.text import utf8encode
from whoosh.writing import SegmentWriter

from . import packs, postwriter
from .documents import load_threads, thread_documents
from .pool import CompactPool, field_postings
from .schema import Analysed, OnceAnalyzer

MAX_POSTINGS = 12_000_000  # per segment (about 500 MB in a CompactPool)


class _BuildWriter(SegmentWriter):
    """A segment writer whose final posting pass reads each document's field lengths
    from memory: whoosh reads them back from the just-written length column, one file
    seek and read per posting. The values are the same (``_Lengths``). The terms and
    postings files are written by ``postwriter`` (whoosh's bytes, without its per-term
    machinery) unless ``lean_postings`` is off."""

    lean_postings = True
    pack_min_docs: int | None = None  # see _SegmentBuilder

    def add_document(self, **fields):
        """whoosh's ``SegmentWriter.add_document`` (the same steps, in the same order),
        except that an ``Analysed`` value of a positions field goes to the pool in one
        call (``CompactPool.add_positions``): per word instead of per token and posting,
        most of a document's indexing time."""
        if not isinstance(self.pool, CompactPool):
            return super().add_document(**fields)
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        pool = self.pool
        add_post = pool.add
        memo = self.__dict__.setdefault("_indexed", {})  # see pool.field_postings
        docboost = self._doc_boost(fields)
        fieldnames = sorted(name for name in fields if not name.startswith("_"))
        self._check_fields(schema, fieldnames)
        vbytes = None  # as whoosh's loop variable: the spelling words get the last one
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    fieldboost = self._field_boost(fields, fieldname, docboost)
                    if (
                        isinstance(value, Analysed)
                        and isinstance(field.analyzer, OnceAnalyzer)
                        and type(field.format) is Positions
                    ):
                        boost = (field.format.field_boost, fieldboost)
                        count, last = pool.add_positions(fieldname, docnum, value, boost)
                        length = count if field.scorable else 0
                        vbytes = last if last is not None else vbytes
                    else:
                        scorable = field.scorable
                        for tbytes, freq, weight, vbytes in field_postings(
                            field, fieldname, value, memo
                        ):
                            weight *= fieldboost
                            if scorable:
                                length += freq
                            add_post((fieldname, tbytes, docnum, weight, vbytes))
                if field.separate_spelling():
                    spellfield = field.spelling_fieldname(fieldname)
                    for word in field.spellable_words(value):
                        add_post((spellfield, utf8encode(word)[0], 0, 1, vbytes))
                if field.vector:  # pragma: no cover - the forum's schema has no vectors
                    raise NotImplementedError("term vectors")
                customval = fields.get(f"_stored_{fieldname}", value)
                stored = customval if field.stored else None
                perdocwriter.add_field(fieldname, field, stored, length)
                column = field.column_type
                if column and customval is not None:
                    cv = field.to_column_value(customval)
                    perdocwriter.add_column_value(fieldname, column, cv)
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self):
        self.perdocwriter.close()
        pdr = self.per_document_reader()
        try:
            lean = self.lean_postings and postwriter.supported(self.fieldwriter)
            if isinstance(self.pool, CompactPool):
                write = postwriter.write_postings if lean else _write_postings
                write(self.fieldwriter, self.schema, _Lengths(pdr), self.pool)
                self._write_pack()
            else:
                postings = self.pool.iter_postings()
                self.fieldwriter.add_postings(self.schema, _Lengths(pdr), postings)
            self.fieldwriter.close()
        finally:
            pdr.close()

    def _write_pack(self) -> None:
        """The segment's postings pack from the pool, before whoosh's writer drops it:
        what ``segment.write_packs`` would write by decoding the segment's blocks back
        (``packs.pool_lists``), for a segment of ``pack_min_docs`` documents or more."""
        if self.pack_min_docs is None or self.docnum < self.pack_min_docs:
            return
        path = packs.pack_path(self.storage.folder, self.newsegment.segment_id())
        packs.write(path, self.docnum, packs.pool_lists(self.schema, self.pool.terms))


def _write_postings(fw, schema, lengths: _Lengths, pool: CompactPool) -> None:
    """whoosh's ``FieldWriter.add_postings`` for a CompactPool: the same calls in the same
    order, term by term from the pool's arrays instead of one tuple per posting."""
    lastfn = None
    column = None
    terms = pool.terms
    for key in sorted(terms):
        fieldname, btext = key
        docs, weights, buf, ends = terms[key]
        if fieldname != lastfn:
            if lastfn is not None:
                fw.finish_field()
            fw.start_field(fieldname, schema[fieldname])
            lastfn = fieldname
            column = lengths.column(fieldname)
        fw.start_term(btext)
        add = fw._postwriter.add_posting
        if buf is None:
            for i, docnum in enumerate(docs):
                add(docnum, weights[i], b"", column[docnum] if column is not None else 0)
        else:
            data = bytes(buf)
            start = 0
            for i, docnum in enumerate(docs):
                end = ends[i]
                add(
                    docnum,
                    weights[i],
                    data[start:end],
                    column[docnum] if column is not None else 0,
                )
                start = end
        fw.finish_term()
    if lastfn is not None:
        fw.finish_field()


class _Lengths:
    """``doc_field_length`` of a per-document reader, each length column read once."""

    def __init__(self, pdr):
        self.pdr = pdr
        self.columns: dict[str, list | None] = {}

    def doc_field_length(self, docnum, fieldname, default=0):
        column = self.column(fieldname)
        if column is None:
            return default
        return column[docnum]

    def column(self, fieldname) -> list | None:
        try:
            return self.columns[fieldname]
        except KeyError:
            column = self.columns[fieldname] = self._load(fieldname)
            return column

    def _load(self, fieldname):
        reader = self.pdr._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        if reader is None:
            return None
        # As W3PerDocReader.doc_field_length: a zero byte gives None.
        return [whoosh3.byte_to_length(b) if b else None for b in reader]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Automatic garbage collection off while a segment is built (``add_batch`` collects
    the young generations after each chunk instead). A pool holds a few tracked
    objects per term (its arrays), so each of the full collections that a growing
    heap sets off walked the whole pool again: about 40% of the builder's time for
    1,000 generated threads (1.35 -> 0.81 ms a thread adding documents)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _SegmentBuilder:
    """Adds documents to segments of an index without committing them (the caller
    commits the list). Starts a new segment past ``MAX_POSTINGS`` postings, so memory
    stays bounded whatever the forum's size; gives the spelling field each word once.
    With ``packs_from`` (a document count), each segment of that many documents or more
    gets its postings pack as it is written (``_BuildWriter._write_pack``)."""

    def __init__(self, ix, packs_from: int | None = None):
        self.ix = ix
        self.packs_from = packs_from
        self.segments: list = []
        self.spelled: set[str] = set()
        self.writer = None
        self.count = 0

    def _writer(self):
        if self.writer is None:
            self.writer = _BuildWriter(self.ix, _lk=False, compound=False)
            self.writer.pool = CompactPool()
            self.writer.pack_min_docs = self.packs_from
            self.spelled = set()  # each segment has its own spelling words
        return self.writer

    def add(self, doc: dict[str, Any]) -> None:
        writer = self._writer()
        content = doc.get("content")
        if content is not None and hasattr(content, "spell"):
            new = set(content.words) - self.spelled
            self.spelled |= new
            content.spell = new
        writer.add_document(**doc)
        self.count += 1
        if writer.pool.postings >= MAX_POSTINGS:
            self.finish_segment()

    def add_batch(self, session: Session, chunk: list[int]) -> None:
        threads = load_threads(session, chunk)
        visible = [threads[i] for i in chunk if i in threads and threads[i].is_visible]
        for doc in thread_documents(visible):
            self.add(doc)
        session.expunge_all()
        del threads, visible
        if not gc.isenabled():  # paused_gc(): the chunk's garbage cycles (ORM rows) go
            gc.collect(1)

    def finish_segment(self) -> None:
        # Not _finish()/cancel(): they delete the temporary folder every writer of this
        # index shares; the committing writer does that.
        if self.writer is not None:
            self.segments.append(self.writer._finalize_segment())
            self.writer = None

    def close(self) -> list:
        self.finish_segment()
        return self.segments
