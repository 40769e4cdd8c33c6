"""Rate limits hold across app servers: two gunicorn servers count in one Redis."""

from __future__ import annotations

import json
import uuid

import pytest

from forum import create_app
from forum.extensions import db
from tests.conftest import csrf_from
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


@pytest.mark.parametrize("proxies", [1, 0])
def test_behind_one_proxy_each_client_has_its_own_count(tmp_path, database_url, proxies):
    """nginx in front: with PROXY_COUNT=1 the limit is per client (X-Forwarded-For), not
    one shared count for everybody behind the proxy's address."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATE_LIMITS": {"login": "2 per minute"},
            "PROXY_COUNT": proxies,
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )

    def attempt(client_ip: str) -> int:
        client = app.test_client()
        nginx = {"REMOTE_ADDR": "10.0.0.5"}
        headers = {"X-Forwarded-For": client_ip, "X-Forwarded-Proto": "http"}
        page = client.get("/login", environ_base=nginx, headers=headers)
        token = csrf_from(page.get_data(as_text=True))
        form = {"display_name": "nobody", "password": "wrong password", "csrf_token": token}
        return client.post("/login", data=form, environ_base=nginx, headers=headers).status_code

    with app.app_context():
        try:
            assert [attempt("203.0.113.1") for _ in range(3)][-1] == 429
            assert (attempt("203.0.113.2") != 429) is bool(proxies)
        finally:
            db.session.remove()
            db.engine.dispose()


def _concurrently(n: int, attempt) -> list[int]:
    """``attempt(i)`` for i in range(n) from 8 threads: the requests spread over workers."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(attempt, range(n)))


def test_default_store_holds_each_limit_exactly_across_four_workers(tmp_path, database_url):
    """No RATELIMIT_STORAGE_URI: the counts live in the instance folder's SQLite file, so
    four gunicorn workers allow 10 sign-in failures and 5 registrations, not four times."""
    limits = {"login": "10 per minute", "login_account": "100 per minute", "register": "5 per hour"}
    env = {"FORUM_RATE_LIMITS": json.dumps(limits)}
    server = ForumServer(tmp_path / "one", _shared_db(tmp_path, database_url), workers=4, **env)
    server.start()
    try:
        wrong = {"display_name": "nobody_here", "password": "not the password"}
        logins = _concurrently(40, lambda i: server.client().post("/login", wrong)[0])
        assert sorted(logins) == [400] * 10 + [429] * 30, logins

        def register(i: int) -> int:
            form = {
                "display_name": f"joiner_{i}",
                "email": f"joiner{i}@example.org",
                "password": "a long enough password 123",
            }
            return server.client().post("/register", form)[0]

        joined = _concurrently(20, register)
        assert sorted(joined) == [200] * 5 + [429] * 15, joined  # 302 followed to /login
        assert (tmp_path / "one" / "ratelimits.db").exists()
    finally:
        server.stop()
