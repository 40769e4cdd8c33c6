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

Who applies: a background *applier* thread in every process (``Applier``), never the
request that committed. A commit only records its ``SearchChange`` rows (the database is
the truth) and, once committed, wakes this process's applier. The applier takes the
index's write lock without waiting: when it gets it, it applies everything pending in one
whoosh commit (a batch: many posts, one commit), then rests ``SEARCH_APPLY_REST`` (1.0)
times the CPU time that commit took - a rest every process's applier keeps (the file
``applier-rest`` in the index root) - and looks again, until nothing is pending. When
another process holds the lock, that holder will take these rows too, and the applier
looks again after ``APPLIER_BUSY_RETRY`` in case the holder had just finished. It also
sweeps every ``SEARCH_APPLY_SWEEP`` (1.0) seconds, so rows a killed process left behind
are applied by anyone else within about a second. ``SEARCH_SYNC = False`` stops a process
from applying (tests use it to simulate a crash right after a commit);
``SEARCH_APPLY_IN_BACKGROUND = False`` applies after each commit, in the request, as before.

Reading your own writes: a commit that recorded changes notes the newest id it wrote
(in the person's session during a request; for the process when outside one, as in
scripts and tests). A search waits (up to ``SEARCH_WRITE_TIMEOUT`` seconds, usually a few
milliseconds) only until the index reaches *that* id, waking the applier past its rest,
so a person sees their own new post at once while other readers never wait for anybody's
writes (``wait_for_applier`` is the same wait for code that reads the index directly).
The start of every process applies what is pending before serving (a crash between
commit and index write is repaired there), and a script applies at exit what it
committed itself. No write lock is waited for on a request, so no ``LockError`` ever
reaches a person.

Merging: commits merge nothing until ``MERGE_AT_SEGMENTS`` segments pile up (see
``index.merge_policy``); segments whose documents were all replaced are dropped for free.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from flask import Flask, current_app, has_request_context
from flask import session as web_session
from sqlalchemy import event, func, inspect, or_, select
from sqlalchemy.orm import Session
from whoosh.index import LockError

from .. import signals
from ..extensions import db
from ..models import SearchChange, Thread
from . import build, replica
from .documents import meta_document, thread_documents
from .index import (
    MERGE_AT_SEGMENTS,
    IndexUnavailable,
    Store,
    check_schema,
    merge_policy,
    read_meta,
    store_for,
)
from .schema import META_ID, SCHEMA_VERSION

log = logging.getLogger(__name__)

BATCH = 500
GAP_WINDOW = 1000
MAX_GAPS = 5000
APPLIER_BUSY_RETRY = 0.1
SESSION_KEY = "search_after"
__all__ = ["MERGE_AT_SEGMENTS"]


def store() -> Store:
    return store_for(current_app.config["SEARCH_INDEX_DIR"])


def _session() -> Session:
    """A session of its own, so applying never touches the caller's transaction."""
    return Session(db.engine, expire_on_commit=False)


def _load_threads(session: Session, ids: Iterable[int]) -> dict[int, Thread]:
    return build.load_threads(session, ids)


def _write_threads(writer, threads: dict[int, Thread], ids: Iterable[int]) -> None:
    ids = list(ids)
    visible = [threads[i] for i in ids if i in threads and threads[i].is_visible]
    for thread_id in ids:
        if thread_id not in threads or not threads[thread_id].is_visible:
            writer.delete_by_term("id", str(thread_id))
    for doc in thread_documents(visible):
        writer.update_document(**doc)


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
    for round_ in range(20):
        try:
            writer = st.writer(name, timeout=timeout)
        except LockError:
            return total, round_ == 0
        try:
            done = _apply_with(writer)
        except BaseException:
            writer.cancel()
            raise
        total += done
        if not done or not _has_newer(st, name):
            break
    return total, False


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
    writer.commit(mergetype=merge_policy)
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


def apply_if_pending() -> None:
    """The cheap check every search request makes: wait (briefly) until the index holds
    this reader's own latest write. Everything else pending is the applier's business
    (it sweeps every second); a reader without writes of its own never waits."""
    app = current_app._get_current_object()
    applier = ensure_applier(app)
    if applier is None:  # no applier in this process: apply here, as before
        applied, newest, gaps = pending_state()
        if newest > applied or gaps:
            apply_pending(timeout=float(app.config.get("SEARCH_READ_APPLY_TIMEOUT", 0.5)))
        return
    wanted = own_latest_write()
    if not app.config.get("SEARCH_SYNC", True):
        return  # this process applies nothing now: nobody to wait for
    if wanted and int(current_meta().get("applied", 0)) < wanted:
        # (A session from before a database reset may name an id that never comes.)
        wanted = min(wanted, latest_change_id())
        # As long as a post request once waited for the write lock to index itself.
        wait_applied(wanted, float(app.config.get("SEARCH_WRITE_TIMEOUT", 5.0)), applier)


def own_latest_write() -> int:
    """The newest change id this reader wrote: the person's (session) during a request,
    and the process's own writes made outside requests (scripts, tests)."""
    wanted = _process_writes.latest
    if has_request_context():
        try:
            wanted = max(wanted, int(web_session.get(SESSION_KEY, 0) or 0))
        except (TypeError, ValueError):
            pass
    return wanted


def wait_applied(wanted: int, timeout: float, applier: Applier | None = None) -> bool:
    """Wait up to ``timeout`` s until the index has applied change ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        if int(current_meta().get("applied", 0)) >= wanted:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if applier is not None:
            applier.hurry(wanted)
            with applier.changed:
                applier.changed.wait(min(left, 0.05))
        else:
            time.sleep(min(left, 0.05))


def wait_for_applier(app: Flask | None = None, timeout: float = 60.0) -> bool:
    """Tests and scripts: wait until this process's applier has applied every change
    recorded so far (for code that inspects the index directly, not through a search)."""
    app = app or current_app._get_current_object()
    with app.app_context():
        return wait_applied(latest_change_id(), timeout, ensure_applier(app))


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
    procs: int | None = None,
    lock_timeout: float | None = None,
    only_if_broken: bool = False,
) -> str | None:
    """Build a fresh generation from the database and switch searches to it atomically.

    Returns the new generation's name, or None when another process holds the rebuild
    lock past ``lock_timeout`` (or, with ``only_if_broken``, when the index turned out
    fine once the lock was ours: another process rebuilt it meanwhile). ``procs``: worker
    processes (None: 2 on two cores or more for a large forum, see ``build``).
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


def _fill(ix, progress, procs: int | None) -> None:
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
    meta = {"applied": applied, "gaps": gaps, "schema": SCHEMA_VERSION}
    if horizon is not None:
        meta["gap_horizons"] = dict.fromkeys(gaps, horizon)
    build.fill(ix, ids, meta_document(meta), progress, build.procs_for(len(ids), procs))


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


def rebuilding_here(app: Flask) -> bool:
    """True while this process runs a background rebuild (started at start-up, say)."""
    worker = _rebuilding.get(app.config["SEARCH_INDEX_DIR"])
    return worker is not None and worker.is_alive()


def wait_for_rebuild(app: Flask, timeout: float | None = 60.0) -> None:
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
    ensure_applier(app)


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
    """After every commit: note the change id it wrote (for reading one's own writes)
    and wake this process's applier. Nothing is written to the index here."""
    wrote = getattr(_committed, "latest", 0)
    _committed.latest = 0
    if not app.config.get("SEARCH_SYNC", True) or _bulk_importing():
        return  # a bulk import applies at its checkpoints instead
    if wrote:
        if has_request_context():
            web_session[SESSION_KEY] = max(wrote, int(web_session.get(SESSION_KEY, 0) or 0))
        else:
            _process_writes.note(wrote)
    try:
        ensure_started(app)
        applier = ensure_applier(app)
        if applier is not None:
            applier.wake.set()
            return
        applied, newest, gaps = pending_state()
        if newest > applied or gaps:
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
    _install_write_tracking()
    try:
        from ..transfer import import_checkpoint
    except ImportError:  # pragma: no cover - transfer not installed
        return
    import_checkpoint.connect(_on_import_checkpoint, weak=False)


# -- the background applier ------------------------------------------------------------

_committed = threading.local()  # the newest change id the current transaction inserted


class _ProcessWrites:
    """The newest change id this process committed outside a request."""

    def __init__(self) -> None:
        self.latest = 0
        self.pid = os.getpid()

    def note(self, change_id: int) -> None:
        if self.pid != os.getpid():
            self.latest, self.pid = 0, os.getpid()
        self.latest = max(self.latest, change_id)


_process_writes = _ProcessWrites()
_tracking_installed = False


def _install_write_tracking() -> None:
    """Remember the ids of SearchChange rows a transaction inserts, for after its commit."""
    global _tracking_installed
    if _tracking_installed:
        return
    _tracking_installed = True

    @event.listens_for(SearchChange, "after_insert")
    def _inserted(_mapper, _connection, target) -> None:
        pending = target.id or 0
        session_info = getattr(_committed, "pending", 0)
        _committed.pending = max(session_info, pending)

    @event.listens_for(Session, "after_commit")
    def _after_commit(_session) -> None:
        wrote = getattr(_committed, "pending", 0)
        if wrote:
            _committed.latest = max(getattr(_committed, "latest", 0), wrote)
            _committed.pending = 0

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(_session) -> None:
        _committed.pending = 0


class Applier(threading.Thread):
    """Writes recorded changes into the index in the background (see the module
    docstring). One per app per process; started again in a forked child.

    Each pass takes the write lock without waiting and applies everything pending in
    one whoosh commit. After a commit that took ``d`` seconds of CPU, no applier of any
    process starts another before ``SEARCH_APPLY_REST`` x ``d`` more seconds have passed (the
    time is kept in ``applier-rest`` in the index root), unless a reader of this process
    is waiting for its own write: on a quiet forum a post is applied within a few
    milliseconds, and under a burst of posts the batches grow instead of the index
    writes taking every core from the requests.
    """

    def __init__(self, app: Flask):
        super().__init__(name="search-applier", daemon=True)
        self.app_ref = weakref.ref(app)
        self.pid = os.getpid()
        self.wake = threading.Event()
        self.changed = threading.Condition()
        self.stop_event = threading.Event()
        self.urgent = 0  # a change id a reader here waits for
        self.applied = 0  # the last applied id this applier saw
        self.passes = 0

    def hurry(self, wanted: int) -> None:
        """A reader waits for change ``wanted``: apply it now, rest or not."""
        if wanted > self.urgent:
            self.urgent = wanted
        self.wake.set()

    def run(self) -> None:
        failures = 0
        delay = 0.0
        while not self.stop_event.is_set():
            self.wake.wait(delay)
            self.wake.clear()
            app = self.app_ref()
            if app is None or self.stop_event.is_set():
                return  # the app is gone (tests make many)
            sweep = float(app.config.get("SEARCH_APPLY_SWEEP", 1.0))
            delay = sweep
            if not app.config.get("SEARCH_SYNC", True):
                del app
                continue
            urgent = self.urgent > self.applied
            if _bulk_importing() and not urgent:
                del app
                continue  # an import in this process applies at its checkpoints (H3)
            try:
                with app.app_context():
                    root = store().root
                    left = _rest_left(root)
                    if left > 0 and not urgent:
                        delay = min(left, sweep)
                        continue
                    try:
                        done, busy, seconds = self.apply_once()
                        failures = 0
                        if busy:
                            delay = APPLIER_BUSY_RETRY / (2 if urgent else 1)
                        elif done:
                            rest = seconds * float(app.config.get("SEARCH_APPLY_REST", 1.0))
                            _set_rest(root, rest)
                            delay = rest  # then look again: more may have come meanwhile
                    except IndexUnavailable:
                        failures += 1
                        if failures == 1 or failures % 10 == 0:
                            ensure_index(app)
                    finally:
                        db.session.remove()
            except Exception as exc:
                # The database or the disk may be failing: say so once, then back off.
                if failures == 0:
                    log.exception("search applier: this pass failed; retrying")
                else:
                    log.warning("search applier: still failing: %s", exc)
                failures += 1
                delay = min(sweep * 2 ** min(failures, 5), 30.0)
            finally:
                self.passes += 1
                with self.changed:
                    self.changed.notify_all()
                del app

    def apply_once(self) -> tuple[int, bool, float]:
        """One commit of everything pending: (rows applied, lock busy, CPU seconds taken
        by this thread: the wall time would count every other thread's turns too)."""
        started = time.thread_time()
        applied, newest, gaps = pending_state()
        if newest <= applied and not gaps:
            self.applied = max(self.applied, applied)
            return 0, False, 0.0  # a sweep with nothing to do opens no writer
        try:
            writer = store().writer(None, timeout=0)
        except LockError:
            return 0, True, 0.0
        try:
            done = _apply_with(writer)
        except BaseException:
            writer.cancel()
            raise
        self.applied = max(self.applied, int(current_meta().get("applied", 0)))
        return done, False, time.thread_time() - started

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()


REST_FILE = "applier-rest"


def _rest_left(root) -> float:
    """Seconds until appliers may write again (0 when they may now)."""
    try:
        until = float((root / REST_FILE).read_text() or 0)
    except (OSError, ValueError):
        return 0.0
    left = until - time.time()
    return left if left < 60 else 0.0  # a clock step back must not stop applying


def _set_rest(root, seconds: float) -> None:
    if seconds <= 0.001:
        return
    tmp = root / f".{REST_FILE}.{os.getpid()}.{threading.get_ident()}"
    try:
        tmp.write_text(repr(time.time() + seconds))
        os.replace(tmp, root / REST_FILE)
    except OSError:
        pass


def ensure_applier(app: Flask) -> Applier | None:
    """This process's running applier for ``app`` (started when missing or after a
    fork), or None when background applying is switched off (``SEARCH_APPLY_IN_BACKGROUND``)."""
    if not app.config.get("SEARCH_APPLY_IN_BACKGROUND", True):
        return None
    applier = app.extensions.get("forum_search_applier")
    if applier is not None and applier.pid == os.getpid() and applier.is_alive():
        return applier
    with _applier_lock:
        applier = app.extensions.get("forum_search_applier")
        if applier is None or applier.pid != os.getpid() or not applier.is_alive():
            applier = Applier(app)
            app.extensions["forum_search_applier"] = applier
            _appliers.add(applier)
            applier.start()
    return applier


_applier_lock = threading.Lock()
_appliers: weakref.WeakSet[Applier] = weakref.WeakSet()


@atexit.register
def _apply_own_writes_at_exit() -> None:
    """A script or command that committed changes applies them before it exits (a
    server's other processes would too, but a lone script may be the only process)."""
    if not _process_writes.latest or _process_writes.pid != os.getpid():
        return
    for applier in list(_appliers):
        app = applier.app_ref()
        if app is None or applier.pid != os.getpid():
            continue
        applier.stop()
        try:
            with app.app_context():
                if app.config.get("SEARCH_SYNC", True):
                    apply_pending(timeout=float(app.config.get("SEARCH_WRITE_TIMEOUT", 5.0)))
                db.session.remove()
        except Exception:  # noqa: BLE001 - the rows stay pending for the next process
            log.debug("search: could not apply this process's changes at exit")


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
    # Documents built again from the database, in worker processes for a large forum.
    for thread_id, fingerprint in build.fingerprints(ids, build.procs_for(len(ids), None)):
        stored = indexed.pop(thread_id, None)
        if stored is None:
            problems.append(f"thread {thread_id} is missing from the index")
        elif stored != fingerprint:
            problems.append(f"thread {thread_id} differs from the database")
    for thread_id in sorted(indexed):
        problems.append(f"thread {thread_id} is in the index but not visible in the database")
    return problems


def optimise() -> None:
    """Apply pending changes, merge the index into one segment (whoosh then deletes the
    old segment files, and with them the words of deleted documents), and delete
    older generations. For account erasure: removed text is gone from disk too."""
    apply_pending(timeout=60)
    st = store()
    writer = st.writer(timeout=60, retire=False)  # erased words leave the disk now
    writer.commit(optimize=True)
    lock = RebuildLock(st)
    if lock.acquire(timeout=30):
        try:
            st.remove_stale(keep=set())
        finally:
            lock.release()
