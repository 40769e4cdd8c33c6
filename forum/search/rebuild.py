"""Building a fresh index generation and switching to it; checking and optimising.

``rebuild`` fills a new generation from the database (``build.fill``, in worker
processes for a large forum) under an flock held by one process per index root, applies
what was recorded meanwhile, publishes it atomically and removes old generations. A
rebuild treats not-yet-visible change ids in the last thousand before its snapshot as
gaps (see ``changes``). ``request_rebuild`` runs one in a background thread when the
index is missing or broken; ``ensure_index`` decides between the two. ``check_index``
compares the index with the database; ``optimise`` merges it into one segment (erasure).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import SearchChange, Thread
from . import build, packs, replica, semantic
from .changes import _session, apply_pending, latest_change_id, store
from .documents import meta_document
from .index import IndexUnavailable, Store, check_schema, read_meta
from .schema import META_ID, SCHEMA_VERSION
from .segment import write_packs

log = logging.getLogger(__name__)

GAP_WINDOW = 1000
PACK_MIN_DOCS = 1000  # smaller segments decode their few postings quickly enough


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


class RebuildCancelled(Exception):
    """A restore from a snapshot superseded this process's background rebuild."""


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
    stop: Callable[[], bool] | None = None,
    defer_vectors: bool = False,
) -> str | None:
    """Build a fresh generation from the database and switch searches to it atomically.

    Returns the new generation's name, or None when another process holds the rebuild
    lock past ``lock_timeout`` (or, with ``only_if_broken``, when the index turned out
    fine once the lock was ours: another process rebuilt it meanwhile). ``procs``: worker
    processes (None: 2 on two cores or more for a large forum, see ``build``). ``stop``:
    raise RebuildCancelled before filling when it returns True (a restore took over).
    ``defer_vectors``: publish the generation with every thread's semantic vector
    pending (the appliers embed them afterwards, ``semantic.embed_pending``) instead of
    embedding them all first - hours for a large forum on two cores; an import's and a
    background rebuild do this, ``flask forum reindex`` embeds before it publishes.
    """
    st = store()
    lock = RebuildLock(st)
    if not lock.acquire(lock_timeout):
        return None
    try:
        if only_if_broken and index_ok():
            return None
        if stop is not None and stop():
            raise RebuildCancelled
        _remove_unpublished(st)
        name, ix = st.new_generation()
        ids = _fill(ix, progress, procs)
        if defer_vectors:
            semantic.defer_ids(st.root / name, ids)  # no-op without the model
        else:
            semantic.fill_ids(st.root / name, ids)
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


def _fill(ix, progress, procs: int | None) -> list[int]:
    """Fill a new generation from a snapshot; returns the visible thread ids it took."""
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
    return ids


# -- background rebuild when the index is missing or broken -----------------------------

_rebuilding: dict[str, threading.Thread] = {}
_cancels: dict[str, threading.Event] = {}
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
        cancel = _cancels[root] = threading.Event()
        worker = threading.Thread(
            target=_background_rebuild,
            args=(app, verify, cancel),
            name="search-rebuild",
            daemon=True,
        )
        _rebuilding[root] = worker
        worker.start()
        return True


def _background_rebuild(
    app: Flask, verify: bool = True, cancel: threading.Event | None = None
) -> None:
    def progress(_done: int, _total: int) -> None:
        if cancel is not None and cancel.is_set():
            raise RebuildCancelled

    with app.app_context():
        try:
            if verify and _restore_configured(app, lock_timeout=0):
                return
            stop = cancel.is_set if cancel is not None else None
            rebuild(
                progress=progress,
                lock_timeout=0,
                only_if_broken=verify,
                stop=stop,
                defer_vectors=True,
            )
        except RebuildCancelled:
            log.info("search index rebuild stopped: a snapshot is being restored instead")
        except Exception:
            log.exception("search index rebuild failed")
        finally:
            db.session.remove()


# The snapshot module sits above this one (it takes and installs generations with the
# rebuild's lock); start-up registers its restorer here (runtime.install_startup).
RESTORER = "forum_search_snapshot_restorer"


def _restore_configured(app: Flask, lock_timeout: float) -> bool:
    """``SEARCH_SNAPSHOT`` names a peer's snapshot: start from it rather than rebuild
    (``snapshot.restore_configured``, registered at start-up); False when unset or
    refused."""
    restorer = app.extensions.get(RESTORER)
    if not app.config.get("SEARCH_SNAPSHOT") or restorer is None:
        return False
    return restorer(app, lock_timeout=lock_timeout)


def rebuilding_here(app: Flask) -> bool:
    """True while this process runs a background rebuild (started at start-up, say)."""
    worker = _rebuilding.get(app.config["SEARCH_INDEX_DIR"])
    return worker is not None and worker.is_alive()


def cancel_background_rebuild(app: Flask, timeout: float = 120.0) -> None:
    """Stop the background rebuild this process began (at start, the index missing) at
    its next chunk of threads, and wait for it: ``search-snapshot restore`` replaces it."""
    root = app.config["SEARCH_INDEX_DIR"]
    cancel = _cancels.get(root)
    if cancel is not None:
        cancel.set()
    wait_for_rebuild(app, timeout)


def wait_for_rebuild(app: Flask, timeout: float | None = 60.0) -> None:
    """Tests and commands: wait for this process's background rebuild to finish."""
    worker = _rebuilding.get(app.config["SEARCH_INDEX_DIR"])
    if worker is not None:
        worker.join(timeout)


def ensure_index(app: Flask) -> bool:
    """True when the index is usable now. A missing, broken or outdated one is restored
    from ``SEARCH_SNAPSHOT`` when that names a usable snapshot, else rebuilt; here when
    the database is small (SEARCH_SYNC_BUILD_MAX threads), else in the background (and
    this returns False)."""
    if index_ok():
        return True
    if _visible_count() <= app.config.get("SEARCH_SYNC_BUILD_MAX", 300):
        if not _restore_configured(app, lock_timeout=30):
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
    return problems + semantic.problems_ids(st.root / st.current_name(), ids)


def optimise() -> None:
    """Apply pending changes, merge the index into one segment (whoosh then deletes the
    old segment files, and with them the words of deleted documents), and delete
    older generations. For account erasure: removed text is gone from disk too."""
    apply_pending(timeout=60)
    st = store()
    writer = st.writer(timeout=60, retire=False)  # erased words leave the disk now
    writer.commit(optimize=True)
    write_missing_packs()
    lock = RebuildLock(st)
    if lock.acquire(timeout=30):
        try:
            st.remove_stale(keep=set())
        finally:
            lock.release()


def write_missing_packs(min_docs: int | None = None) -> int:
    """Write the postings pack (``packs``) of every segment of the index in use with at
    least ``min_docs`` documents that has none or an older one: after ``optimise`` merged
    everything into one segment, for an index built before packs existed or before they
    held positions. Returns how many."""
    ix = store().open_index()
    folder = ix.storage.folder
    missing = [
        seg
        for seg in ix._segments()
        if not packs.up_to_date(packs.pack_path(folder, seg.segment_id()), seg.doc_count_all())
    ]
    return write_packs(
        ix.storage, ix.schema, missing, PACK_MIN_DOCS if min_docs is None else min_docs
    )
