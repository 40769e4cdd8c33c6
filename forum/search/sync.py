"""Keeping the index in step with the database.

The services write a ``SearchChange(thread_id)`` row in the same transaction as every
change that affects search. ``apply_pending`` reads those rows in id order, re-reads
each named thread from the database (so applying is idempotent: the document always
reflects committed rows), writes or deletes its document, and stores the last applied
id *in the same whoosh commit* (the meta document). A crash anywhere leaves either the
old index with the old id or the new index with the new id: the next apply redoes the
rest.

Out-of-order commits (PostgreSQL sequences hand out ids before commit): when ids are
missing between the last applied id and the newest one seen, they are remembered as
*gaps* with the time first seen. Every apply also reads the gap ids; one that appears
is applied, and a gap older than ``SEARCH_GAP_TIMEOUT`` seconds (a rolled-back
transaction consumed it) is forgotten. A rebuild treats not-yet-visible ids in the
last thousand before its snapshot the same way.

Who applies: the process that committed, right after its commit (``signals.committed``),
so a person sees their own post at once; every search request and the start of every
process apply what is pending too. A writer that cannot get the lock within
``SEARCH_WRITE_TIMEOUT`` leaves the rows for the holder (which loops until nothing is
pending) or the next apply: rows are never lost, only applied a little later.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask, current_app
from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session, selectinload
from whoosh.index import LockError

from .. import signals
from ..extensions import db
from ..models import SearchChange, Thread
from . import replica
from .documents import meta_document, thread_document
from .index import IndexUnavailable, Store, check_schema, read_meta, store_for
from .schema import META_ID, SCHEMA_VERSION

log = logging.getLogger(__name__)

BATCH = 500
GAP_WINDOW = 1000
MAX_GAPS = 5000
MERGE_AT_SEGMENTS = 8


def store() -> Store:
    return store_for(current_app.config["SEARCH_INDEX_DIR"])


def _session() -> Session:
    """A session of its own, so applying never touches the caller's transaction."""
    return Session(db.engine, expire_on_commit=False)


def _load_threads(session: Session, ids: Iterable[int]) -> dict[int, Thread]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Thread)
        .where(Thread.id.in_(ids))
        .options(selectinload(Thread.posts), selectinload(Thread.tags))
    )
    return {t.id: t for t in rows}


def _write_threads(writer, threads: dict[int, Thread], ids: Iterable[int]) -> None:
    for thread_id in ids:
        thread = threads.get(thread_id)
        if thread is None or not thread.is_visible:
            writer.delete_by_term("id", str(thread_id))
        else:
            writer.update_document(**thread_document(thread))


# -- applying recorded changes ----------------------------------------------------------


def apply_pending(name: str | None = None, timeout: float | None = None) -> int:
    """Apply every recorded change not yet in the index; returns how many were applied.

    Returns 0 without waiting longer than ``timeout`` when another process holds the
    write lock (it, or the next apply, will take these rows). Raises IndexUnavailable
    when there is no usable index (callers start a rebuild).
    """
    if timeout is None:
        timeout = current_app.config.get("SEARCH_WRITE_TIMEOUT", 5.0)
    st = store()
    total = 0
    for _round in range(20):
        try:
            writer = st.writer(name, timeout=timeout)
        except LockError:
            return total
        try:
            done = _apply_with(writer)
        except BaseException:
            writer.cancel()
            raise
        total += done
        if not done or not _has_newer(st, name):
            break
    return total


def _apply_with(writer) -> int:
    """Apply pending rows in batches with one writer; commit (or cancel when idle)."""
    meta = read_meta(writer.searcher())
    check_schema(meta)
    applied = int(meta.get("applied", 0))
    gaps = {int(k): float(v) for k, v in meta.get("gaps", {}).items()}
    # replica.py: on PostgreSQL a gap is settled by transaction ids, not by a timeout.
    horizons = {int(k): int(v) for k, v in meta.get("gap_horizons", {}).items()}
    config = current_app.config
    count = 0
    changed_meta = False
    with _session() as session:
        xmin = replica.oldest_running(session)  # before the rows are read
        while True:
            cond = SearchChange.id > applied
            if gaps:
                cond = or_(cond, SearchChange.id.in_(list(gaps)))
            rows = session.execute(
                select(SearchChange.id, SearchChange.thread_id)
                .where(cond)
                .order_by(SearchChange.id)
                .limit(BATCH)
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
            _write_threads(writer, _load_threads(session, thread_ids), thread_ids)
            session.expunge_all()
            applied = max(applied, newest)
            count += len(rows)
            changed_meta = True
            if len(rows) < BATCH:
                break
    if not changed_meta:
        writer.cancel()
        return 0
    meta.update(applied=applied, gaps={str(k): v for k, v in gaps.items()}, schema=SCHEMA_VERSION)
    meta["gap_horizons"] = {str(k): v for k, v in horizons.items() if k in gaps}
    writer.update_document(**meta_document(meta))
    writer.commit(merge=len(writer.segments) >= MERGE_AT_SEGMENTS)
    return count


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


def pending_state() -> tuple[int, int, int]:
    """(applied id, newest change id, gap count) as this process's searcher sees them."""
    meta = read_meta(store().searcher())
    return int(meta.get("applied", 0)), latest_change_id(), len(meta.get("gaps", {}))


def apply_if_pending() -> None:
    """The cheap check every search request makes: apply only when something is pending."""
    applied, newest, gaps = pending_state()
    if newest > applied or gaps:
        apply_pending(timeout=current_app.config.get("SEARCH_READ_APPLY_TIMEOUT", 0.5))


# -- rebuilding ----------------------------------------------------------------------


class RebuildLock:
    """An flock on ``rebuild.lock``: one rebuilding process per index root; released
    by the kernel when the holder dies (kill -9 included)."""

    def __init__(self, st: Store):
        st.root.mkdir(parents=True, exist_ok=True)
        self.path = st.root / "rebuild.lock"
        self.fd: int | None = None

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock; wait up to ``timeout`` s (None: forever, 0: do not wait)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fd = fd
                return True
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.1)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def index_ok() -> bool:
    """True when the current generation opens, has a meta document and this schema."""
    try:
        st = store()
        searcher = st.open_index().searcher()
        try:
            meta = read_meta(searcher)
            check_schema(meta)
        finally:
            searcher.close()
        with _session() as session:  # fell behind the pruned change record: rebuild
            replica.check_not_pruned(session, int(meta.get("applied", 0)))
        return True
    except Exception:
        return False


def rebuild(
    progress: Callable[[int, int], None] | None = None,
    procs: int = 1,
    lock_timeout: float | None = None,
    only_if_broken: bool = False,
) -> str | None:
    """Build a fresh generation from the database and switch searches to it atomically.

    Returns the new generation's name, or None when another process holds the rebuild
    lock past ``lock_timeout`` (or, with ``only_if_broken``, when the index turned out
    fine once the lock was ours: another process rebuilt it meanwhile).
    """
    st = store()
    lock = RebuildLock(st)
    if not lock.acquire(lock_timeout):
        return None
    try:
        if only_if_broken and index_ok():
            return None
        _remove_unpublished(st)
        name, ix = st.new_generation()
        _fill(ix, progress, procs)
        apply_pending(name=name, timeout=60)
        st.publish(name)
        try:
            apply_pending(timeout=60)
        except IndexUnavailable:  # pragma: no cover - just published
            pass
        st.remove_stale(keep={name, *_recent_generations(st)})
        return name
    finally:
        lock.release()


def _remove_unpublished(st: Store) -> None:
    """Generations newer than the current one were never published: a rebuild was
    killed half-way. We hold the rebuild lock, so nobody is filling them."""
    current = st.current_name() or ""
    st.remove_stale(keep={n for n in st.generations() if n <= current})


def _recent_generations(st: Store, seconds: float = 120.0) -> set[str]:
    """Generations written to recently: another process may still be reading one."""
    now = time.time()
    recent = set()
    for name in st.generations():
        try:
            if now - (st.root / name).stat().st_mtime < seconds:
                recent.add(name)
        except FileNotFoundError:
            continue
    return recent


def _snapshot(session: Session) -> tuple[int, dict[str, float]]:
    """The newest change id, and ids below it not yet visible (in-flight elsewhere)."""
    newest = int(session.scalar(select(func.max(SearchChange.id))) or 0)
    low = max(0, newest - GAP_WINDOW)
    recent = select(SearchChange.id).where(SearchChange.id > low, SearchChange.id <= newest)
    seen = set(session.scalars(recent))
    now = time.time()
    return newest, {str(i): now for i in range(low + 1, newest) if i not in seen}


def _fill(ix, progress, procs: int) -> None:
    if procs > 1:
        writer = ix.writer(procs=procs, multisegment=True, compound=False, limitmb=128)
    else:
        writer = ix.writer(compound=False, limitmb=128)
    try:
        with _session() as session:
            applied, gaps = _snapshot(session)
            horizon = replica.gap_horizon(session)
            ids = list(
                session.scalars(
                    select(Thread.id)
                    .where(Thread.is_deleted.is_(False), Thread.is_hidden.is_(False))
                    .order_by(Thread.id)
                )
            )
            done = 0
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                threads = _load_threads(session, chunk)
                for thread_id in chunk:
                    thread = threads.get(thread_id)
                    if thread is not None and thread.is_visible:
                        writer.add_document(**thread_document(thread))
                session.expunge_all()
                done += len(chunk)
                if progress:
                    progress(done, len(ids))
        meta = {"applied": applied, "gaps": gaps, "schema": SCHEMA_VERSION}
        if horizon is not None:
            meta["gap_horizons"] = dict.fromkeys(gaps, horizon)
        writer.add_document(**meta_document(meta))
        writer.commit()
    except BaseException:
        writer.cancel()
        raise


# -- background rebuild when the index is missing or broken -----------------------------

_rebuilding: dict[str, threading.Thread] = {}
_last_started: dict[str, float] = {}
_bg_lock = threading.Lock()


def request_rebuild(
    app: Flask, force: bool = False, verify: bool = True, interval: float = 30.0
) -> bool:
    """Start a background rebuild in this process unless one is running here or one
    started less than ``interval`` seconds ago (``force`` ignores that). With ``verify``
    the rebuild is skipped when the index opens fine once the lock is ours (another
    process rebuilt it); without, it always rebuilds (searches kept failing on an index
    that opens: a damaged segment). Returns True when a rebuild is (now) running."""
    root = app.config["SEARCH_INDEX_DIR"]
    with _bg_lock:
        running = _rebuilding.get(root)
        if running is not None and running.is_alive():
            return True
        if not force and time.monotonic() - _last_started.get(root, -1e9) < interval:
            return False
        _last_started[root] = time.monotonic()
        worker = threading.Thread(
            target=_background_rebuild,
            args=(app, verify),
            name="search-rebuild",
            daemon=True,
        )
        _rebuilding[root] = worker
        worker.start()
        return True


def _background_rebuild(app: Flask, verify: bool = True) -> None:
    with app.app_context():
        try:
            rebuild(lock_timeout=0, only_if_broken=verify)
        except Exception:
            log.exception("search index rebuild failed")
        finally:
            db.session.remove()


def wait_for_rebuild(app: Flask, timeout: float = 60.0) -> None:
    """Tests and commands: wait for this process's background rebuild to finish."""
    worker = _rebuilding.get(app.config["SEARCH_INDEX_DIR"])
    if worker is not None:
        worker.join(timeout)


def install_startup(app: Flask) -> None:
    """Run ``startup`` now when the tables exist, else before the first request or
    commit (a new database gets its tables after the blueprints are registered)."""
    app.extensions["forum_search_started"] = False

    @app.before_request
    def _search_startup():
        ensure_started(app)

    try:
        with app.app_context():
            if inspect(db.engine).has_table("search_changes"):
                ensure_started(app)
    except Exception:
        log.exception("search start-up check failed")


def ensure_started(app: Flask) -> None:
    if app.extensions.get("forum_search_started"):
        return
    app.extensions["forum_search_started"] = True
    startup(app)


def startup(app: Flask) -> None:
    """At process start: rebuild a missing, broken or outdated index (in the foreground
    when the database is small, else in the background), then apply what is pending -
    which repairs a crash between a database commit and its index write."""
    with app.app_context():
        try:
            if ensure_index(app):
                apply_pending(timeout=app.config.get("SEARCH_WRITE_TIMEOUT", 5.0))
        except Exception:
            log.exception("search index start-up check failed; rebuilding in the background")
            request_rebuild(app, force=True)


def ensure_index(app: Flask) -> bool:
    """True when the index is usable now. A missing, broken or outdated one is rebuilt
    here when the database is small (SEARCH_SYNC_BUILD_MAX threads), else in the
    background (and this returns False)."""
    if index_ok():
        return True
    if _visible_count() <= app.config.get("SEARCH_SYNC_BUILD_MAX", 300):
        rebuild(lock_timeout=30, only_if_broken=True)
        return index_ok()
    request_rebuild(app, force=True)
    return False


def _visible_count() -> int:
    with _session() as session:
        return int(
            session.scalar(
                select(func.count(Thread.id)).where(
                    Thread.is_deleted.is_(False), Thread.is_hidden.is_(False)
                )
            )
            or 0
        )


def _on_committed(app: Flask, **_kw) -> None:
    """After every commit: apply what this (and any other) transaction recorded."""
    if not app.config.get("SEARCH_SYNC", True) or _bulk_importing():
        return  # a bulk import applies at its checkpoints instead
    try:
        ensure_started(app)
        applied, newest, gaps = pending_state()
        if newest > applied or gaps:  # most commits (logins, settings) change nothing here
            apply_pending()
    except IndexUnavailable:
        try:
            ensure_index(app)
        except Exception:
            log.exception("rebuilding the search index failed")
    except Exception:
        log.exception("applying search changes failed; they stay pending")


def _bulk_importing() -> bool:
    try:
        from ..transfer import importing
    except ImportError:  # pragma: no cover - transfer not installed
        return False
    return importing()


def _on_import_checkpoint(app: Flask, **_kw) -> None:
    """Every few hundred imported threads and at the end: apply in large batches.
    An import is a batch job, so a missing index is built here, in the foreground."""
    try:
        if not index_ok():
            rebuild(lock_timeout=600, only_if_broken=True)
        ensure_started(app)
        apply_pending(timeout=60)
    except Exception:
        log.exception("applying search changes at an import checkpoint failed")


def connect_signals() -> None:
    signals.committed.connect(_on_committed, weak=False)
    try:
        from ..transfer import import_checkpoint
    except ImportError:  # pragma: no cover - transfer not installed
        return
    import_checkpoint.connect(_on_import_checkpoint, weak=False)


# -- checking and optimising -------------------------------------------------------------


def check_index() -> list[str]:
    """Differences between the index and the database (empty when they agree).

    Applies pending changes first, then compares every visible thread's document
    fingerprint with the one stored in the index, and the sets of ids.
    """
    apply_pending(timeout=30)
    st = store()
    searcher = st.open_index().searcher()
    problems: list[str] = []
    try:
        meta = read_meta(searcher)
        check_schema(meta)
        indexed: dict[int, str] = {}
        for fields in searcher.reader().all_stored_fields():
            if fields.get("id") and fields["id"] != META_ID:
                indexed[int(fields["id"])] = fields.get("fingerprint", "")
        newest = latest_change_id()
        if int(meta.get("applied", 0)) < newest:
            problems.append(f"index applied change {meta.get('applied')} of {newest}")
    finally:
        searcher.close()
    with _session() as session:
        ids = list(
            session.scalars(
                select(Thread.id)
                .where(Thread.is_deleted.is_(False), Thread.is_hidden.is_(False))
                .order_by(Thread.id)
            )
        )
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            threads = _load_threads(session, chunk)
            for thread_id in chunk:
                doc = thread_document(threads[thread_id])
                stored = indexed.pop(thread_id, None)
                if stored is None:
                    problems.append(f"thread {thread_id} is missing from the index")
                elif stored != doc["fingerprint"]:
                    problems.append(f"thread {thread_id} differs from the database")
            session.expunge_all()
    for thread_id in sorted(indexed):
        problems.append(f"thread {thread_id} is in the index but not visible in the database")
    return problems


def optimise() -> None:
    """Apply pending changes, merge the index into one segment (whoosh then deletes the
    old segment files, and with them the words of deleted documents), and delete
    older generations. For account erasure: removed text is gone from disk too."""
    apply_pending(timeout=60)
    st = store()
    writer = st.writer(timeout=60)
    writer.commit(optimize=True)
    lock = RebuildLock(st)
    if lock.acquire(timeout=30):
        try:
            st.remove_stale(keep=set())
        finally:
            lock.release()
