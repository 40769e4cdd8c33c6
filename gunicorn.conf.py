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

wsgi_app = "app:app"
bind = [os.environ.get("FORUM_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("FORUM_WORKERS") or 2 * multiprocessing.cpu_count())
threads = int(os.environ.get("FORUM_THREADS") or 1)
timeout = int(os.environ.get("FORUM_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
preload_app = False
# Replace workers now and then (spread out) so a slow leak cannot grow for ever.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("FORUM_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access log: method, path and status only. No query string (search terms and tokens live
# there: people search for their illnesses), no referrer (it carries the previous page's
# query string), no user agent.
_access = os.environ.get("FORUM_ACCESS_LOG", "-")
accesslog = None if _access == "off" else _access
access_log_format = '%(h)s [%(t)s] "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("FORUM_LOG_LEVEL", "info")
proc_name = "aza-forum"
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl), which
# several servers on one machine would fight over; FORUM_CONTROL_SOCKET opts in to one.
control_socket = os.environ.get("FORUM_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("FORUM_CONTROL_SOCKET")


def post_worker_init(worker):
    """Follow the search change record from the start, not from the first request (one
    worker per server follows; the others stand by)."""
    try:
        from forum.search.replica import ensure_follower

        ensure_follower(worker.wsgi)
    except Exception:
        worker.log.exception("could not start the search follower")
