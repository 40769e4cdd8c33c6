"""Security wiring: headers, cookies, safe redirects, rate limits and hostile bodies.

Call ``init_app`` after every blueprint is registered: it wraps their views in rate limits.

* Headers on every response: a Content-Security-Policy with no inline script, nosniff,
  ``Referrer-Policy: same-origin`` (search terms never leave in a Referer), no framing.
  ``Cache-Control: no-store`` on every page for a signed-in person and on private paths.
* Cookies are HttpOnly and SameSite=Lax (forum/config.py). ``SESSION_COOKIE_SECURE`` /
  ``REMEMBER_COOKIE_SECURE`` (``FORUM_SESSION_COOKIE_SECURE=true``) force Secure; in any
  case a response to an HTTPS request (``request.is_secure``, so run behind a proxy that
  sets X-Forwarded-Proto, which gunicorn trusts from ``forwarded_allow_ips``) marks every
  cookie it sets Secure.
* ``safe_next(url)``: only same-site relative paths survive as a redirect target.
* Rate limits on sign-in, registration, posting, reporting and search: forum/ratelimits.py.
* Request bodies over ``MAX_CONTENT_LENGTH`` get a friendly 413; form or JSON bodies that
  are not valid UTF-8 get a 400 before anything reads them.
* The dev server's access log drops the query string of search URLs (gunicorn's access log
  format in gunicorn.conf.py leaves out every query string).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlsplit

from flask import Flask, Response, has_request_context, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from . import ratelimits

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PRIVATE_PREFIXES = ("/account", "/moderation", "/notifications", "/me", "/drafts")


def safe_next(target: str | None, default: str | None = None) -> str | None:
    """``target`` when it is a path on this site, else ``default``.

    Refuses absolute and scheme-relative URLs (``//evil.com``, ``/\\evil.com``,
    ``https:evil.com``, ``javascript:``), control characters (browsers drop tabs and
    newlines, turning ``/\\t/evil.com`` into ``//evil.com``) and anything not starting
    with a single slash.
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target) or "\\" in target:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def init_app(app: Flask) -> None:
    ratelimits.init_app(app)
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_invalid_utf8)
    # First in the list = runs last, after Flask-Login has set the remember-me cookie.
    app.after_request_funcs.setdefault(None, []).insert(0, _security_headers)
    app.session_interface = _SessionInterface()
    _error_pages(app)
    _quiet_search_logs()
    app.jinja_env.globals["safe_next"] = safe_next


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when configured so or when this request came by HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = super().get_cookie_secure(app)
        return bool(configured or (has_request_context() and request.is_secure))


def _refuse_invalid_utf8():
    """Form and JSON bodies must decode as UTF-8: a 400, never a 500 or mojibake."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    mimetype = request.mimetype
    if mimetype not in ("application/x-www-form-urlencoded", "application/json", "text/plain"):
        return None
    data = request.get_data(cache=True)
    try:
        if mimetype == "application/x-www-form-urlencoded":
            parse_qsl(data.decode("utf-8"), errors="strict", keep_blank_values=True)
        else:
            data.decode("utf-8")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The request was not valid UTF-8 text.") from exc
    return None


def _security_headers(resp: Response) -> Response:
    headers = resp.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if _private(resp):
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
        resp.vary.add("Cookie")
    if request.is_secure:
        cookies = headers.getlist("Set-Cookie")
        if cookies and any("secure" not in c.lower() for c in cookies):
            headers.remove("Set-Cookie")
            for cookie in cookies:
                secure = "; secure" in cookie.lower()
                headers.add("Set-Cookie", cookie if secure else cookie + "; Secure")
    return resp


def _private(resp: Response) -> bool:
    if request.path.startswith("/static/"):
        return False
    if request.path.startswith(PRIVATE_PREFIXES):
        return True
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - no user loader context (e.g. an early error)
        return False


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.mimetype == "application/json"


class _Err:
    def __init__(self, code: int, name: str, description: str):
        self.code, self.name, self.description = code, name, description


def _error_pages(app: Flask) -> None:
    @app.errorhandler(413)
    def too_large(_exc):
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        message = (
            f"That was more than we can accept in one go ({limit // 1024} KiB). "
            "Please shorten the text and try again."
        )
        if _wants_json():
            return jsonify(error="Too large", message=message, status=413), 413
        return render_template("errors/error.html", error=_Err(413, "Too large", message)), 413

    @app.errorhandler(429)
    def too_many(_exc):
        message = (
            "You are doing that a bit too often. Please wait a minute and try again; "
            "this limit keeps the forum safe from spam."
        )
        if _wants_json():
            return jsonify(error="Too many requests", message=message, status=429), 429
        err = _Err(429, "Please slow down", message)
        return render_template("errors/error.html", error=err), 429


_SEARCH_QUERY = re.compile(r"(/(?:api/v1/)?search(?:\.atom)?)\?[^\s\"]*")


class StripSearchTerms(logging.Filter):
    """Removes the query string from search URLs in log records (people search illnesses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "search?" in record.msg:
            record.msg = _SEARCH_QUERY.sub(r"\1?[query removed]", record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                _SEARCH_QUERY.sub(r"\1?[query removed]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _quiet_search_logs() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, StripSearchTerms) for f in logger.filters):
        logger.addFilter(StripSearchTerms())
