"""Rate-limit counts in one SQLite file, shared by every worker process of one machine.

The ``limits`` storage behind Flask-Limiter's default on a single-machine install
(``forum-sqlite:///<instance>/ratelimits.db``, chosen by forum/security.py when no
``RATELIMIT_STORAGE_URI`` is configured). ``memory://`` counts per process, so four
gunicorn workers would allow four times each limit; this file is the one count they
share, with no server to run. Several machines share a Redis instead (``redis://``).

Every operation is one short statement or one ``BEGIN IMMEDIATE`` transaction in WAL
mode, so concurrent workers serialise on the write lock and a limit holds exactly.
Supports the fixed-window strategy (Flask-Limiter's default) and the moving window.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from limits.storage import MovingWindowSupport, Storage

SCHEME = "forum-sqlite"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters "
    "(key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires)",
    "CREATE TABLE IF NOT EXISTS entries (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entries_key_at ON entries (key, at)",
)
INCR = (
    "INSERT INTO counters (key, value, expires) VALUES (:key, :amount, :now + :expiry) "
    "ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN expires <= :now THEN excluded.value ELSE value + excluded.value END, "
    "expires = CASE WHEN expires <= :now THEN excluded.expires ELSE expires END "
    "RETURNING value"
)
LONGEST_WINDOW = 31 * 86400  # moving-window entries older than any window are pruned


def uri_for(path: Path | str) -> str:
    return f"{SCHEME}:///{Path(path).resolve().as_posix().lstrip('/')}"


class SQLiteStorage(Storage, MovingWindowSupport):
    """``forum-sqlite:///absolute/path.db``: counters and moving-window entries."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options) -> None:
        self.path = Path("/" + unquote(urlsplit(uri).path).lstrip("/"))
        self.timeout = float(options.get("timeout", 5))
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread and process (a forked worker opens its own)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            conn.execute(statement)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        conn = self._conn()
        now = time.time()
        (value,) = conn.execute(
            INCR, {"key": key, "amount": amount, "now": now, "expiry": expiry}
        ).fetchone()
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            conn.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return int(value)

    def get(self, key: str) -> int:
        row = (
            self._conn()
            .execute("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = (
            self._conn()
            .execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now))
            .fetchone()
        )
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        conn = self._conn()
        count = conn.execute("SELECT COUNT(*) FROM counters").fetchone()[0]
        conn.execute("DELETE FROM counters")
        conn.execute("DELETE FROM entries")
        return int(count)

    def clear(self, key: str) -> None:
        conn = self._conn()
        conn.execute("DELETE FROM counters WHERE key = ?", (key,))
        conn.execute("DELETE FROM entries WHERE key = ?", (key,))

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM entries WHERE key = ? AND at > ?", (key, now - expiry)
            ).fetchone()
            granted = count + amount <= limit
            if granted:
                conn.executemany("INSERT INTO entries VALUES (?, ?)", [(key, now)] * amount)
                conn.execute(
                    "DELETE FROM entries WHERE key = ? AND at <= ?", (key, now - LONGEST_WINDOW)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return granted

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, count = (
            self._conn()
            .execute(
                "SELECT MIN(at), COUNT(*) FROM entries WHERE key = ? AND at > ?",
                (key, now - expiry),
            )
            .fetchone()
        )
        return (float(oldest) if oldest is not None else now), int(count)
