"""Rate limits hold across app servers: two gunicorn servers count in one Redis."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.processes import ForumServer, redis_url, start_all

pytestmark = pytest.mark.slow


@pytest.fixture
def redis(tmp_path):
    yield from redis_url(tmp_path)


def _shared_db(tmp_path, database_url):
    return database_url or f"sqlite:///{tmp_path / 'shared.db'}"


def test_two_servers_share_one_sign_in_limit(tmp_path, database_url, redis):
    env = {
        "FORUM_RATELIMIT_STORAGE_URI": redis,
        "FORUM_RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "FORUM_RATE_LIMITS": json.dumps({"login": "3 per minute"}),
    }
    url = _shared_db(tmp_path, database_url)
    a, b = ForumServer(tmp_path / "a", url, **env), ForumServer(tmp_path / "b", url, **env)
    start_all(a, b)
    try:
        wrong = {"display_name": "nobody_here", "password": "not the password"}
        on_a, on_b = a.client(), b.client()
        statuses = [on_a.post("/login", wrong)[0] for _ in range(2)]
        statuses.append(on_b.post("/login", wrong)[0])
        assert 429 not in statuses, statuses
        # The fourth attempt, on either server, is over the shared limit of three.
        assert on_b.post("/login", wrong)[0] == 429
        assert on_a.post("/login", wrong)[0] == 429
    finally:
        a.stop()
        b.stop()


def test_memory_storage_would_not_share(tmp_path, database_url):
    """The control: per-process memory counts each server separately."""
    env = {
        "FORUM_RATELIMIT_STORAGE_URI": "memory://",
        "FORUM_RATE_LIMITS": json.dumps({"login": "3 per minute"}),
    }
    url = _shared_db(tmp_path, database_url)
    a, b = ForumServer(tmp_path / "a", url, **env), ForumServer(tmp_path / "b", url, **env)
    start_all(a, b)
    try:
        wrong = {"display_name": "nobody_here", "password": "not the password"}
        on_a, on_b = a.client(), b.client()
        first = [on_a.post("/login", wrong)[0] for _ in range(3)]
        second = [on_b.post("/login", wrong)[0] for _ in range(3)]
        assert 429 not in first + second
    finally:
        a.stop()
        b.stop()
