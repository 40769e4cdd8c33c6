"""The SQLite rate-limit store: one count for every process that opens the same file."""

from __future__ import annotations

import multiprocessing

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from forum.ratelimit_storage import SQLiteStorage, uri_for


def _hits(uri: str, n: int, strategy: str, queue) -> None:
    storage = storage_from_string(uri)
    limiter = (MovingWindowRateLimiter if strategy == "moving" else FixedWindowRateLimiter)(storage)
    item = parse("25 per minute")
    queue.put(sum(limiter.hit(item, "203.0.113.9", "login") for _ in range(n)))


def _granted_by_four_processes(uri: str, strategy: str) -> int:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hits, args=(uri, 20, strategy, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    granted = sum(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    return granted


def test_the_scheme_is_registered_and_counts_per_key(tmp_path):
    storage = storage_from_string(uri_for(tmp_path / "limits.db"))
    assert isinstance(storage, SQLiteStorage) and storage.check()
    limiter = FixedWindowRateLimiter(storage)
    item = parse("2 per minute")
    assert [limiter.hit(item, "a") for _ in range(3)] == [True, True, False]
    assert limiter.hit(item, "b") and not limiter.test(item, "a")
    limiter.clear(item, "a")
    assert limiter.hit(item, "a")


def test_four_processes_share_one_fixed_window(tmp_path):
    assert _granted_by_four_processes(uri_for(tmp_path / "limits.db"), "fixed") == 25


def test_four_processes_share_one_moving_window(tmp_path):
    assert _granted_by_four_processes(uri_for(tmp_path / "limits.db"), "moving") == 25


def test_memory_storage_is_the_control(tmp_path):
    """Per-process memory lets each process have the whole limit (what the file fixes)."""
    assert _granted_by_four_processes("memory://", "fixed") == 4 * 20
