"""PostgreSQL for tests: a fresh schema per test on the server FORUM_TEST_DATABASE_URL names.

With ``FORUM_TEST_DATABASE_URL=postgresql+psycopg://user@host:port/db`` the ``app`` fixture
runs every test in a schema of its own (``search_path`` set in the connection URL, so
subprocesses started with that URL land in it too) and drops it afterwards. Tests marked
``postgres`` use ``require_server()``: without a reachable server they skip on a laptop and
fail in CI (``CI=true``), so a broken CI set-up can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "FORUM_TEST_DATABASE_URL"


def server_url() -> str | None:
    return os.environ.get(ENV) or None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server() -> str:
    """The server URL, or skip (fail in CI) when there is none or it does not answer."""
    url = server_url()
    problem = None
    if not url:
        problem = f"{ENV} is not set"
    else:
        try:
            engine = create_engine(url)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # any failure means "no server"
            problem = f"PostgreSQL at {url} unreachable: {exc}"
    if problem:
        if in_ci():
            pytest.fail(f"CI needs PostgreSQL: {problem}")
        pytest.skip(problem)
    return url


def _admin_engine(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new empty schema; yields a URL whose connections use it, drops it afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    base = make_url(url)
    scoped = base.update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()
