"""The background applier, and reading one's own writes.

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
With nothing to apply, the applier embeds the semantic vectors an import or a backlog
left pending (``semantic.embed_pending``, a chunk a round, one process at a time), with
the same rest after it.

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
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref

from flask import Flask, current_app, has_request_context
from flask import session as web_session
from sqlalchemy import event
from sqlalchemy.orm import Session
from whoosh.index import LockError

from ..extensions import db
from ..models import SearchChange
from ..transfer import importing
from . import semantic
from .changes import (
    _apply_with,
    apply_batch,
    apply_pending,
    current_meta,
    failure_delay,
    latest_change_id,
    pending_state,
    store,
)
from .index import IndexUnavailable
from .rebuild import ensure_index

log = logging.getLogger(__name__)

APPLIER_BUSY_RETRY = 0.1
EMBED_CHUNK = 32  # default SEARCH_SEMANTIC_EMBED_CHUNK: threads embedded per round
EXIT_WAIT = 15.0  # seconds a process's exit waits for its appliers to finish a round
SERVING = "forum_search_serving"  # app.extensions key: set once this process served a page
SESSION_KEY = "search_after"


# -- reading one's own writes ----------------------------------------------------------


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


def _bulk_importing() -> bool:
    return importing()


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
                        else:  # nothing to apply: vectors an import left pending
                            embedded, seconds = self.embed_once()
                            if embedded:
                                rest = seconds * float(app.config.get("SEARCH_APPLY_REST", 1.0))
                                _set_rest(root, rest)
                                delay = rest
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
                with app.app_context():
                    delay = failure_delay(failures, sweep, exc)
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
        done = 0
        while True:  # one commit per SEARCH_APPLY_BATCH rows: a backlog shows as it goes
            try:
                writer = store().writer(None, timeout=0)
            except LockError:
                return done, not done, time.thread_time() - started
            try:
                batch = _apply_with(writer)
            except BaseException:
                writer.cancel()
                raise
            done += batch
            self.applied = max(self.applied, int(current_meta().get("applied", 0)))
            if batch < apply_batch() or self.stop_event.is_set():
                return done, False, time.thread_time() - started

    def embed_once(self) -> tuple[int, float]:
        """Embed a chunk of the vectors an import or a backlog left pending
        (``SEARCH_SEMANTIC_EMBED_CHUNK`` threads, 0: never here; only in a process
        that serves pages, never in a command's): (threads done, CPU
        seconds of this thread). The rest after it, like an apply's, keeps a forum
        that is catching up its vectors from taking a whole core from the requests."""
        chunk = int(current_app.config.get("SEARCH_SEMANTIC_EMBED_CHUNK", EMBED_CHUNK) or 0)
        if chunk <= 0 or not current_app.extensions.get(SERVING):
            return 0, 0.0  # a command (an import, say) leaves them to the servers
        st = store()
        name = st.current_name()
        if not name:
            return 0, 0.0
        started = time.thread_time()
        done = semantic.embed_pending(st.root / name, limit=chunk, lock_timeout=0.5)
        return done, time.thread_time() - started

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


@atexit.register
def _stop_appliers_at_exit() -> None:
    """Stop this process's appliers and let a round in progress finish before the
    interpreter goes: an applier thread killed inside onnxruntime (embedding a chunk of
    pending vectors, ~1-2 s) aborted the whole process at its exit ("terminate called
    without an active exception", SIGABRT) - a gunicorn worker replaced after
    ``max_requests``, a server stopped. An applier that is resting wakes and ends at once.
    Registered after ``_apply_own_writes_at_exit``, so it runs before it."""
    mine = [a for a in list(_appliers) if a.pid == os.getpid()]
    for applier in mine:
        applier.stop()
    deadline = time.monotonic() + EXIT_WAIT
    for applier in mine:
        if applier.is_alive() and applier is not threading.current_thread():
            applier.join(max(0.0, deadline - time.monotonic()))
