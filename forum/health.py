"""``GET /healthz``: can this app server take traffic, and how far does its index trail?

Answers 200 while the database answers (even when the search index lags or is being
rebuilt: pages still work and search results are loaded from the database), 503 when the
database does not, or when files in the instance folder are not writable by this process
(left by a maintenance command run as root: see forum/instance_files.py). The body, for a
load balancer and a person alike::

    {"status": "ok" | "degraded" | "error",
     "database": "ok" | "error",
     "index": {"state": "ok" | "behind" | "unavailable" | "unknown",
               "applied_change_id", "latest_change_id", "lag_changes", "lag_seconds"},
     "instance": {"state": "ok" | "unwritable", "paths": [...]},
     "semantic": {"state": "on" | "off", "reason": "..."}}

"degraded" means the index is unavailable or more than ``HEALTH_MAX_INDEX_LAG_SECONDS``
behind. "semantic" says whether search fuses the sentence-model ranking with the lexical
one, and why not when it is off (search then works lexically; status is not affected).
The check runs before every other request hook (page cache, rate limits, sessions),
so it answers even when those depend on a database that is down, and it is never cached.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from sqlalchemy import func, select, text

from . import instance_files
from .extensions import db
from .models import SearchChange, utcnow

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "health.check", healthz)
    app.before_request_funcs.setdefault(None, []).insert(0, _answer_first)


def _answer_first():
    if request.path == "/healthz" and request.method in ("GET", "HEAD"):
        return healthz()
    return None


def healthz():
    _follow()
    database_ok = _database_ok()
    index = index_state() if database_ok else {"state": "unknown"}
    limit = float(current_app.config.get("HEALTH_MAX_INDEX_LAG_SECONDS", 30))
    unwritable = instance_files.problems(current_app)
    if not database_ok or unwritable:
        status = "error"
    elif index["state"] == "unavailable" or (index.get("lag_seconds") or 0) > limit:
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "database": "ok" if database_ok else "error",
        "index": index,
        "instance": {"state": "unwritable" if unwritable else "ok", "paths": unwritable},
        "semantic": semantic_state(),
    }
    resp = jsonify(body)
    resp.status_code = 503 if status == "error" else 200
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _follow() -> None:
    """Load balancers poll this: make sure this server follows the change record."""
    try:
        from .search.follower import ensure_follower
    except ImportError:  # pragma: no cover - search not installed
        return
    ensure_follower(current_app._get_current_object())


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("health check: database unreachable", exc_info=True)
        db.session.rollback()
        return False


def index_state() -> dict:
    """The index's position in the change record, against the newest change."""
    latest = db.session.scalar(select(func.max(SearchChange.id))) or 0
    applied = _applied_change_id()
    if applied is None:
        return {
            "state": "unavailable",
            "applied_change_id": None,
            "latest_change_id": latest,
            "lag_changes": None,
            "lag_seconds": None,
        }
    pending, oldest = db.session.execute(
        select(func.count(SearchChange.id), func.min(SearchChange.created_at)).where(
            SearchChange.id > applied
        )
    ).one()
    lag_seconds = round((utcnow() - oldest).total_seconds(), 3) if oldest else 0.0
    db.session.rollback()  # end the read transaction: this process keeps no snapshot open
    return {
        "state": "behind" if pending else "ok",
        "applied_change_id": applied,
        "latest_change_id": latest,
        "lag_changes": pending,
        "lag_seconds": max(lag_seconds, 0.0),
    }


def _applied_change_id() -> int | None:
    """The last change id this server's index applied, or None when it has no index."""
    try:
        from .search.index import IndexUnavailable, read_meta, store_for
    except ImportError:  # pragma: no cover - search not installed
        return None
    try:
        searcher = store_for(current_app.config["SEARCH_INDEX_DIR"]).searcher()
        return int(read_meta(searcher).get("applied") or 0)
    except IndexUnavailable:
        return None


def semantic_state() -> dict:
    """{"state": "on" | "off", "reason"}: the semantic second opinion of search."""
    try:
        from .search.index import store_for
        from .search.semantic import state
    except ImportError:  # pragma: no cover - search not installed
        return {"state": "off", "reason": "search not installed"}
    st = store_for(current_app.config["SEARCH_INDEX_DIR"])
    name = st.current_name()
    try:
        on, reason = state(st.root / name if name else None)
    except Exception as exc:  # a broken vector file must not break the health check
        log.warning("health check: semantic state failed", exc_info=True)
        on, reason = False, f"error: {exc!r}"
    return {"state": "on" if on else "off", "reason": reason}
