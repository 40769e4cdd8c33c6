"""Following the change record on every app server, and the replica commands.

The design is in ``replica``: a follower thread per server (the worker process that
holds ``follower.lock`` in the index root) applies what other servers recorded, writes
this replica's safe position, and prunes what every live replica has applied.
``flask forum prune-changes`` and ``flask forum replicas`` do the same by hand.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from ..cli import forum_cli
from ..extensions import db
from ..models import SearchChange
from .applier import ensure_applier
from .changes import apply_pending, current_meta, failure_delay, pending_state
from .index import IndexUnavailable
from .rebuild import request_rebuild
from .replica import ReplicaPosition, prune, record_position, replica_id, safe_position, watermark

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.config.setdefault("SEARCH_FOLLOW", None)  # None: on, except under TESTING
    app.config.setdefault("SEARCH_FOLLOW_INTERVAL", 0.5)
    app.config.setdefault("SEARCH_POSITION_INTERVAL", 5.0)
    app.config.setdefault("SEARCH_PRUNE_INTERVAL", 60.0)
    app.config.setdefault("SEARCH_REPLICA_LIVE_SECONDS", 3600.0)
    app.config.setdefault("SEARCH_CHANGES_MIN_AGE", 600.0)
    app.config.setdefault("SEARCH_CHANGES_MAX_AGE", 86400.0)
    app.config.setdefault("SEARCH_GAP_MAX_AGE", 3600.0)

    @app.before_request
    def _start_following():
        ensure_follower(app)


# -- the follower thread ------------------------------------------------------------------

_followers: dict[str, Follower] = {}
_followers_lock = threading.Lock()


def ensure_follower(app: Flask) -> None:
    """Start this process's follower thread for the app's index (once)."""
    enabled = app.config.get("SEARCH_FOLLOW")
    if enabled is None:
        enabled = not app.testing
    if not enabled or float(app.config.get("SEARCH_FOLLOW_INTERVAL") or 0) <= 0:
        return
    root = os.path.abspath(app.config["SEARCH_INDEX_DIR"])
    follower = _followers.get(root)
    if follower is not None and follower.is_alive() and follower.pid == os.getpid():
        return
    with _followers_lock:
        follower = _followers.get(root)
        if follower is None or not follower.is_alive() or follower.pid != os.getpid():
            follower = _followers[root] = Follower(app, root)
            follower.start()


class Follower(threading.Thread):
    """Applies other servers' changes, records this replica's position, prunes."""

    def __init__(self, app: Flask, root: str):
        super().__init__(name="search-follower", daemon=True)
        self.app = app
        self.root = Path(root)
        self.pid = os.getpid()
        self.lock_fd: int | None = None
        self.stop_event = threading.Event()
        self.last_position: tuple[int, float] = (-1, 0.0)
        self.last_prune = 0.0
        self.delays: list[float] = []  # the last waits between rounds (tests read them)

    def run(self) -> None:
        interval = float(self.app.config["SEARCH_FOLLOW_INTERVAL"])
        failures = 0
        while not self.stop_event.is_set():
            if not self._leader():
                self.stop_event.wait(max(interval, 2.0))
                continue
            wait = interval
            with self.app.app_context():
                try:
                    self.tick()
                    failures = 0
                except Exception as exc:
                    # The database may be down: say so once, then retry (failure_delay:
                    # at most ~2 s while it cannot be reached, up to 30 s otherwise).
                    if failures == 0:
                        log.exception("search follower: this round failed; retrying")
                    else:
                        log.warning("search follower: still failing: %s", exc)
                    failures += 1
                    wait = failure_delay(failures, interval, exc)
                finally:
                    db.session.remove()
            self.delays.append(wait)
            del self.delays[:-50]
            self.stop_event.wait(wait)

    def _leader(self) -> bool:
        """One follower per index root: the worker holding ``follower.lock``."""
        if self.lock_fd is not None:
            return True
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "follower.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.lock_fd = fd
        return True

    def tick(self) -> None:
        config = self.app.config
        try:
            applied, newest, gaps = pending_state()
            if newest > applied or gaps:
                applier = ensure_applier(self.app)
                if applier is not None:
                    applier.wake.set()  # it batches and paces the index writes
                else:
                    apply_pending(timeout=config.get("SEARCH_READ_APPLY_TIMEOUT", 0.5))
            meta = current_meta()
            position = safe_position(int(meta.get("applied", 0)), meta.get("gaps", {}))
        except IndexUnavailable:
            request_rebuild(self.app)
            return
        now = time.monotonic()
        last, when = self.last_position
        every = float(config["SEARCH_POSITION_INTERVAL"])
        # A moved position is written at most every few seconds, an unmoved one as a
        # heartbeat (it keeps this replica "live", so pruning waits for it).
        if now - when >= (every if position != last else every * 6):
            with db.engine.begin() as conn:
                record_position(conn, replica_id(self.app), position)
            self.last_position = (position, now)
        if now - self.last_prune > float(config["SEARCH_PRUNE_INTERVAL"]):
            self.last_prune = now
            with db.engine.begin() as conn:
                removed = prune(conn, config)
            if removed:
                log.info("pruned %d search changes every replica has applied", removed)


# -- commands -----------------------------------------------------------------------------


@forum_cli.command("prune-changes")
@click.option(
    "--max-age",
    type=float,
    default=None,
    help="Also delete changes older than this many seconds, whatever replicas need "
    "(default SEARCH_CHANGES_MAX_AGE). Replicas behind them rebuild themselves.",
)
def prune_changes_command(max_age: float | None) -> None:
    """Delete search changes every live replica has applied (the followers do this too)."""
    config = dict(current_app.config)
    if max_age is not None:
        config["SEARCH_CHANGES_MAX_AGE"] = max_age
    with db.engine.begin() as conn:
        removed = prune(conn, config)
        mark = watermark(conn)
    click.echo(f"Pruned {removed} change(s); changes below id {mark} are gone.")


@forum_cli.command("replicas")
def replicas_command() -> None:
    """List every app server's search replica and how far it has followed."""
    with db.engine.connect() as conn:
        newest = conn.scalar(select(func.max(SearchChange.id))) or 0
        rows = conn.execute(
            select(ReplicaPosition.__table__).order_by(ReplicaPosition.replica_id)
        ).all()
    click.echo(f"newest change: {newest}")
    for row in rows:
        behind = max(newest - row.applied_change_id, 0)
        seen = f"{row.updated_at:%Y-%m-%d %H:%M:%S}"
        click.echo(
            f"{row.replica_id}  applied {row.applied_change_id}  behind {behind}  seen {seen}"
        )
