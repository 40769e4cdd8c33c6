"""Starting search in a process and wiring it to the database's commits.

At process start (``install_startup``: now when the tables exist, else before the first
request) a missing, broken or outdated index is rebuilt and what is pending applied,
then this process's applier starts. After every commit (``signals.committed``) the
change id it wrote is noted for reading one's own writes and the applier is woken; a
bulk import applies at its checkpoints instead.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, has_request_context, request_started
from flask import session as web_session
from sqlalchemy import inspect

from .. import signals
from ..extensions import db
from ..transfer import import_checkpoint, imports_running
from . import checkpoints, semantic
from .applier import (
    SERVING,
    SESSION_KEY,
    _bulk_importing,
    _committed,
    _install_write_tracking,
    _process_writes,
    ensure_applier,
)
from .changes import apply_pending, pending_state
from .index import IndexUnavailable
from .rebuild import RESTORER, ensure_index, index_ok, rebuild, request_rebuild
from .snapshot import restore_configured

log = logging.getLogger(__name__)

IMPORT_APPLY_LIMIT = 50_000  # change rows per index commit at an import checkpoint


def install_startup(app: Flask) -> None:
    """Run ``startup`` now when the tables exist, else before the first request or
    commit (a new database gets its tables after the blueprints are registered)."""
    app.extensions["forum_search_started"] = False
    app.extensions[RESTORER] = restore_configured

    @app.before_request
    def _search_startup():
        ensure_started(app)

    # Any request - /healthz too, which answers before other hooks - marks a process
    # that serves: its applier may embed pending vectors, and it loads the model soon.
    request_started.connect(_serving, app, weak=False)

    try:
        with app.app_context():
            if inspect(db.engine).has_table("search_changes"):
                ensure_started(app)
    except Exception:
        log.exception("search start-up check failed")


def _serving(app: Flask, **_kw) -> None:
    if not app.extensions.get(SERVING):
        app.extensions[SERVING] = True
        _load_model_soon(app)


def _load_model_soon(app: Flask) -> None:
    """A process that serves pages loads the semantic model (~1-2 s of CPU) in the
    background after its first request, so its first search does not wait for it;
    commands (an import, a role change) never load it unless they embed."""

    def load() -> None:
        with app.app_context():
            semantic.prepare()

    threading.Thread(target=load, name="search-model-load", daemon=True).start()


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


def _on_import_checkpoint(app: Flask, final: bool = False, **_kw) -> None:
    """At the import's checkpoints: apply in large batches, the documents written by the
    rebuild's fast segment builder, in a process beside the import
    (``checkpoints.beside``); at its end (``final``) wait for that process and apply the
    rest (``checkpoints.catch_up``). Concurrent imports in one process (threads) apply
    in the foreground: forking while another thread may hold a lock is not safe. An
    import is a batch job, so a missing index is built here, in the foreground."""
    try:
        if not index_ok():
            rebuild(lock_timeout=600, only_if_broken=True, defer_vectors=True)
        ensure_started(app)
        if final or imports_running() != 1 or not checkpoints.enabled():
            checkpoints.catch_up(IMPORT_APPLY_LIMIT, timeout=60)
        else:
            checkpoints.beside(app)
    except Exception:
        log.exception("applying search changes at an import checkpoint failed")


def connect_signals() -> None:
    signals.committed.connect(_on_committed, weak=False)
    _install_write_tracking()
    import_checkpoint.connect(_on_import_checkpoint, weak=False)
