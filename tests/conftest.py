"""Per-test app with its own instance folder (database and search index in tmp_path)."""

from __future__ import annotations

import re

import pytest

from forum import create_app
from forum.extensions import db

from . import pgtools


@pytest.fixture
def database_url():
    """None (SQLite in the instance folder), or a new PostgreSQL database with the whole
    schema when FORUM_TEST_DATABASE_URL is set (see tests/pgtools.py)."""
    url = pgtools.server_url()
    if not url:
        yield None
        return
    with pgtools.migrated_database(url) as own:
        yield own


@pytest.fixture
def empty_database_url(tmp_path):
    """An empty database of this run's backend: a SQLite file, or a PostgreSQL schema."""
    url = pgtools.server_url()
    if not url:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with pgtools.fresh_schema(url) as scoped:
        yield scoped


@pytest.fixture
def postgres_url():
    """A PostgreSQL server for tests marked ``postgres``: skips locally, fails in CI."""
    return pgtools.require_server()


@pytest.fixture
def app(tmp_path, database_url):
    if database_url:
        # Any other app on this instance folder (a restart, a subprocess) uses it too.
        pgtools.write_instance_config(tmp_path / "instance", database_url)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token on the page"
    return match.group(1)


class AuthActions:
    """Sign in and out through the real forms (CSRF included)."""

    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def login(self, name: str = "sunny_days", password: str = "correct horse battery"):
        return self.client.post(
            "/login",
            data={"display_name": name, "password": password, "csrf_token": self.token()},
            follow_redirects=True,
        )

    def logout(self):
        return self.client.post(
            "/logout", data={"csrf_token": self.token("/")}, follow_redirects=True
        )


@pytest.fixture
def auth(client):
    return AuthActions(client)
