"""The azathioprine patient forum."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


_apps: weakref.WeakSet[Flask] = weakref.WeakSet()  # this process's apps, for the exit


@atexit.register
def _freeze_at_exit() -> None:
    """Last of this process's exit handlers (registered first): close the apps' database
    connections, then freeze what is alive, so the interpreter's final garbage collection
    does not walk every object once more on the way out - ~0.45 s of a 2,000-thread
    import on PostgreSQL, ~0.1 s after. The connections are closed here because that
    collection is what closed the ones held in reference cycles: a SQLite database left
    open keeps its write-ahead log beside it, unmerged, and a copy of ``forum.db`` alone
    would miss the latest writes."""
    for app in list(_apps):
        _close_connections(app)
    gc.freeze()


def _close_connections(app: Flask) -> None:
    from .extensions import db

    try:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    except Exception:  # noqa: BLE001 - exiting anyway; the OS closes what is left
        logging.getLogger(__name__).debug("closing connections at exit failed", exc_info=True)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, then the first-start bootstrap."""
    instance_path = os.environ.get("FORUM_INSTANCE_PATH") or str(ROOT / "instance")
    if test_config and test_config.get("INSTANCE_PATH"):
        instance_path = test_config["INSTANCE_PATH"]
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from . import settings

    settings.load(app, test_config)
    from . import instance_files

    instance_files.log_problems(app)  # root-owned files left by a maintenance command

    from . import web

    web.init_app(app)
    from . import bootstrap

    bootstrap.init_app(app)
    _apps.add(app)
    return app


def settle() -> None:
    """Call once a serving process has built its app (gunicorn's ``post_worker_init``,
    ``python app.py``): start-up's garbage is collected, then every object alive now -
    modules, the vocabulary's and lexicon's tables, SQLAlchemy's mappers, ~130,000 objects
    - is moved out of the cyclic collector's sight (``gc.freeze``). Python's full
    collections walked them all again and again: 40-160 ms each, landing on whichever
    request's allocations set one off. After it, ~4 ms. Objects are still freed when
    nothing refers to them; only cycles among the frozen ones would outlive their use,
    and start-up leaves none (collected just before)."""
    gc.collect()
    gc.freeze()


@contextmanager
def settled() -> Iterator[None]:
    """``settle`` for the length of a long command (an import: ~10 full collections of
    the app's start-up objects, 0.6 s of a 5,000-thread import's main process, 0.16 s
    with them frozen); thawed after, so a process that hosts many apps (the tests) still
    collects the ones it drops."""
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
