"""Several app servers, one truth: two gunicorn servers, each with its own instance folder
and search index, on one database (this pass's backend: one SQLite file shared by both,
or one PostgreSQL schema).

A post made through one server is searchable on the other within 2 s, found by that
server's background follower (its /healthz shows the index caught up before anyone
searches there). A stopped server catches up when it starts again; one that fell behind
the pruned change record rebuilds itself from the database. ``flask forum check-index``
passes on both.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from forum import create_app
from forum.extensions import db
from tests import factories
from tests.processes import ForumServer, start_all

FOLLOW_ENV = {
    "FORUM_SEARCH_FOLLOW_INTERVAL": "0.5",
    "FORUM_SEARCH_POSITION_INTERVAL": "0.5",
    "FORUM_SEARCH_PRUNE_INTERVAL": "1",
    "FORUM_SEARCH_CHANGES_MIN_AGE": "0",
    "FORUM_RATELIMIT_ENABLED": "false",
    "FORUM_NEW_ACCOUNT_LIMITS": "false",
}


@pytest.fixture
def shared_url(tmp_path, database_url):
    return database_url or f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def member(tmp_path, shared_url):
    """A member created in the shared database (by a third app in this process)."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "setup"),
            "SQLALCHEMY_DATABASE_URI": shared_url,
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "setup",
        }
    )
    with app.app_context():
        factories.user("replica_rita")
        db.session.remove()
        db.engine.dispose()
    return "replica_rita"


def ask(server: ForumServer, name: str, title: str, body: str) -> None:
    browser = server.client()
    status, _ = browser.post("/login", {"display_name": name, "password": factories.PASSWORD})
    assert status == 200, "sign-in failed"
    status, page = browser.post(
        "/ask",
        [("title", title), ("body", body), ("conditions", "crohns"), ("submit", "Post question")],
    )
    assert status == 200 and title in page, page[:2000]


def found(server: ForumServer, word: str) -> list[str]:
    status, body = server.client().get_json(f"/api/v1/search?q={word}")
    assert status == 200, body
    return [r["title"] for r in body["results"]]


def index_health(server: ForumServer) -> dict:
    return server.client().get_json("/healthz")[1]["index"]


def wait_caught_up(server: ForumServer, latest: int, limit: float) -> float:
    """Seconds until the server's index applied ``latest`` (asks /healthz, never searches)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        state = index_health(server)
        if (state.get("applied_change_id") or 0) >= latest and state.get("lag_changes") == 0:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not caught up with change {latest} after {limit}s: {state}")


def latest_change(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT max(id) FROM search_changes")) or 0)
    finally:
        engine.dispose()


def change_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM search_changes")))
    finally:
        engine.dispose()


def current_generation(server: ForumServer) -> str:
    return (Path(server.instance) / "search-index" / "CURRENT").read_text().strip()


def check_index_passes(server: ForumServer) -> None:
    result = server.flask("forum", "check-index")
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_servers_follow_one_database(tmp_path, shared_url, member):
    word = f"zq{uuid.uuid4().hex[:8]}"  # a word nothing else contains
    a = ForumServer(tmp_path / "a", shared_url, **FOLLOW_ENV)
    b = ForumServer(tmp_path / "b", shared_url, **FOLLOW_ENV)
    start_all(a, b)
    try:
        # 1. Posted on A, searchable on B within 2 s, found by B's follower (no search on B).
        ask(a, member, "Night sweats in the first month", f"Anyone else? Code {word}one.")
        took = wait_caught_up(b, latest_change(shared_url), limit=2.0)
        assert took < 2.0
        assert found(b, f"{word}one") == ["Night sweats in the first month"]

        # 2. B stopped; a post on A; B started again catches up.
        b.stop()
        ask(a, member, "Sun cream while on aza", f"Which brand? Code {word}two.")
        generation = current_generation(b)
        b.start()
        wait_caught_up(b, latest_change(shared_url), limit=10.0)
        assert found(b, f"{word}two") == ["Sun cream while on aza"]
        assert current_generation(b) == generation  # followed, did not need to rebuild

        # 3. Both replicas live and caught up: the change record is pruned to its last row.
        deadline = time.monotonic() + 15
        while change_count(shared_url) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert change_count(shared_url) == 1

        # 4. B stopped; A posts; every change is pruned whatever B needed. B falls
        #    behind the record, so on start it rebuilds from the database.
        b.stop()
        ask(a, member, "Blood tests every week?", f"How often do yours run? Code {word}three.")
        ask(a, member, "Flu jab timing", f"Before or after the dose? Code {word}four.")
        result = a.flask("forum", "prune-changes", "--max-age", "0")
        assert result.returncode == 0, result.stdout + result.stderr
        b.start()
        wait_caught_up(b, latest_change(shared_url), limit=30.0)
        assert found(b, f"{word}three") == ["Blood tests every week?"]
        assert found(b, f"{word}four") == ["Flu jab timing"]
        assert current_generation(b) != generation  # rebuilt

        check_index_passes(a)
        check_index_passes(b)
    finally:
        a.stop()
        b.stop()
