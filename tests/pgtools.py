"""PostgreSQL for tests, on the server FORUM_TEST_DATABASE_URL names.

With ``FORUM_TEST_DATABASE_URL=postgresql+psycopg://user@host:port/db`` the ``app`` fixture
runs every test in a database of its own, copied from a template that the migrations built
once per test session (``migrated_database``: about 0.1 s instead of migrating each time),
and drops it afterwards. ``fresh_schema`` gives an empty schema instead (``search_path`` set
in the URL, so subprocesses started with it land there too) for tests of the migrations
themselves. Tests marked ``postgres`` use ``require_server()``: without a reachable server
they skip on a laptop and fail in CI (``CI=true``), so a broken CI set-up cannot pass by
skipping.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


_templates: dict[str, str] = {}


def _template(url: str) -> str:
    """A database migrated to head, built once per session and server, dropped at exit."""
    name = _templates.get(url)
    if name:
        return name
    from forum import create_app
    from forum.extensions import db

    name = f"tpl_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="forum-pg-template-"),
            "SQLALCHEMY_DATABASE_URI": _with_database(url, name),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "template",
        }
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    _templates[url] = name
    atexit.register(_drop_database, url, name)
    return name


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str, name: str) -> None:
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


@contextmanager
def migrated_database(url: str) -> Iterator[str]:
    """A new database with the whole schema (a copy of the template); dropped afterwards."""
    template = _template(url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"))
    try:
        yield _with_database(url, name)
    finally:
        admin.dispose()
        _drop_database(url, name)


def write_instance_config(instance, url: str) -> None:
    """Point every app on this instance folder at ``url`` (instance/config.py)."""
    instance = Path(instance)
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "config.py").write_text(f"SQLALCHEMY_DATABASE_URI = {url!r}\n")
