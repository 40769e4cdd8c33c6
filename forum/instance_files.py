"""Is the instance folder usable by the user this process runs as?

A maintenance command run as root (``flask forum reindex``, ``flask db upgrade`` on SQLite)
leaves root-owned files in the instance folder: the SQLite database, the search index and
its lock, the replica id. The service user can then read but not write them, and search
answers "rebuilding" for ever or the follower stops. ``problems()`` names every such path;
``create_app`` logs them as an error at start and ``/healthz`` reports them (status
"error", 503), so the server leaves the load balancer and the log says what to ``chown``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
MAX_REPORTED = 20
READ_ONLY_OK = {"secret_key"}  # generated once, then only read


def problems(app: Flask) -> list[str]:
    """Paths this process needs to write (or read) but cannot, at most ``MAX_REPORTED``."""
    found: list[str] = []
    for path in _paths(app):
        mode = os.R_OK if path.name in READ_ONLY_OK else os.R_OK | os.W_OK
        if path.exists() and not os.access(path, mode):
            found.append(str(path))
            if len(found) >= MAX_REPORTED:
                break
    return found


def log_problems(app: Flask) -> list[str]:
    found = problems(app)
    if found:
        log.error(
            "instance files not writable by uid %s (a command run as root?): %s; "
            "fix with: chown -R <service user> %s",
            os.getuid(),
            ", ".join(found),
            app.instance_path,
        )
    return found


def _paths(app: Flask):
    """Everything under the instance folder and the index folder; a SQLite database kept
    elsewhere, and its folder (SQLite writes its journal beside it)."""
    trees = [Path(app.instance_path)]
    index = app.config.get("SEARCH_INDEX_DIR")
    if index and not Path(index).is_relative_to(trees[0]):
        trees.append(Path(index))
    for top in trees:
        yield top
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                yield Path(dirpath) / name
    url = make_url(str(app.config.get("SQLALCHEMY_DATABASE_URI") or "sqlite://"))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database).resolve()
        if not database.is_relative_to(trees[0]):
            yield database.parent
            yield database
