"""Filling a fresh index generation from the database (``sync.rebuild``), fast.

Where a rebuild's time goes, per thread: reading its rows, building the document (the
text analysed once, see ``analysis``), and whoosh turning documents into postings and
writing the segment. All of it is CPU work in Python, so a large rebuild runs in
``procs`` worker processes (forked: they share the app, its configuration and signal
receivers), each reading its own batches of thread ids and writing its own segment;
this process hands out the batches, reports progress, and commits one table of contents
listing every worker's segment (whoosh's "multisegment" build, with the document
building parallel too). Below ``SEARCH_REBUILD_PARALLEL_MIN`` threads one process is
faster than starting workers.

Failure leaves nothing behind: a worker that fails or dies fails the rebuild (the
unpublished generation is removed by the next one), and workers die with this process
(``PR_SET_PDEATHSIG`` on Linux, else they notice their parent is gone between batches),
so a killed rebuild releases the rebuild lock they inherited.

Measured on the shared 2-core machine (bench/index_speed.py, load 4-5 from other work):
10,085 threads in 67 s wall / 52 s CPU with 2 workers (before this module: 340 s / 263 s
in one process); 30,000 threads of bench/out/forum-100000 in 167 s / 149 s CPU, 534 MB
peak per worker. About 5 ms of CPU per thread, so 100,000 threads need ~500 s of CPU:
~4-5 min on two idle cores (an extrapolation).

Spelling words: whoosh writes one posting per distinct word *per document* into the
``spell_content`` field, though only the word list is read (``terms_within``). A writer
here gives each word once (the first document that uses it), which halves the postings
of a rebuild; the field's words are the same.
"""

from __future__ import annotations

import os
import queue
import signal
import traceback
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, selectinload
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.writing import SegmentWriter

from ..extensions import db
from ..models import Post, Thread
from .documents import thread_documents

CHUNK = 250  # threads per batch handed to a worker
MAX_POSTINGS = 12_000_000  # per segment (about 500 MB in a CompactPool)
PARALLEL_MIN = 2000  # default for SEARCH_REBUILD_PARALLEL_MIN
POST_COLUMNS = (
    Post.id,
    Post.thread_id,
    Post.is_question,
    Post.body_html,
    Post.is_hidden,
    Post.is_deleted,
)


def default_procs() -> int:
    """Worker processes for a large rebuild: 2 when the machine has two cores or more."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def procs_for(count: int, procs: int | None) -> int:
    """``procs`` as asked, or (None) the default for a rebuild of ``count`` threads."""
    if procs is not None:
        return max(1, int(procs))
    minimum = int(current_app.config.get("SEARCH_REBUILD_PARALLEL_MIN", PARALLEL_MIN))
    return default_procs() if count >= minimum else 1


def load_threads(session: Session, ids: Iterable[int]) -> dict[int, Thread]:
    """Threads with their tags and posts, posts with only the columns a document needs
    (other attributes still load on access)."""
    ids = list(ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Thread)
        .where(Thread.id.in_(ids))
        .options(
            selectinload(Thread.posts).options(load_only(*POST_COLUMNS)),
            selectinload(Thread.tags),
        )
    )
    return {t.id: t for t in rows}


class CompactPool:
    """Stands in for whoosh's ``PostingPool`` in a build writer: postings kept in memory
    per term, in compact arrays, instead of one tuple each in a list that is sorted at
    the end and, past ``limitmb``, pickled to disk and merged back (which is most of a
    large rebuild's posting work). Documents arrive in number order, so each term's
    postings are already sorted; only the terms are sorted when the segment is written.
    Yields exactly what ``PostingPool`` yields (tests/integration/test_index_speed.py)."""

    def __init__(self) -> None:
        # (fieldname, term bytes) -> [docnums, weights, value bytes, value ends] (the
        # last two None for postings without a value, as whoosh's spelling words are)
        self.terms: dict[tuple[str, bytes], list] = {}
        self.fieldnames: set[str] = set()
        self.postings = 0

    def add(self, item) -> None:
        fieldname, btext, docnum, weight, value = item
        key = (fieldname, btext)
        entry = self.terms.get(key)
        if entry is None:
            has_value = value is not None
            entry = self.terms[key] = [
                array("i"),
                array("d"),
                bytearray() if has_value else None,
                array("I") if has_value else None,
            ]
            self.fieldnames.add(fieldname)
        entry[0].append(docnum)
        entry[1].append(weight)
        if entry[2] is not None:
            entry[2] += value
            entry[3].append(len(entry[2]))
        elif value is not None:  # pragma: no cover - a field's postings all have values or none
            raise ValueError(f"mixed posting values for {key!r}")
        self.postings += 1

    def iter_postings(self):
        terms = self.terms
        for key in sorted(terms):
            fieldname, btext = key
            docs, weights, buf, ends = terms[key]
            if buf is None:
                for i in range(len(docs)):
                    yield fieldname, btext, docs[i], weights[i], None
            else:
                data = bytes(buf)
                start = 0
                for i in range(len(docs)):
                    end = ends[i]
                    yield fieldname, btext, docs[i], weights[i], data[start:end]
                    start = end

    def cleanup(self) -> None:
        self.terms = {}


class _BuildWriter(SegmentWriter):
    """A segment writer whose final posting pass reads each document's field lengths
    from memory: whoosh reads them back from the just-written length column, one file
    seek and read per posting. The values are the same (``_Lengths``)."""

    def _flush_segment(self):
        self.perdocwriter.close()
        pdr = self.per_document_reader()
        try:
            if isinstance(self.pool, CompactPool):
                _write_postings(self.fieldwriter, self.schema, _Lengths(pdr), self.pool)
            else:
                postings = self.pool.iter_postings()
                self.fieldwriter.add_postings(self.schema, _Lengths(pdr), postings)
            self.fieldwriter.close()
        finally:
            pdr.close()


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


class _SegmentBuilder:
    """Adds documents to segments of an index without committing them (the caller
    commits the list). Starts a new segment past ``MAX_POSTINGS`` postings, so memory
    stays bounded whatever the forum's size; gives the spelling field each word once."""

    def __init__(self, ix):
        self.ix = ix
        self.segments: list = []
        self.spelled: set[str] = set()
        self.writer = None
        self.count = 0

    def _writer(self):
        if self.writer is None:
            self.writer = _BuildWriter(self.ix, _lk=False, compound=False)
            self.writer.pool = CompactPool()
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

    def finish_segment(self) -> None:
        # Not _finish()/cancel(): they delete the temporary folder every writer of this
        # index shares; the committing writer does that.
        if self.writer is not None:
            self.segments.append(self.writer._finalize_segment())
            self.writer = None

    def close(self) -> list:
        self.finish_segment()
        return self.segments


def fill(
    ix,
    ids: list[int],
    meta_doc: dict[str, Any],
    progress: Callable[[int, int], None] | None,
    procs: int,
) -> None:
    """Index the threads ``ids`` (visible ones) and ``meta_doc`` into the empty index
    ``ix``, in one commit."""
    writer = ix.writer(compound=False)  # holds the lock; commits every builder's segments
    try:
        if procs > 1 and len(ids) > CHUNK:
            segments = _fill_parallel(ix, ids, meta_doc, progress, procs)
        else:
            segments = _fill_here(ix, ids, meta_doc, progress)
        writer.commit(mergetype=lambda _writer, existing: list(existing) + segments)
    except BaseException:
        writer.cancel()
        raise


def _fill_here(ix, ids, meta_doc, progress) -> list:
    builder = _SegmentBuilder(ix)
    with Session(db.engine) as session:
        for start in range(0, len(ids), CHUNK):
            builder.add_batch(session, ids[start : start + CHUNK])
            if progress:
                progress(min(start + CHUNK, len(ids)), len(ids))
    builder.add(meta_doc)
    return builder.close()


# -- workers --------------------------------------------------------------------------


def _fill_parallel(ix, ids, meta_doc, progress, procs) -> list:
    app = current_app._get_current_object()
    path = ix.storage.folder
    workers, jobs, results = _start_workers(
        ids,
        procs,
        "search-build",
        _worker,
        lambda n, jobs, results, parent: (
            app,
            path,
            ix.indexname,
            jobs,
            results,
            parent,
            meta_doc if n == 0 else None,
        ),
    )
    segments: list = []
    done = 0
    try:
        for kind, value in _messages(workers, results, "segments", "index"):
            if kind == "progress":
                done += value
                if progress:
                    progress(min(done, len(ids)), len(ids))
            else:  # "segments": a worker's last message
                segments.extend(value)
        return segments
    finally:
        _stop(workers, jobs, results)


def _start_workers(ids, procs, name, target, make_args):
    """Fork ``procs`` workers that take chunks of ``ids`` from a jobs queue (``None``
    ends one) and answer on a results queue; ``make_args(n, jobs, results, parent)``
    gives worker n's arguments. Returns (workers, jobs, results)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    jobs = ctx.Queue()
    results = ctx.Queue()
    for start in range(0, len(ids), CHUNK):
        jobs.put(ids[start : start + CHUNK])
    for _ in range(procs):
        jobs.put(None)
    parent = os.getpid()
    workers = [
        ctx.Process(
            target=target,
            args=make_args(n, jobs, results, parent),
            name=f"{name}-{n}",
            daemon=True,
        )
        for n in range(procs)
    ]
    for w in workers:
        w.start()
    return workers, jobs, results


def _messages(workers, results, last: str, what: str):
    """Messages from the workers until each has sent ``last`` (which is yielded too);
    a worker that died or reported an error raises RuntimeError."""
    finished = 0
    while finished < len(workers):
        try:
            kind, value = results.get(timeout=1.0)
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"search {what} worker {dead[0].name} died (exit code {dead[0].exitcode})"
                ) from None
            continue
        if kind == "error":
            raise RuntimeError(f"search {what} worker failed:\n{value}")
        if kind == last:
            finished += 1
        yield kind, value
    for w in workers:
        w.join(30)


def _stop(workers, jobs, results) -> None:
    """Kill workers still running (the caller failed), and close the queues."""
    for w in workers:
        if w.is_alive():
            w.kill()
            w.join(5)
    jobs.close()
    results.close()


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the parent dies
    except Exception:  # noqa: S110 - not Linux: the worker checks between batches
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker(app, path, indexname, jobs, results, parent, meta_doc) -> None:
    """One worker: index batches of ids from ``jobs`` into a segment of its own."""
    _die_with_parent(parent)
    try:
        db.engine.dispose(close=False)  # the parent's pooled connections stay its own
        with app.app_context():
            ix = whoosh_index.open_dir(path, indexname=indexname)
            builder = _SegmentBuilder(ix)
            with Session(db.engine) as session:
                while True:
                    chunk = jobs.get()
                    if chunk is None:
                        break
                    if os.getppid() != parent:
                        os._exit(1)
                    builder.add_batch(session, chunk)
                    results.put(("progress", len(chunk)))
            if meta_doc is not None:
                builder.add(meta_doc)
            segments = builder.close()
            db.session.remove()
        results.put(("segments", segments))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    finally:
        # Let the queue's feeder thread deliver before the process ends.
        results.close()
        results.join_thread()


# -- check-index: fingerprints in parallel --------------------------------------------


def fingerprints(ids: list[int], procs: int) -> list[tuple[int, str]]:
    """(thread id, document fingerprint) for the threads ``ids`` that still exist, in
    id order, computed in ``procs`` worker processes (check-index at scale)."""
    if procs <= 1 or len(ids) <= CHUNK:
        found: list[tuple[int, str]] = []
        with Session(db.engine) as session:
            for start in range(0, len(ids), CHUNK):
                found.extend(_chunk_fingerprints(session, ids[start : start + CHUNK]))
        return found
    app = current_app._get_current_object()
    workers, jobs, results = _start_workers(
        ids,
        procs,
        "search-check",
        _fingerprint_worker,
        lambda n, jobs, results, parent: (app, jobs, results, parent),
    )
    found = []
    try:
        for kind, value in _messages(workers, results, "done", "check"):
            if kind == "fingerprints":
                found.extend(value)
    finally:
        _stop(workers, jobs, results)
    return sorted(found)


def _chunk_fingerprints(session: Session, chunk: list[int]) -> list[tuple[int, str]]:
    threads = load_threads(session, chunk)
    found = [threads[i] for i in chunk if i in threads]
    out = [(int(doc["id"]), doc["fingerprint"]) for doc in thread_documents(found)]
    session.expunge_all()
    return out


def _fingerprint_worker(app, jobs, results, parent) -> None:
    _die_with_parent(parent)
    try:
        db.engine.dispose(close=False)
        with app.app_context():
            with Session(db.engine) as session:
                while True:
                    chunk = jobs.get()
                    if chunk is None:
                        break
                    if os.getppid() != parent:
                        os._exit(1)
                    results.put(("fingerprints", _chunk_fingerprints(session, chunk)))
            db.session.remove()
        results.put(("done", None))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    finally:
        results.close()
        results.join_thread()
