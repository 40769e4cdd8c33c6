"""Keeping the index in step with the database: applying the change record.

The services write a ``SearchChange(thread_id)`` row in the same transaction as every
change that affects search. ``apply_pending`` reads those rows in id order, re-reads
each named thread from the database (so applying is idempotent: the document always
reflects committed rows), writes or deletes its document, and stores the last applied
id *in the same whoosh commit* (the meta document). A crash anywhere leaves either the
old index with the old id or the new index with the new id: the next apply redoes the
rest.

Bounded catch-up: one writer commit applies at most ``SEARCH_APPLY_BATCH`` rows, with
the applied id recorded in that commit; a backlog is applied in ceil(N/batch) commits,
so searches see it arrive, ``/healthz`` lag shrinks as it goes, and a process killed
half-way keeps every committed batch (the next apply resumes after the last one).

Out-of-order commits (PostgreSQL sequences hand out ids before commit): when ids are
missing between the last applied id and the newest one seen, they are remembered as
*gaps* with the time first seen. Every apply also reads the gap ids; one that appears
is applied, and a gap older than ``SEARCH_GAP_TIMEOUT`` seconds (a rolled-back
transaction consumed it) is forgotten. A rebuild treats not-yet-visible ids in the
last thousand before its snapshot the same way.

Merging: commits merge nothing until ``MERGE_AT_SEGMENTS`` segments pile up (see
``index.merge_policy``); segments whose documents were all replaced are dropped for free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from whoosh.index import LockError

from ..extensions import db
from ..models import SearchChange, Thread
from . import build, replica, semantic, threadids
from .documents import load_threads, meta_document, thread_documents
from .fastwriter import _SegmentBuilder, paused_gc
from .index import IndexUnavailable, Store, check_schema, merge_policy, read_meta, store_for
from .schema import SCHEMA_VERSION

BATCH = 500
MAX_GAPS = 5000
PACK_MIN_DOCS = 1000  # as rebuild's: smaller segments decode their few postings quickly


def store() -> Store:
    return store_for(current_app.config["SEARCH_INDEX_DIR"])


def _session() -> Session:
    """A session of its own, so applying never touches the caller's transaction."""
    return Session(db.engine, expire_on_commit=False)


def _write_threads(writer, threads: dict[int, Thread], ids: Iterable[int]) -> None:
    """Write these threads' documents (delete the hidden and gone ones)."""
    ids = list(ids)
    visible = [threads[i] for i in ids if i in threads and threads[i].is_visible]
    visible_ids = {t.id for t in visible}
    for thread_id in ids:
        if thread_id not in visible_ids:
            writer.delete_by_term("id", str(thread_id))
    for doc in thread_documents(visible):
        writer.update_document(**doc)
    # Vectors are derived like the documents: written before the index commits - or, for
    # a backlog, recorded as pending and embedded after the commit
    # (``semantic.embed_pending``): embedding costs ~25-45 ms of CPU a thread.
    defer = len(visible) > semantic_defer_at()
    removed = [i for i in ids if i not in visible_ids]
    semantic.write(writer.storage.folder, visible, removed, defer=defer)


def _write_thread_ids(writer, session: Session, ids: list[int], fast: list[int]) -> None:
    """The fast path's ``_write_threads``: every id's old document is deleted here (an
    update, as whoosh's ``update_document`` does it) and the visible ids are appended to
    ``fast`` for ``_fast_commit`` to write into new segments (its builder loads the
    threads itself); their vectors are recorded as pending. Only the ids of the visible
    threads are read here: the rows are not loaded twice."""
    visible = _visible_ids(session, ids)
    _delete_threads(writer, ids)
    fast.extend(i for i in ids if i in visible)
    removed = [i for i in ids if i not in visible]
    semantic.defer(writer.storage.folder, [i for i in ids if i in visible], removed)


def _delete_threads(writer, ids: list[int]) -> None:
    """``writer.delete_by_term("id", str(i))`` for each of ``ids``, the documents found
    in the segments' thread id columns at once (``threadids.documents_of``)."""
    found = threadids.documents_of(writer.searcher(), ids)
    if found is None:
        for thread_id in ids:
            writer.delete_by_term("id", str(thread_id))
        return
    for docnum in found:
        writer.delete_document(docnum)


def _visible_ids(session: Session, ids: list[int]) -> set[int]:
    return set(
        session.scalars(
            select(Thread.id).where(
                Thread.id.in_(ids), Thread.is_hidden.is_(False), Thread.is_deleted.is_(False)
            )
        )
    )


DEFER_AT = 16


def semantic_defer_at() -> int:
    """Visible threads in one write above which their vectors are deferred
    (``SEARCH_SEMANTIC_DEFER_AT``; bulk imports always defer)."""
    value = current_app.config.get("SEARCH_SEMANTIC_DEFER_AT")
    return DEFER_AT if value is None else int(value)


# -- applying recorded changes ----------------------------------------------------------


def apply_pending(name: str | None = None, timeout: float | None = None) -> int:
    """Apply every recorded change not yet in the index; returns how many were applied.

    Returns 0 without waiting longer than ``timeout`` when another process holds the
    write lock (it, or the next apply, will take these rows). Raises IndexUnavailable
    when there is no usable index (callers start a rebuild).
    """
    if timeout is None:
        timeout = current_app.config.get("SEARCH_WRITE_TIMEOUT", 5.0)
    return _apply(name, timeout)[0]


def _apply(name: str | None, timeout: float) -> tuple[int, bool]:
    """(rows applied, whether the write lock was busy at the first try)."""
    st = store()
    total = 0
    if _has_newer(st, name):  # load the model before taking the lock, not while holding
        semantic.prepare()  # it - and only when there is something to apply
    first = True
    while True:
        try:
            writer = st.writer(name, timeout=timeout)
        except LockError:
            return total, first
        first = False
        try:
            done = _apply_with(writer)
        except BaseException:
            writer.cancel()
            raise
        total += done
        if not done or (done < apply_batch() and not _has_newer(st, name)):
            break
    return total, False


def apply_batch() -> int:
    """Rows applied per index commit (``SEARCH_APPLY_BATCH``)."""
    return max(int(current_app.config.get("SEARCH_APPLY_BATCH") or BATCH), 1)


def _after_batch() -> None:
    """Test hook: ``SEARCH_APPLY_BATCH_PAUSE`` seconds after each committed batch."""
    pause = float(current_app.config.get("SEARCH_APPLY_BATCH_PAUSE") or 0)
    if pause > 0:
        time.sleep(pause)


def apply_pending_bulk(
    limit: int, timeout: float = 60.0, procs: int | None = None, prebuilt: Any = None
) -> int:
    """For bulk imports: apply what is pending in commits of up to ``limit`` rows, each
    writing its documents into new segments with the rebuild's fast segment builder
    (``fastwriter``) instead of whoosh's writer: an import checkpoint of thousands of
    new threads costs about what a rebuild of them costs. The new segments are not
    merged here (the import's checkpoints grow, so few pile up; ``merge_policy`` merges
    on later commits). Same change record, same meta document, same gaps as
    ``apply_pending``; returns the rows applied (0 when the lock stayed busy).
    ``procs``: builder processes (None: ``build.procs_for``'s choice). ``prebuilt``:
    segments ``ahead.prebuild`` made for the first commit (used when they still fit, else
    discarded)."""
    total = 0
    limit = max(int(limit), 1)
    try:
        while True:
            done = apply_bulk_commit(limit, timeout, procs, prebuilt=prebuilt)
            prebuilt = None
            total += done
            if done < limit:
                return total
    finally:
        if prebuilt is not None:
            prebuilt.discard()


def apply_bulk_commit(
    limit: int,
    timeout: float = 60.0,
    procs: int | None = None,
    claimed: Callable[[int], None] | None = None,
    prebuilt: Any = None,
) -> int:
    """One commit of ``apply_pending_bulk``: up to ``limit`` pending rows; returns the
    rows applied (0 when idle or when the write lock stayed busy). Vectors are deferred
    here (pending, see ``_write_threads``): no model is loaded, so this may run in a
    process forked from one that has onnxruntime loaded. ``claimed(applied)`` is called
    before the documents are built, with the change id this commit applies up to (the
    unchanged one when there is nothing to apply): see ``ahead.prebuild``."""
    try:
        writer = store().writer(None, timeout=timeout)
    except LockError:
        return 0
    try:
        return _apply_with(
            writer,
            limit=max(int(limit), 1),
            fast=True,
            procs=procs,
            claimed=claimed,
            prebuilt=prebuilt,
        )
    except BaseException:
        writer.cancel()
        raise


def _fast_commit(
    writer, ids: list[int], procs: int | None = None, prebuilt: list | None = None
) -> None:
    """Commit ``writer`` with new segments holding the documents of threads ``ids``,
    built as a rebuild builds them (``build``: the fast segment builder, in worker
    processes from ``SEARCH_IMPORT_PARALLEL_MIN`` threads, packs written before the
    commit lists the segments); segments whose documents are all deleted are dropped.
    ``prebuilt``: segments already in the index folder holding some of them
    (``ahead.Prebuilt.install``); ``ids`` are then the others."""
    ix = writer.storage.open_index(writer.indexname)
    segments = list(prebuilt or []) + (_build_segments(ix, ids, procs) if ids else [])
    writer.commit(
        mergetype=lambda _w, existing: [s for s in existing if s.doc_count() > 0] + segments
    )


def _build_segments(ix, ids: list[int], procs: int | None) -> list:
    """New segments of ``ix``'s folder holding the documents of threads ``ids``."""
    procs = build.procs_for(len(ids), procs, importing=True)  # SEARCH_IMPORT_PARALLEL_MIN
    if procs > 1:
        return build._fill_parallel(ix, ids, None, None, procs)
    builder = _SegmentBuilder(ix, packs_from=build._packs_from(PACK_MIN_DOCS))
    with paused_gc(), _session() as session:
        for start in range(0, len(ids), build.CHUNK):
            builder.add_batch(session, ids[start : start + build.CHUNK])
        return builder.close()


def _apply_with(
    writer,
    limit: int | None = None,
    fast: bool = False,
    procs: int | None = None,
    claimed: Callable[[int], None] | None = None,
    prebuilt: Any = None,
) -> int:
    """Apply at most ``limit`` (default ``apply_batch()``) pending rows with one writer
    and commit them with the applied id (or cancel when idle); returns the rows applied.
    Callers loop. ``fast``: documents through the fast segment builder (bulk imports),
    in ``procs`` processes (None: ``build.procs_for``'s choice); ``claimed`` and
    ``prebuilt``: see ``apply_bulk_commit`` and ``ahead.prebuild`` (fast only)."""
    meta = read_meta(writer.searcher())
    check_schema(meta)
    applied = int(meta.get("applied", 0))
    if prebuilt is not None and (not fast or applied != prebuilt.after):
        prebuilt.discard()  # the rows before it were not all applied as it assumed
        prebuilt = None
    older: set[int] = set()  # threads of rows up to prebuilt.after (gaps filled since)
    gaps = {int(k): float(v) for k, v in meta.get("gaps", {}).items()}
    # replica.py: on PostgreSQL a gap is settled by transaction ids, not by a timeout.
    horizons = {int(k): int(v) for k, v in meta.get("gap_horizons", {}).items()}
    config = current_app.config
    count = 0
    limit = limit or apply_batch()
    changed_meta = False
    fast_ids: list[int] | None = [] if fast else None
    with _session() as session:
        xmin = replica.oldest_running(session)  # before the rows are read
        while True:
            cond = SearchChange.id > applied
            if prebuilt is not None:  # exactly its rows, so no document is older than them
                cond = cond & (SearchChange.id <= prebuilt.last)
            if gaps:
                cond = or_(cond, SearchChange.id.in_(list(gaps)))
            rows = session.execute(
                select(SearchChange.id, SearchChange.thread_id)
                .where(cond)
                .order_by(SearchChange.id)
                .limit(min(BATCH, limit - count))
            ).all()
            replica.check_not_pruned(session, applied)
            now = time.time()
            for gap_id in [
                g
                for g, seen in gaps.items()
                if replica.gap_settled(seen, horizons.get(g), xmin, now, config)
            ]:
                del gaps[gap_id]
                changed_meta = True
            if not rows:
                break
            present = {r.id for r in rows}
            for gap_id in present & set(gaps):
                del gaps[gap_id]
            newest = max(present)
            newer = {i for i in present if i > applied}
            if newest > applied and newest - applied - len(newer) <= MAX_GAPS - len(gaps):
                new_gaps = [i for i in range(applied + 1, newest) if i not in newer]
                gaps.update((i, now) for i in new_gaps)
                horizon = replica.gap_horizon(session) if new_gaps else None
                if horizon is not None:
                    horizons.update((i, horizon) for i in new_gaps)
            thread_ids = sorted({r.thread_id for r in rows})
            if prebuilt is not None:
                older.update(r.thread_id for r in rows if r.id <= prebuilt.after)
            if fast_ids is not None:
                _write_thread_ids(writer, session, thread_ids, fast_ids)
            else:
                _write_threads(writer, load_threads(session, thread_ids), thread_ids)
            session.expunge_all()
            applied = max(applied, newest)
            count += len(rows)
            changed_meta = True
            if len(rows) < BATCH or count >= limit:
                break
    if claimed is not None:
        claimed(applied)
    if not changed_meta:
        writer.cancel()
        if prebuilt is not None:
            prebuilt.discard()
        return 0
    meta.update(applied=applied, gaps={str(k): v for k, v in gaps.items()}, schema=SCHEMA_VERSION)
    meta["gap_horizons"] = {str(k): v for k, v in horizons.items() if k in gaps}
    writer.update_document(**meta_document(meta))
    if fast_ids is not None:
        ready = None
        if prebuilt is not None:
            fits = applied == prebuilt.last and prebuilt.ids <= set(fast_ids)
            if fits and not (older & prebuilt.ids):
                ready = prebuilt.install(writer.storage.folder)
                fast_ids = [i for i in fast_ids if i not in prebuilt.ids]
            else:
                prebuilt.discard()
        _fast_commit(writer, fast_ids, procs, ready)
    else:
        writer.commit(mergetype=merge_policy)
    _after_batch()
    return count


def failure_delay(failures: int, base: float, exc: BaseException) -> float:
    """Seconds to wait after ``failures`` failed rounds in a row (``failures`` >= 1).

    A database that cannot be reached is retried every ``SEARCH_RECONNECT_MAX``
    seconds at most (default 2), so a node resumes within seconds of the database
    returning; other failures back off exponentially up to 30 s.
    """
    delay = max(base, 0.05) * 2 ** min(failures, 10)
    if isinstance(exc, DBAPIError):  # OperationalError, InterfaceError: connection lost
        cap = float(current_app.config.get("SEARCH_RECONNECT_MAX") or 2.0)
        return min(delay, cap)
    return min(delay, 30.0)


def _has_newer(st: Store, name: str | None) -> bool:
    searcher = st.open_index(name).searcher()
    try:
        meta = read_meta(searcher)
    finally:
        searcher.close()
    return latest_change_id() > int(meta.get("applied", 0))


def latest_change_id() -> int:
    with _session() as session:
        return int(session.scalar(select(func.max(SearchChange.id))) or 0)


def current_meta() -> dict:
    """The meta document as this thread's searcher sees it (reopened when it changed)."""
    st = store()
    try:
        return read_meta(st.searcher())
    except IndexUnavailable:
        raise
    except Exception:
        # A searcher whose files went away under it (only an erasure's optimise deletes
        # segment files at once): read again through a fresh one.
        st.close()
        return read_meta(st.searcher())


def pending_state() -> tuple[int, int, int]:
    """(applied id, newest change id, gap count) as this process's searcher sees them."""
    meta = current_meta()
    return int(meta.get("applied", 0)), latest_change_id(), len(meta.get("gaps", {}))
