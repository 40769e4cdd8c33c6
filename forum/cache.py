"""A per-process page cache for anonymous readers, invalidated by a content version.

Contract:
- Only GET/HEAD requests that carry no cookie and no Authorization header are served from
  or stored in the cache: a signed-in person, anyone with a session (a CSRF token, a
  flash) and API clients with credentials always get a freshly rendered page.
- Only 200 responses with an HTML or JSON body, no Set-Cookie and an untouched empty session
  are stored, so a page that created a session (a form with a new CSRF token) is never shared.
- Every transaction that writes anything bumps ``settings.content_version`` in the same
  transaction (a Session ``before_commit`` hook), and every cached page remembers the
  version it was rendered at: the first request after a commit, in any worker process,
  sees a new version and renders afresh. A rolled-back write bumps nothing.
- Search pages are not cached: they follow the index, which trails the database.
- Entries also expire after ``PAGE_CACHE_SECONDS`` and the cache is bounded in bytes.

Headers added in ``after_request`` (security headers) are applied to cached pages too,
because a hit is returned from ``before_request`` and goes through the normal response path.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request, session
from sqlalchemy import event, text
from sqlalchemy.orm import Session
from werkzeug.http import parse_etags, unquote_etag

from .extensions import db

VERSION_KEY = "content_version"
_SKIP_PREFIXES = ("/search", "/api/v1/search", "/static/", "/login", "/register", "/ask")
_CACHEABLE_TYPES = ("text/html", "application/json")


@dataclass
class _Entry:
    version: str
    stored: float
    status: int
    mimetype: str
    body: bytes
    headers: list[tuple[str, str]] | None = None  # the final headers (WSGI-level entries)


class PageCache:
    """A byte-bounded LRU of rendered pages, safe for threaded workers."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: str, max_age: float) -> _Entry | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            if entry.version != version or time.monotonic() - entry.stored > max_age:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return entry

    def put(self, key: str, entry: _Entry) -> None:
        if len(entry.body) > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = entry
            self.size += len(entry.body)
            while self.size > self.max_bytes and self._items:
                self._drop(next(iter(self._items)))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0

    def _drop(self, key: str) -> None:
        entry = self._items.pop(key)
        self.size -= len(entry.body)


def content_version() -> str:
    """The database's content version: changes with every committed write."""
    row = db.session.execute(
        text("SELECT value FROM settings WHERE key = :k"), {"k": VERSION_KEY}
    ).first()
    return row[0] if row else "0"


def _bump_version(session: Session) -> None:
    """Inside the committing transaction, so the bump commits or rolls back with the write."""
    session.execute(
        text(
            "INSERT INTO settings (key, value) VALUES (:k, '1') ON CONFLICT (key) DO UPDATE "
            "SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)"
        ),
        {"k": VERSION_KEY},
    )


_hooks_installed = False


def _install_session_hooks() -> None:
    """Mark sessions that wrote (ORM flushes or bulk statements); bump before their commit."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True

    @event.listens_for(Session, "after_flush")
    def _flushed(session, _ctx):
        if session.new or session.dirty or session.deleted:
            session.info["forum_wrote"] = True

    @event.listens_for(Session, "do_orm_execute")
    def _bulk(state):
        if state.is_update or state.is_delete or state.is_insert:
            state.session.info["forum_wrote"] = True

    @event.listens_for(Session, "before_commit")
    def _before_commit(session):
        if session.new or session.dirty or session.deleted:
            session.flush()
        if session.info.pop("forum_wrote", False) and _has_settings_table(session):
            _bump_version(session)

    @event.listens_for(Session, "after_rollback")
    def _rolled_back(session):
        session.info.pop("forum_wrote", None)


def _has_settings_table(session: Session) -> bool:
    bind = session.get_bind()
    key = ("forum_settings_table", str(bind.url))
    known = _table_seen.get(key)
    if known:
        return True
    from sqlalchemy import inspect

    found = inspect(session.connection()).has_table("settings")
    if found:
        _table_seen[key] = True
    return found


_table_seen: dict[tuple[str, str], bool] = {}


def _cache_key() -> str | None:
    if request.method not in ("GET", "HEAD"):
        return None
    if request.cookies or "Authorization" in request.headers:
        return None
    if request.path.startswith(_SKIP_PREFIXES):
        return None
    return request.url  # with the host: see PageCacheMiddleware


class _SqliteVersion:
    """The content version read through a private connection per thread, re-read only when
    ``PRAGMA data_version`` says another connection committed since: a few microseconds
    per request instead of a query through the ORM session."""

    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()

    def __call__(self) -> str | None:
        st = self.local
        try:
            if getattr(st, "conn", None) is None:
                st.conn = sqlite3.connect(self.path, isolation_level=None, timeout=5)
                st.data_version = None
            data_version = st.conn.execute("PRAGMA data_version").fetchone()[0]
            if data_version != st.data_version:
                row = st.conn.execute(
                    "SELECT value FROM settings WHERE key = ?", (VERSION_KEY,)
                ).fetchone()
                st.version = row[0] if row else "0"
                st.data_version = data_version
            return st.version
        except sqlite3.Error:
            if getattr(st, "conn", None) is not None:
                st.conn.close()
            st.conn = None
            return None  # no verdict: the request is served without the cache


class PageCacheMiddleware:
    """Serves cache hits before Flask runs at all (SQLite only: the version check needs no
    app context). Misses go through the app; a response it marked storable
    (``X-Page-Cache: miss``) is kept with its final headers (security headers included)."""

    def __init__(self, wsgi_app, cache: PageCache, version: _SqliteVersion, max_age: float):
        self.wsgi_app = wsgi_app
        self.cache = cache
        self.version = version
        self.max_age = max_age

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if (
            method not in ("GET", "HEAD")
            or environ.get("HTTP_COOKIE")
            or environ.get("HTTP_AUTHORIZATION")
            or path.startswith(_SKIP_PREFIXES)
        ):
            return self.wsgi_app(environ, start_response)
        version = self.version()
        if version is None:
            return self.wsgi_app(environ, start_response)
        # The host is part of the key: pages hold absolute links (canonical URLs), so a
        # request with a forged Host header must never fill the cache for everyone else.
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        scheme = environ.get("wsgi.url_scheme", "http")
        key = f"{scheme}://{host}{path}?{environ.get('QUERY_STRING', '')}"
        entry = self.cache.get(key, version, self.max_age)
        if entry is not None and entry.headers is not None:
            if _still_valid(environ, entry.headers):  # the client's copy is this one
                kept = [(k, v) for k, v in entry.headers if k.lower() not in _BODY_HEADERS]
                start_response("304 Not Modified", [*kept, ("X-Page-Cache", "hit")])
                return []
            start_response("200 OK", [*entry.headers, ("X-Page-Cache", "hit")])
            return [] if method == "HEAD" else [entry.body]
        environ["forum.page_cache"] = (key, version)
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        app_iter = self.wsgi_app(environ, capture)
        headers = seen.get("headers") or []
        storable = (
            method == "GET"
            and seen.get("status", "").startswith("200")
            and ("X-Page-Cache", "miss") in headers
            and not any(k.lower() == "set-cookie" for k, _ in headers)
            and not any(k.lower() == "cache-control" and "no-store" in v for k, v in headers)
        )
        if not storable:
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        kept = [(k, v) for k, v in headers if k.lower() not in ("date", "x-page-cache")]
        self.cache.put(key, _Entry(version, time.monotonic(), 200, "", body, kept))
        return [body]


_BODY_HEADERS = ("content-length", "content-type")


def _still_valid(environ, headers: list[tuple[str, str]]) -> bool:
    """If-None-Match names the stored answer's ETag (weak comparison, as for GET)."""
    wanted = environ.get("HTTP_IF_NONE_MATCH")
    etag = next((v for k, v in headers if k.lower() == "etag"), None)
    if not wanted or not etag:
        return False
    return parse_etags(wanted).contains_weak(unquote_etag(etag)[0])


def _sqlite_path(uri: str) -> str | None:
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    return uri.removeprefix("sqlite:///").split("?", 1)[0] or None


def init_app(app: Flask) -> None:
    _install_session_hooks()
    enabled = app.config.get("PAGE_CACHE")
    if enabled is None:
        enabled = not app.testing
    if not enabled:
        return
    cache = PageCache(int(app.config.get("PAGE_CACHE_MAX_BYTES", 32 * 1024 * 1024)))
    app.extensions["forum_page_cache"] = cache
    max_age = float(app.config.get("PAGE_CACHE_SECONDS", 300))
    path = _sqlite_path(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if path:
        app.wsgi_app = PageCacheMiddleware(app.wsgi_app, cache, _SqliteVersion(path), max_age)

    @app.before_request
    def _serve_cached():
        from_wsgi = request.environ.get("forum.page_cache")
        if from_wsgi:  # the middleware checked the version and found no entry
            g.page_cache = (*from_wsgi, True)
            return None
        key = _cache_key()
        if key is None:
            return None
        version = content_version()
        g.page_cache = (key, version, False)
        entry = cache.get(key, version, max_age)
        if entry is None or entry.headers is not None:
            return None
        g.page_cache = None
        resp = Response(entry.body, status=entry.status, mimetype=entry.mimetype)
        resp.headers["X-Page-Cache"] = "hit"
        return resp

    @app.after_request
    def _store(resp: Response) -> Response:
        pending = g.pop("page_cache", None)
        if not pending or resp.status_code != 200 or resp.direct_passthrough:
            return resp
        if resp.mimetype not in _CACHEABLE_TYPES or "Set-Cookie" in resp.headers:
            return resp
        if session.modified or session:  # it will set a cookie: a token or a flash in it
            return resp
        if resp.headers.get("Cache-Control", "").find("no-store") >= 0:
            return resp
        key, version, by_middleware = pending
        if not by_middleware:  # else the middleware keeps it, with the final headers
            body = resp.get_data()
            cache.put(key, _Entry(version, time.monotonic(), 200, resp.mimetype, body))
        resp.headers["X-Page-Cache"] = "miss"
        return resp


def clear(app: Flask | None = None) -> None:
    """Empty this process's cache (tests; the version check makes it unnecessary otherwise)."""
    app = app or current_app
    cache = app.extensions.get("forum_page_cache")
    if cache:
        cache.clear()
