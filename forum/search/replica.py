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
  commit after id 42. ``changes`` remembers such holes as gaps; ``gap_horizon`` and
  ``gap_settled`` let it forget a gap only once every transaction that could still commit
  it has ended (the snapshot's ``xmin`` has passed it), however long that takes.

Writes here use a Core connection, not the ORM session, so they are not content changes
(the page cache's version does not move every few seconds).
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
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

from ..extensions import db
from ..models import SearchChange, Setting, utcnow
from .index import IndexUnavailable

log = logging.getLogger(__name__)

WATERMARK_KEY = "search_changes_pruned_below"


class ReplicaPosition(db.Model):
    """How far one app server's search index has followed the change record."""

    __tablename__ = "replica_positions"

    replica_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_change_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


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
