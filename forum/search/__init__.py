"""Search: the only package that imports whoosh.

Public functions for other packages:

- ``apply_now()`` - apply every recorded search change now (after a commit this
  happens by itself; call it in scripts or tests that need the index current).
- ``purge_and_optimise()`` - for account erasure: apply pending changes (so erased
  posts leave the index), then rewrite the index into one segment and delete old
  generations so no erased word lingers on disk.
- ``vectors_waiting()`` - threads whose semantic vector is still to be computed (an
  import records them; the appliers embed them in the background).
- ``thread_ids(q, limit=)`` - ids of visible threads matching ``q``, best first.
- ``search(q, condition=, side_effect=, medication=, sort=, page=, per_page=)`` in
  ``forum.search.service``; ``document_extras`` signal in ``forum.search.documents``.

How the package fits together (text analysis -> documents -> change applier / rebuild ->
query understanding -> evaluator -> service -> views) is in docs/search.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register search pages, the API route, commands and the after-commit hook, then
    bring the index up to date (rebuilding it when missing, broken or outdated)."""
    app.config.setdefault("SEARCH_WRITE_TIMEOUT", 5.0)
    app.config.setdefault("SEARCH_READ_APPLY_TIMEOUT", 0.5)
    app.config.setdefault("SEARCH_GAP_TIMEOUT", 10.0)
    app.config.setdefault("SEARCH_SYNC_BUILD_MAX", 300)
    from . import cli, follower, runtime
    from .views import bp

    app.register_blueprint(bp)
    cli.init_app(app)
    runtime.connect_signals()
    runtime.install_startup(app)
    follower.init_app(app)  # several app servers: follow, record position, prune


def apply_now() -> int:
    """Apply all pending search changes in this process (waits for the write lock)."""
    from .changes import apply_pending

    return apply_pending(timeout=30)


def vectors_waiting() -> int:
    """Threads of the current index whose semantic vector is still to be computed."""
    from . import semantic
    from .changes import store

    st = store()
    name = st.current_name()
    return semantic.pending_count(st.root / name if name else None)


def thread_ids(q: str, limit: int = 100) -> list[int]:
    """Ids of visible threads matching ``q``, best first (used by the feeds)."""
    from .service import thread_ids as found

    return found(q, limit)


def purge_and_optimise(background: bool = False) -> None:
    """Erasure: make removed text unsearchable at once, then physically gone from the
    index files (one merged segment, old generations deleted).

    Call it after the erasing transaction committed. Applying happens here, before it
    returns; the merge rewrites the whole index (seconds at 10,000 threads), so a web
    request can pass ``background=True`` to run the merge in a thread.
    """
    import threading

    from flask import current_app

    from .changes import apply_pending
    from .rebuild import optimise

    apply_pending(timeout=30)
    if not background:
        optimise()
        return
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            optimise()

    threading.Thread(target=run, name="search-optimise", daemon=True).start()
