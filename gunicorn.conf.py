"""Gunicorn settings for one app server: `gunicorn -c gunicorn.conf.py` (loads app:app).

Everything an operator usually changes comes from the environment (see docs/deploy.md):

    FORUM_BIND            address to listen on (default 127.0.0.1:8000; nginx in front)
    FORUM_WORKERS         worker processes (default 2 x CPU cores)
    FORUM_THREADS         threads per worker (default 1: plain sync workers)
    FORUM_TIMEOUT         seconds before a stuck worker is killed and replaced (default 30)
    FORUM_FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-* (default 127.0.0.1)
    FORUM_ACCESS_LOG      "-" for stdout (default), a file path, or "off"

The app is not preloaded: each worker builds its own app after the fork, so it opens its
own database connections and its own search index reader and follows the change record.
"""

import multiprocessing
import os
import re


def _env(name: str, default: str) -> str:
    """A setting from the environment; an inline '# comment' (which systemd's
    EnvironmentFile keeps as part of the value) stops the start with a clear message."""
    value = os.environ.get(name) or default
    if re.search(r"\s#", value):
        raise SystemExit(f"{name}={value!r} holds a comment: put it on a line of its own.")
    return value.strip()


def _env_int(name: str, default: int) -> int:
    value = _env(name, str(default))
    if not value.isdigit():
        raise SystemExit(f"{name}={value!r} is not a whole number.")
    return int(value)


wsgi_app = "app:app"
bind = [_env("FORUM_BIND", "127.0.0.1:8000")]
workers = _env_int("FORUM_WORKERS", 2 * multiprocessing.cpu_count())
threads = _env_int("FORUM_THREADS", 1)
timeout = _env_int("FORUM_TIMEOUT", 30)
graceful_timeout = 30
keepalive = 5
preload_app = False
# Replace workers now and then (spread out) so a slow leak cannot grow for ever.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = _env("FORUM_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access log: method, path and status only. No query string (search terms and tokens live
# there: people search for their illnesses), no referrer (it carries the previous page's
# query string), no user agent. gunicorn's %(t)s brings its own [brackets].
_access = _env("FORUM_ACCESS_LOG", "-")
accesslog = None if _access == "off" else _access
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = _env("FORUM_LOG_LEVEL", "info")
proc_name = "aza-forum"
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl), which
# several servers on one machine would fight over; FORUM_CONTROL_SOCKET opts in to one.
control_socket = os.environ.get("FORUM_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("FORUM_CONTROL_SOCKET")


def post_worker_init(worker):
    """Follow the search change record from the start, not from the first request (one
    worker per server follows; the others stand by); then settle the worker's start-up
    objects out of the garbage collector's way (``forum.settle``)."""
    try:
        from forum.search.follower import ensure_follower

        ensure_follower(worker.wsgi)
    except Exception:
        worker.log.exception("could not start the search follower")
    from forum import settle

    settle()
