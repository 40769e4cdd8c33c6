"""Wiring: extensions, database pragmas, blueprints, error pages and template helpers."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from . import cleaning, numbers, vocabulary
from .extensions import csrf, db, login_manager
from .services import ServiceError


def init_app(app: Flask) -> None:
    _behind_proxies(app)
    numbers.init_app(app)  # before any blueprint: every <int:...> route uses its converter
    db.init_app(app)
    cleaning.init_app(app)  # no control character is ever flushed into a text column
    login_manager.init_app(app)
    csrf.init_app(app)
    _sqlite_pragmas()

    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .threads import bp as threads_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(threads_bp)
    app.register_blueprint(api_bp)
    from .experiences import bp as experiences_bp

    app.register_blueprint(experiences_bp)
    from . import cli, search

    search.init_app(app)
    from . import feeds, notifications

    notifications.init_app(app)
    feeds.init_app(app)
    cli.init_app(app)
    from . import health

    health.init_app(app)  # /healthz answers before every other request hook
    _error_handlers(app)
    _template_helpers(app)
    from . import moderation, pages, privacy, security

    moderation.init_app(app)
    privacy.init_app(app)
    pages.init_app(app)
    from . import people

    people.init_app(app)
    from .threads import posts, rows

    rows.init_app(app)  # thread-list rows rendered once per distinct row (members' pages)
    posts.init_app(app)  # the thread page's posts, the same way, in the same LRU
    security.init_app(app)  # after every blueprint: it wraps their views in rate limits
    from . import cache

    cache.init_app(app)  # last: its before_request serves hits after every other hook


def _behind_proxies(app: Flask) -> None:
    """``PROXY_COUNT`` reverse proxies in front (nginx: 1) are trusted for X-Forwarded-For,
    -Proto and -Host, so rate limits count per client, not per proxy. 0 trusts none."""
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


_pragmas_installed = False


def _sqlite_pragmas() -> None:
    global _pragmas_installed
    if _pragmas_installed:
        return
    _pragmas_installed = True

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed (erasure)
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return jsonify(error=exc.name, message=exc.description, status=exc.code), exc.code
        return render_template("errors/error.html", error=exc), exc.code

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        if wants_json():
            return jsonify(
                error="refused", message=exc.message, errors=exc.errors, status=exc.status
            ), exc.status
        return render_template("errors/error.html", error=_Err(exc.status, exc.message)), exc.status

    from . import outage

    outage.init_app(app)  # 503 when the database is busy or down


class _Err:
    def __init__(self, code: int, description: str):
        self.code = code
        self.name = {400: "Bad request", 403: "Not allowed", 404: "Not found"}.get(code, "Error")
        self.description = description


def _template_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(
        vocab=vocabulary,
        CONDITIONS=vocabulary.CONDITIONS,
        SIDE_EFFECTS=vocabulary.SIDE_EFFECTS,
        MEDICATIONS=vocabulary.MEDICATIONS,
    )

    @app.template_filter("date")
    def _date(value, fmt: str = "%d %b %Y"):
        return value.strftime(fmt) if value else ""
