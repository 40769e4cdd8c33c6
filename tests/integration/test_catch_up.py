"""A node behind by a backlog catches up in committed batches, and resumes quickly
after a database outage (issue 16, "nodes that catch up gracefully")."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from forum import create_app
from forum.extensions import db
from forum.search import changes, rebuild
from forum.search.follower import Follower
from forum.search.index import read_meta
from tests import factories as f
from tests.integration.test_search_faults import SPAWN, config, instance_of, titles

ROOT = Path(__file__).resolve().parents[2]


def _applied_in_index(app) -> int:
    searcher = changes.store().open_index().searcher()
    try:
        return int(read_meta(searcher).get("applied", 0))
    finally:
        searcher.close()


def _backlog(app, count: int, word: str) -> int:
    """``count`` threads the index has not applied yet; returns the applied id before."""
    author = f.user()
    f.thread(author, title="Already indexed", body="Applied at once.")
    # The applier thread may still be taking that one: settle it, so the backlog is
    # exactly the threads below (CI once counted 26 of 25 on PostgreSQL).
    changes.apply_pending(timeout=10)
    start = _applied_in_index(app)
    app.config["SEARCH_SYNC"] = False  # as if this node was down while they were posted
    for n in range(count):
        f.thread(author, title=f"{word} {n}", body="Posted while this node was away.")
    return start  # SEARCH_SYNC stays off: this process's applier must not take them


def test_a_backlog_is_applied_in_one_commit_per_batch(app, client):
    start = _backlog(app, 25, "Heron")
    assert changes.latest_change_id() > start
    app.config["SEARCH_APPLY_BATCH"] = 10
    generation = changes.store().open_index().latest_generation()
    # One change per new thread (ids may skip numbers on PostgreSQL's sequence).
    pending = changes.apply_pending(timeout=10)
    assert pending == 25
    commits = changes.store().open_index().latest_generation() - generation
    app.config["SEARCH_SYNC"] = True
    assert commits == math.ceil(pending / 10)
    assert len(titles(client, "heron")) == 25
    assert rebuild.check_index() == []


def _apply_in_small_slow_batches(instance: str, ready) -> None:
    from forum.search.documents import document_extras

    def started(sender, thread):
        ready.set()
        return {}

    # Connected before the app starts: start-up itself applies what is pending.
    document_extras.connect(started, weak=False)
    app = create_app(
        config(instance, SEARCH_SYNC=False, SEARCH_APPLY_BATCH=5, SEARCH_APPLY_BATCH_PAUSE=1.0)
    )
    with app.app_context():
        changes.apply_pending(timeout=30)


def test_killed_mid_catch_up_keeps_the_committed_batches(app, client):
    start = _backlog(app, 60, "Plover")
    newest = changes.latest_change_id()
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=_apply_in_small_slow_batches, args=(instance_of(app), ready))
    proc.start()
    assert ready.wait(60), "child did not start"
    # Wait (generously) until some batches are committed, then kill -9 half-way.
    deadline = time.monotonic() + 120
    while _applied_in_index(app) < start + 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.is_alive(), "the child finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)

    kept = _applied_in_index(app)
    assert kept >= start + 10, "no batch was committed within 120 s"
    assert kept < newest  # committed batches survived; the rest did not
    found = titles(client, "plover")
    assert 0 < len(found) < 60  # searches already see the threads of those batches
    # (Only now: with it on, this process's applier may take the rest before the search.)
    app.config["SEARCH_SYNC"] = True

    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env.update(FORUM_INSTANCE_PATH=instance_of(app), PYTHONPATH=str(ROOT))
    env["FORUM_SEARCH_SEMANTIC"] = os.environ.get("FORUM_SEARCH_SEMANTIC", "false")
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        env["FORUM_SQLALCHEMY_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"]
    # A restart applies the rest (start-up applies what is pending), then checks.
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "forum", "check-index"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _applied_in_index(app) >= newest
    assert len(titles(client, "plover")) == 60


def test_follower_retries_within_two_seconds_while_the_database_is_away(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    app = create_app(
        config(
            str(tmp_path / "instance"),
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{data / 'forum.db'}",
            SEARCH_FOLLOW_INTERVAL=0.01,
        )
    )
    with app.app_context():
        f.thread(f.user(), title="Before the outage", body="Indexed.")
        follower = Follower(app, app.config["SEARCH_INDEX_DIR"])
        # The database goes away: its folder is gone, so no connection can open.
        shutil.move(data, tmp_path / "away")
        db.engine.dispose()
        follower.start()
        try:
            deadline = time.monotonic() + 60
            while sum(d > 0.01 for d in follower.delays) < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            failed = [d for d in follower.delays if d > 0.01]
            assert len(failed) >= 10, "the follower never noticed the outage"
            assert max(failed) <= 2.0  # it would wait up to 30 s before the fix

            shutil.move(tmp_path / "away", data)  # the database is back
            db.engine.dispose()
            deadline = time.monotonic() + 30
            while follower.delays[-1] != 0.01 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert follower.delays[-1] == 0.01, "the follower did not resume"
        finally:
            follower.stop_event.set()
            follower.join(10)
        assert not follower.is_alive()
