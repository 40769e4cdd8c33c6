"""Filling a fresh index generation from the database (``rebuild.rebuild``), fast.

Where a rebuild's time goes, per thread: reading its rows, building the document (the
text analysed once, see ``analysis``), and whoosh turning documents into postings and
writing the segment. All of it is CPU work in Python, so a large rebuild runs in
``procs`` worker processes (forked: they share the app, its configuration and signal
receivers), each reading its own batches of thread ids and writing its own segment;
this process hands out the batches, reports progress, and commits one table of contents
listing every worker's segment (whoosh's "multisegment" build, with the document
building parallel too). Each worker also writes its segment's postings pack
(``packs``: the long posting lists decoded once, memory-mapped by searches). Below
``SEARCH_REBUILD_PARALLEL_MIN`` threads one process is faster than starting workers.

Failure leaves nothing behind: a worker that fails or dies fails the rebuild (the
unpublished generation is removed by the next one), and workers die with this process
(``PR_SET_PDEATHSIG`` on Linux, else they notice their parent is gone between batches),
so a killed rebuild releases the rebuild lock they inherited.

A worker can also hang for ever: forked from a serving process while one of its other
threads (the change applier, the follower, a request) was inside SQLite, the child
inherits that thread's lock and waits on it at its first connection. So each worker says
"ready" once connected, and a worker silent for too long (``SEARCH_WORKER_READY_S`` to be
ready, ``SEARCH_WORKER_STALL_S`` between messages) stops the workers: the rebuild, or
check-index, then does the work in this process instead (slower, never stuck).

Measured on the shared 2-core machine (bench/index_speed.py, load 4-5 from other work):
10,085 threads in 67 s wall / 52 s CPU with 2 workers (before this module: 340 s / 263 s
in one process); 30,000 threads of bench/out/forum-100000 in 167 s / 149 s CPU, 534 MB
peak per worker. About 5 ms of CPU per thread, so 100,000 threads need ~500 s of CPU:
~4-5 min on two idle cores (an extrapolation).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session
from whoosh import index as whoosh_index

from ..extensions import db
from . import analysis
from .documents import load_threads, thread_documents
from .fastwriter import _SegmentBuilder, paused_gc

log = logging.getLogger(__name__)

CHUNK = 250  # threads per batch handed to a worker
READY_S = 60.0  # default for SEARCH_WORKER_READY_S: fork to a connected worker
STALL_S = 600.0  # default for SEARCH_WORKER_STALL_S: the longest silence between messages

PARALLEL_MIN = 2000  # default for SEARCH_REBUILD_PARALLEL_MIN
IMPORT_PARALLEL_MIN = 500  # default for SEARCH_IMPORT_PARALLEL_MIN (import checkpoints)


class WorkersStalled(RuntimeError):
    """A worker was not ready, or sent nothing, within its limit (and was stopped)."""


def default_procs() -> int:
    """Worker processes for a large rebuild: 2 when the machine has two cores or more."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def procs_for(count: int, procs: int | None, importing: bool = False) -> int:
    """``procs`` as asked, or (None) the default for a rebuild of ``count`` threads
    (``importing``: for an import checkpoint's new segments, which start workers from
    ``SEARCH_IMPORT_PARALLEL_MIN`` threads: on two idle cores an import of 2,000
    threads ran 188-195 -> 213-230 threads/s with them, at ~25% more CPU)."""
    if procs is not None:
        return max(1, int(procs))
    if importing:
        minimum = int(current_app.config.get("SEARCH_IMPORT_PARALLEL_MIN", IMPORT_PARALLEL_MIN))
    else:
        minimum = int(current_app.config.get("SEARCH_REBUILD_PARALLEL_MIN", PARALLEL_MIN))
    return default_procs() if count >= minimum else 1


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
        segments = None
        if procs > 1 and len(ids) > CHUNK:
            try:
                segments = _fill_parallel(ix, ids, meta_doc, progress, procs)
            except WorkersStalled as exc:
                log.warning("search index rebuild: %s; indexing in this process instead", exc)
        if segments is None:
            segments = _fill_here(ix, ids, meta_doc, progress)
        writer.commit(mergetype=lambda _writer, existing: list(existing) + segments)
    except BaseException:
        writer.cancel()
        raise


def _fill_here(ix, ids, meta_doc, progress) -> list:
    builder = _SegmentBuilder(ix, packs_from=_packs_from(0))
    with paused_gc(), Session(db.engine) as session:
        for start in range(0, len(ids), CHUNK):
            builder.add_batch(session, ids[start : start + CHUNK])
            if progress:
                progress(min(start + CHUNK, len(ids)), len(ids))
        builder.add(meta_doc)
        segments = builder.close()
    return segments


def _packs_from(min_docs: int) -> int | None:
    """``_SegmentBuilder``'s ``packs_from``: each segment of ``min_docs`` documents or
    more gets its postings pack before the commit lists it, unless ``SEARCH_PACKS`` is
    off."""
    return min_docs if current_app.config.get("SEARCH_PACKS", True) else None


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
        for kind, value in _messages(workers, results, "segments", "index", _limits()):
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
    analysis.prepare()  # the workers inherit the concept table
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


def _limits() -> tuple[float, float]:
    config = current_app.config
    return (
        float(config.get("SEARCH_WORKER_READY_S", READY_S)),
        float(config.get("SEARCH_WORKER_STALL_S", STALL_S)),
    )


def _messages(workers, results, last: str, what: str, limits: tuple[float, float]):
    """Messages from the workers until each has sent ``last`` (which is yielded too);
    a worker that died or reported an error raises RuntimeError, workers not all
    "ready" within ``limits[0]`` seconds or all silent for ``limits[1]`` raise
    WorkersStalled."""
    ready_s, stall_s = limits
    finished = ready = 0
    started = heard = time.monotonic()
    while finished < len(workers):
        try:
            kind, value = results.get(timeout=min(1.0, ready_s, stall_s))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"search {what} worker {dead[0].name} died (exit code {dead[0].exitcode})"
                ) from None
            now = time.monotonic()
            if ready < len(workers) and now - started > ready_s:
                raise WorkersStalled(
                    f"{len(workers) - ready} of {len(workers)} {what} workers not ready "
                    f"after {ready_s:g} s"
                ) from None
            if now - heard > stall_s:
                raise WorkersStalled(f"no word from the {what} workers for {stall_s:g} s") from None
            continue
        heard = time.monotonic()
        if kind == "ready":
            ready += 1
            continue
        if kind == "error":
            raise RuntimeError(f"search {what} worker failed:\n{value}")
        if kind == last:
            finished += 1
        yield kind, value
    for w in workers:
        w.join(30)


def _stop(workers, jobs, results) -> None:
    """Kill workers still running (the caller failed), and close the queues. Chunks no
    worker will read are dropped: otherwise the jobs queue's feeder thread, blocked on a
    full pipe nobody reads, would keep this process from exiting (a cancelled rebuild)."""
    for w in workers:
        if w.is_alive():
            w.kill()
            w.join(5)
    jobs.cancel_join_thread()
    results.cancel_join_thread()
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


def _connected(session: Session, results) -> None:
    """Connect ``session`` now and tell the parent this worker is ready (a worker stuck
    on a lock inherited from the fork never says so)."""
    session.connection()
    results.put(("ready", None))


def _worker(app, path, indexname, jobs, results, parent, meta_doc) -> None:
    """One worker: index batches of ids from ``jobs`` into a segment of its own."""
    _die_with_parent(parent)
    try:
        db.engine.dispose(close=False)  # the parent's pooled connections stay its own
        with app.app_context():
            ix = whoosh_index.open_dir(path, indexname=indexname)
            builder = _SegmentBuilder(ix, packs_from=_packs_from(0))  # packs: before the commit
            with paused_gc(), Session(db.engine) as session:
                _connected(session, results)
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
        for kind, value in _messages(workers, results, "done", "check", _limits()):
            if kind == "fingerprints":
                found.extend(value)
    except WorkersStalled as exc:
        stalled: WorkersStalled | None = exc
    else:
        stalled = None
    finally:
        _stop(workers, jobs, results)
    if stalled is not None:
        log.warning("search index check: %s; checking in this process instead", stalled)
        return fingerprints(ids, 1)
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
                _connected(session, results)
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
