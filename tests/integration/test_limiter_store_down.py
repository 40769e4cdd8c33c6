"""The rate-limit store (Redis, for several servers) going away never breaks the forum.

While Redis is unreachable, sign-in, search and posting keep working: a warning is logged
and the same limits are counted in the server's own memory. When Redis is back the
counts go there again. A real ``redis-server`` on a free port, stopped and restarted.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time

import pytest

from forum import create_app
from forum.extensions import db
from tests import factories
from tests.conftest import csrf_from
from tests.pgtools import in_ci
from tests.processes import free_port

pytestmark = pytest.mark.slow  # waits for the limiter's back-off before it tries Redis again


class RedisServer:
    def __init__(self, directory):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            if in_ci():
                pytest.fail("CI needs redis-server for the store-down tests")
            pytest.skip("no redis-server on this machine")
        self.directory, self.port, self.proc = directory, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *args],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def keys(self) -> int:
        import redis

        return redis.Redis.from_url(self.url).dbsize()


def _app(tmp_path, database_url, storage_uri):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": storage_uri,
            "RATE_LIMITS": {"login": "3 per minute", "posting": "50 per minute"},
            "NEW_ACCOUNT_LIMITS": False,
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _sign_in(client, name: str, password: str, address: str) -> int:
    env = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/login", environ_base=env).get_data(as_text=True))
    form = {"display_name": name, "password": password, "csrf_token": token}
    return client.post("/login", data=form, environ_base=env).status_code


def _everything_works(app, thread_id: int, text: str) -> list[int]:
    """A member signs in, searches and replies: the statuses they got."""
    client = app.test_client()
    statuses = [_sign_in(client, "steady_sam", factories.PASSWORD, "198.51.100.1")]
    statuses.append(client.get("/search", query_string={"q": "azathioprine"}).status_code)
    token = csrf_from(client.get(f"/t/{thread_id}").get_data(as_text=True))
    form = {"body": text, "csrf_token": token}
    statuses.append(client.post(f"/t/{thread_id}/reply", data=form).status_code)
    return statuses


def _wrong_passwords(app, address: str, n: int = 4) -> list[int]:
    client = app.test_client()
    return [_sign_in(client, "steady_sam", f"wrong {i}", address) for i in range(n)]


def test_redis_killed_mid_test_and_restarted(tmp_path, database_url, redis_server, caplog):
    app = _app(tmp_path, database_url, redis_server.url)
    with app.app_context():
        try:
            factories.user("steady_sam")
            thread = factories.thread(factories.user("asker_ann"), title="Morning doses")
            db.session.commit()
            assert _everything_works(app, thread.id, "Before the outage, all fine.") == [
                302,
                200,
                302,
            ]
            assert redis_server.keys() > 0

            redis_server.stop()
            with caplog.at_level(logging.WARNING):
                assert _everything_works(app, thread.id, "During the outage, still fine.") == [
                    302, 200, 302,
                ]  # fmt: skip
                # The limit still holds, counted in this process.
                assert _wrong_passwords(app, "203.0.113.5") == [400, 400, 400, 429]
            assert "storage unreachable" in caplog.text.lower()

            redis_server.start()
            deadline = time.monotonic() + 90
            while redis_server.keys() == 0 and time.monotonic() < deadline:
                app.test_client().get("/search", query_string={"q": "dose"})
                time.sleep(0.5)
            assert redis_server.keys() > 0, "the limiter never went back to Redis"
            assert _wrong_passwords(app, "203.0.113.6") == [400, 400, 400, 429]
            assert _everything_works(app, thread.id, "After the outage.") == [302, 200, 302]
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_redis_url_pointing_at_a_closed_port(tmp_path, database_url, caplog):
    app = _app(tmp_path, database_url, f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context():
        try:
            factories.user("steady_sam")
            thread = factories.thread(factories.user("asker_ann"), title="Evening doses")
            db.session.commit()
            with caplog.at_level(logging.WARNING):
                assert _everything_works(app, thread.id, "Nobody listens there.") == [302, 200, 302]
                assert _wrong_passwords(app, "203.0.113.7") == [400, 400, 400, 429]
            assert "storage unreachable" in caplog.text.lower()
        finally:
            db.session.remove()
            db.engine.dispose()
