"""Per-test app with its own instance folder (database and search index in tmp_path)."""

from __future__ import annotations

import os
import re
from collections import Counter

import pytest

from forum import create_app
from forum.extensions import db

from . import pgtools, shared_data

# Every app a test makes (here, in helper processes, in servers: tests/processes.py passes
# it on) ranks lexically, so search tests assert one ranking and none pays for embeddings.
# The semantic tests (test_semantic_*.py) switch it on in their app's config.
os.environ.setdefault("FORUM_SEARCH_SEMANTIC", "false")

GROUPS = ("browser", "postgres", "slow")  # markers that name a group of tests


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
def shared_sample():
    """The judged search sample beside the checkout (../shared/search-eval): skips with the
    path when it is missing, fails under CI=true (see tests/shared_data.py)."""
    return shared_data.require(shared_data.search_eval_dir())


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


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _tests(count: int, group: str = "") -> str:
    return f"{count} {group + ' ' if group else ''}test{'' if count == 1 else 's'}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say in plain words which groups of tests did not run, and why: `-q` alone only says
    "17 skipped", which hides a missing Chromium or database."""
    skipped = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        group = next((g for g in GROUPS if g in report.keywords), "other")
        skipped[("" if group == "other" else group, _skip_reason(report))] += 1
    deselected = len(terminalreporter.stats.get("deselected", []))
    if not skipped and not deselected:
        return
    write = terminalreporter.write_line
    write("")
    write("Not run this time:")
    for (group, reason), count in sorted(skipped.items()):
        write(f"  {_tests(count, group)} skipped: {reason}")
    if deselected:
        markexpr = config.getoption("markexpr", "") or ""
        keyword = config.getoption("keyword", "") or ""
        chosen = " ".join(f"{o} {v!r}" for o, v in (("-m", markexpr), ("-k", keyword)) if v)
        write(f"  {_tests(deselected)} left out by {chosen or 'the selection'}")
