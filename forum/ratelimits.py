"""Rate limits (Flask-Limiter) on sign-in, registration, posting, reporting and search.

* Where counts live: ``RATELIMIT_STORAGE_URI``. Unset, it is a SQLite file in the
  instance folder (forum/ratelimit_storage.py), shared by every worker of one machine,
  so a limit holds exactly however many workers gunicorn runs. Several machines share
  a Redis (``redis://host:6379``). ``memory://`` counts per process (tests only).
* When that store fails (Redis down, the file locked) requests are still served: a
  warning is logged and the same limits are counted in this process's memory until the
  store answers again (Flask-Limiter's in-memory fallback; its errors are swallowed).
* Sign-in follows OWASP's guidance. Only failed attempts (a 400 from the login view)
  count (every attempt takes a slot first, so the limit holds exactly under concurrency,
  and gets it back unless it failed), per address (``login``: stops spraying many
  accounts) and per account from one address (``login_account``: stops guessing one
  account), so a brute force from one
  place cannot lock the owner out from another. A browser the account has signed in
  from before carries a signed "trusted device" cookie: its attempts at that account
  skip both address limits and count per device instead (``login_device``), so the
  owner gets in even from the attacker's address (a shared network).
* Categories are matched on the URL rule so a renamed view keeps its limit;
  ``RATE_LIMITS`` in config overrides the numbers; ``RATELIMIT_ENABLED = False`` turns
  every limit off.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import user_logged_in
from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import ratelimit_storage

DEFAULT_RATE_LIMITS = {
    "login": "10 per minute;60 per hour",
    "login_account": "5 per minute;20 per hour",
    "login_device": "10 per minute;60 per hour",
    "register": "5 per hour",
    "posting": "10 per minute;60 per hour",
    "reporting": "10 per minute;30 per hour",
    "search": "60 per minute",
}
log = logging.getLogger(__name__)
DEVICE_COOKIE = "forum_device"
DEVICE_MAX_AGE = 180 * 86400


def init_app(app: Flask) -> None:
    """Create this app's limiter and wrap the views of every registered blueprint."""
    _configure_storage(app)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # One limiter per app (tests build many apps; each keeps its own counts and switch).
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    app.extensions["forum_limiter"] = limiter
    _apply_rate_limits(app, limiter)
    user_logged_in.connect(_trust_this_device, app)
    app.after_request(_set_device_cookie)
    app.after_request(_refund_unless_failed)


def _configure_storage(app: Flask) -> None:
    cfg = app.config
    if not cfg.get("RATELIMIT_STORAGE_URI"):
        path = Path(app.instance_path) / "ratelimits.db"
        cfg["RATELIMIT_STORAGE_URI"] = ratelimit_storage.uri_for(path)
    if cfg["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # An unreachable Redis must fail fast, not hang the request.
        cfg.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1}
        )
    cfg.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    cfg.setdefault("RATELIMIT_SWALLOW_ERRORS", True)


def rate_limit_category(rule) -> str | None:
    path = rule.rule
    methods = rule.methods or set()
    if path.endswith(("/search", "/search.atom")):
        return "search"
    if "POST" not in methods:
        return None
    if path in ("/login", "/api/v1/login"):
        return "login"
    if path in ("/register", "/join"):
        return "register"
    if "report" in path:
        return "reporting"
    if path in ("/ask", "/api/v1/threads") or "repl" in path or path.endswith("/edit"):
        return "posting"
    return None


def _apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    limits = {**DEFAULT_RATE_LIMITS, **app.config.get("RATE_LIMITS", {})}
    app.extensions["forum_rate_limited"] = wrapped = {}
    for rule in app.url_map.iter_rules():
        category = rate_limit_category(rule)
        if category is None or rule.endpoint in wrapped:
            continue
        view = app.view_functions[rule.endpoint]
        if category == "login":
            view = _sign_in_limits(limiter, limits)(view)
        else:
            methods = ["GET", "HEAD"] if category == "search" else ["POST"]
            view = limiter.shared_limit(limits[category], scope=category, methods=methods)(view)
        app.view_functions[rule.endpoint] = view
        wrapped[rule.endpoint] = category


def _sign_in_limits(limiter: Limiter, limits: dict[str, str]):
    """Three limits on a sign-in view; an attempt takes a slot in each that applies (so
    concurrent attempts in many workers cannot overshoot), and ``_refund_unless_failed``
    gives the slots back when the attempt did not fail."""
    by_address = limiter.shared_limit(
        limits["login"], scope="login", methods=["POST"], exempt_when=_trusted_device
    )
    by_account = limiter.shared_limit(
        limits["login_account"], scope="login_account", methods=["POST"],
        key_func=_address_and_account, exempt_when=_trusted_device,
    )  # fmt: skip
    by_device = limiter.shared_limit(
        limits["login_device"], scope="login_device", methods=["POST"],
        key_func=_device_id, exempt_when=lambda: not _trusted_device(),
    )  # fmt: skip
    return lambda view: by_address(by_account(by_device(view)))


def _refund_unless_failed(response):
    """Only failed sign-ins count: a success, or an attempt refused before the password was
    checked (429, 503), gives back what it took. The login view answers 400 for a wrong
    name or password. Fixed-window counts go down by one; the store's errors are logged."""
    limited = current_app.extensions["forum_rate_limited"]
    if request.method != "POST" or limited.get(request.endpoint) != "login":
        return response
    if response.status_code in (400, 401):
        return response
    limiter = current_app.extensions["forum_limiter"]
    try:
        for taken in limiter.current_limits:
            limiter.limiter.hit(taken.limit, *taken.request_args, cost=-1)
    except Exception:
        log.warning("could not give back a sign-in attempt to the rate limit", exc_info=True)
    return response


def _normal(identifier: str | None) -> str:
    """How the sign-in form's name or email is matched (as auth.service.authenticate)."""
    return " ".join((identifier or "").split()).lower()[:320]


def _digest(identifier: str) -> str:
    return hashlib.sha256(_normal(identifier).encode()).hexdigest()[:20]


def _named_account() -> str:
    data = request.form if request.form else (request.get_json(silent=True) or {})
    value = data.get("display_name") or data.get("name") or ""
    return _normal(value if isinstance(value, str) else "")


def _address_and_account() -> str:
    return f"{get_remote_address()}|{_digest(_named_account())}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="trusted-device")


def _device() -> dict | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=DEVICE_MAX_AGE)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


def _trusted_device() -> bool:
    """This browser signed in to the account named in the form before."""
    device = _device()
    named = _named_account()
    return bool(device and named and _digest(named) in device.get("a", []))


def _device_id() -> str:
    device = _device() or {}
    return str(device.get("n") or "none")


def _trust_this_device(_app, user, **_) -> None:
    """Receiver of Flask-Login's ``user_logged_in``: remember this browser for this account."""
    if not has_request_context():
        return
    names = [d for d in (user.display_name, getattr(user, "email", None)) if d]
    device = _device() or {}
    known = [a for a in device.get("a", []) if isinstance(a, str)]
    accounts = list(dict.fromkeys([*(_digest(n) for n in names), *known]))[:10]
    g.trusted_device = {"n": device.get("n") or secrets.token_urlsafe(16), "a": accounts}


def _set_device_cookie(response):
    device = g.pop("trusted_device", None)
    if device is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            _serializer().dumps(device),
            max_age=DEVICE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE") or request.is_secure),
        )
    return response
