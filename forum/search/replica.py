"""Several app servers, one truth: this server's index is a replica of the change record.

Each app server keeps its own index (no shared filesystem, no lock between machines) and
follows the database's ordered ``search_changes`` record:

* **Following.** A background thread per server (the worker process that holds
  ``follower.lock`` in the index root; the others stand by) checks ``max(id)`` every
  ``SEARCH_FOLLOW_INTERVAL`` seconds (0.5) and applies what is pending, so a post made on
  another server is searchable here within about a second. It starts when a gunicorn
  worker boots (``gunicorn.conf.py``) or with the first request (``/healthz`` included),
  never in ``flask`` commands.
* **Positions.** The follower records its *safe position* (the highest id below which it
  needs nothing more: its applied id, or just below its lowest open gap) in
  ``replica_positions`` under a stable id kept in the instance folder (``replica-id``).
* **Pruning.** Changes are deleted once every live replica (position updated within
  ``SEARCH_REPLICA_LIVE_SECONDS``) is past them and they are older than
  ``SEARCH_CHANGES_MIN_AGE`` seconds, and after ``SEARCH_CHANGES_MAX_AGE`` (a day)
  whatever a stopped replica would have needed. The prune watermark (every id below it may
  be gone) is stored in ``settings`` in the same transaction as the delete.
* **Falling behind.** A replica whose applied id is below the watermark missed changes
  it can no longer read: ``check_not_pruned`` makes it count as broken, so it rebuilds
  itself from the database (in the background; searches use the old index meanwhile).
  A fresh server has no index and builds one from the database, then follows.
* **Late commits on PostgreSQL.** Sequence ids are handed out before commit, so id 41 can
  commit after id 42. ``sync`` remembers such holes as gaps; ``gap_horizon`` and
  ``gap_settled`` let it forget a gap only once every transaction that could still commit
  it has ended (the snapshot's ``xmin`` has passed it), however long that takes.

Writes here use a Core connection, not the ORM session, so they are not content changes
(the page cache's version does not move every few seconds).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..cli import forum_cli
from ..extensions import db
from ..models import SearchChange, Setting, utcnow

log = logging.getLogger(__name__)

WATERMARK_KEY = "search_changes_pruned_below"


class ReplicaPosition(db.Model):
    """How far one app server's search index has followed the change record."""

    __tablename__ = "replica_positions"

    replica_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_change_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


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


# -- identity and positions ------------------------------------------------------------


def replica_id(app: Flask) -> str:
    """This server's stable id, generated once into the instance folder."""
    path = Path(app.instance_path) / "replica-id"
    if not path.exists():
        tmp = path.with_name(f".replica-id.{os.getpid()}")
        tmp.write_text(f"{os.uname().nodename[:30]}-{secrets.token_hex(8)}\n")
        try:
            os.link(tmp, path)  # first writer wins when several workers start at once
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def safe_position(applied: int, gaps) -> int:
    """The highest id such that this replica needs no change at or below it."""
    open_gaps = [int(g) for g in gaps]
    return min([applied, *(g - 1 for g in open_gaps)])


def record_position(conn: Connection, rid: str, position: int) -> None:
    table = ReplicaPosition.__table__
    values = {"applied_change_id": position, "updated_at": utcnow()}
    done = conn.execute(update(table).where(table.c.replica_id == rid).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(table).values(replica_id=rid, **values))


def watermark(conn: Connection | Session) -> int:
    """Every change id below this may have been pruned."""
    value = conn.scalar(select(Setting.value).where(Setting.key == WATERMARK_KEY))
    return int(value) if value else 0


def check_not_pruned(conn: Connection | Session, applied: int) -> None:
    """Raise IndexUnavailable when changes after ``applied`` were pruned before this
    replica read them: it must rebuild from the database."""
    mark = watermark(conn)
    if applied + 1 < mark:
        from .index import IndexUnavailable

        raise IndexUnavailable(
            f"the index applied change {applied} but changes below {mark} were pruned"
        )


# -- pruning ----------------------------------------------------------------------------


def prune(conn: Connection, config) -> int:
    """Delete changes no live replica needs (see the module docstring); returns how many."""
    now = utcnow()
    changes = SearchChange.__table__
    newest = conn.scalar(select(func.max(changes.c.id)))
    if newest is None:
        return 0
    live_since = now - timedelta(seconds=float(config["SEARCH_REPLICA_LIVE_SECONDS"]))
    positions = ReplicaPosition.__table__
    slowest = conn.scalar(
        select(func.min(positions.c.applied_change_id)).where(positions.c.updated_at >= live_since)
    )
    below = 0
    if slowest is not None:
        young = now - timedelta(seconds=float(config["SEARCH_CHANGES_MIN_AGE"]))
        first_young = conn.scalar(
            select(func.min(changes.c.id)).where(changes.c.created_at >= young)
        )
        below = min(slowest + 1, first_young if first_young is not None else newest + 1)
    old = now - timedelta(seconds=float(config["SEARCH_CHANGES_MAX_AGE"]))
    first_recent = conn.scalar(select(func.min(changes.c.id)).where(changes.c.created_at >= old))
    below = max(below, first_recent if first_recent is not None else newest + 1)
    # Never the newest row: SQLite would hand its id out again to the next change.
    below = min(below, newest)
    if below <= watermark(conn):
        return 0
    _raise_watermark(conn, below)
    deleted = conn.execute(delete(changes).where(changes.c.id < below)).rowcount
    conn.execute(delete(positions).where(positions.c.updated_at < old))  # replicas gone for a day
    return deleted


def _raise_watermark(conn: Connection, value: int) -> None:
    table = Setting.__table__
    done = conn.execute(
        update(table)
        .where(table.c.key == WATERMARK_KEY)
        .where(cast(table.c.value, Integer) < value)
        .values(value=str(value))
    )
    if done.rowcount == 0 and watermark(conn) == 0:
        conn.execute(insert(table).values(key=WATERMARK_KEY, value=str(value)))


# -- late commits (PostgreSQL) ----------------------------------------------------------


def gap_horizon(session: Session) -> int | None:
    """PostgreSQL: the next transaction id. A gap first seen now belongs to a transaction
    with a smaller id (it took its sequence number before the row we saw). None elsewhere:
    SQLite commits one writer at a time, in id order."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")))


def oldest_running(session: Session) -> int | None:
    """PostgreSQL: the oldest transaction id still running (the snapshot's xmin)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")))


def gap_settled(seen: float, horizon: int | None, xmin: int | None, now: float, config) -> bool:
    """May a gap be forgotten? On PostgreSQL once every transaction older than its
    horizon has ended (``xmin`` read before the rows were: a commit it missed would have
    shown in them), however long that takes, and at least a second (or
    ``SEARCH_GAP_TIMEOUT`` if shorter) after it was seen; elsewhere, or without a horizon,
    after ``SEARCH_GAP_TIMEOUT``. Never kept longer than ``SEARCH_GAP_MAX_AGE``."""
    age = now - seen
    timeout = float(config.get("SEARCH_GAP_TIMEOUT", 10.0))
    if age > float(config.get("SEARCH_GAP_MAX_AGE", 3600.0)):
        return True
    if horizon is not None and xmin is not None:
        return xmin > horizon and age >= min(1.0, timeout)
    return age > timeout


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

    def run(self) -> None:
        interval = float(self.app.config["SEARCH_FOLLOW_INTERVAL"])
        failures = 0
        while not self.stop_event.is_set():
            if not self._leader():
                self.stop_event.wait(max(interval, 2.0))
                continue
            with self.app.app_context():
                try:
                    self.tick()
                    failures = 0
                except Exception as exc:
                    # The database may be down: say so once, then back off up to 30 s.
                    if failures == 0:
                        log.exception("search follower: this round failed; retrying")
                    else:
                        log.warning("search follower: still failing: %s", exc)
                    failures += 1
                finally:
                    db.session.remove()
            self.stop_event.wait(min(interval * 2**failures, 30.0) if failures else interval)

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
        from . import sync
        from .index import IndexUnavailable

        config = self.app.config
        try:
            applied, newest, gaps = sync.pending_state()
            if newest > applied or gaps:
                applier = sync.ensure_applier(self.app)
                if applier is not None:
                    applier.wake.set()  # it batches and paces the index writes
                else:
                    sync.apply_pending(timeout=config.get("SEARCH_READ_APPLY_TIMEOUT", 0.5))
            meta = sync.current_meta()
            position = safe_position(int(meta.get("applied", 0)), meta.get("gaps", {}))
        except IndexUnavailable:
            sync.request_rebuild(self.app)
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
