"""First start: bring the schema to the newest migration, and load the demo content once.

Migrations (``migrations/``, Alembic through Flask-Migrate) own the schema on SQLite and
PostgreSQL alike. Every process runs ``upgrade`` to head when it starts (unless
``SCHEMA_AUTO_UPGRADE`` is off); a lock makes several workers or servers starting at once
take turns (PostgreSQL: an advisory lock; SQLite: a lock file next to the database), so the
schema is built and the demo loaded exactly once.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from flask import Flask, current_app
from flask_migrate import Migrate
from sqlalchemy import inspect, select, text

from . import ROOT
from .extensions import db
from .models import Setting

MIGRATIONS_DIR = ROOT / "migrations"
# Any fixed number: the PostgreSQL advisory lock that serialises schema upgrades.
_PG_LOCK_KEY = 0x466F72756D  # "Forum"

migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """``SCHEMA_AUTO_UPGRADE = False`` leaves upgrades to ``flask db upgrade`` (an operator
    who upgrades once, before restarting the app servers)."""
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    upgrade = app.config.get("SCHEMA_AUTO_UPGRADE", True)
    demo = app.config.get("LOAD_DEMO_ON_FIRST_START")
    if not (upgrade or demo):
        return
    with app.app_context(), _startup_lock():
        if upgrade:
            _upgrade()
        if demo:
            load_demo_once()


def ensure_schema() -> None:
    """Upgrade the database to the newest migration (a new database is built this way)."""
    with _startup_lock():
        _upgrade()


def _upgrade() -> None:
    with db.engine.begin() as conn:
        config = migrate.get_config()
        config.attributes["connection"] = conn
        config.attributes["quiet"] = True
        tables = inspect(conn)
        if tables.has_table("users") and not tables.has_table("alembic_version"):
            # Built by create_all before there were migrations: that is revision 0001.
            command.stamp(config, "0001")
        command.upgrade(config, "head")
        if current_app.testing:
            _create_unmigrated_tables(conn)


def _create_unmigrated_tables(conn) -> None:
    """Tests only: tables of models that have no migration yet, so a feature's own tests
    run while its migration is being written. tests/integration/test_migrations.py fails
    meanwhile; outside tests the schema is the migrations' alone."""
    existing = set(inspect(conn).get_table_names())
    missing = [t for t in db.metadata.sorted_tables if t.name not in existing]
    if missing:
        log.warning("tables without a migration: %s", ", ".join(t.name for t in missing))
        db.metadata.create_all(conn, tables=missing)


@contextmanager
def _startup_lock():
    """One process at a time upgrades the schema and loads the demo: several workers or
    servers may start at once. PostgreSQL: a session advisory lock; SQLite: an exclusive
    file lock beside the database; nothing for an in-memory database."""
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(url.database).with_name(Path(url.database).name + ".schema-lock")
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_demo_once() -> None:
    """Load the demo threads the first time only; later starts keep what users wrote."""
    if db.session.scalar(select(Setting).where(Setting.key == "demo_loaded")):
        return
    from .demo import load_demo

    load_demo()
    db.session.merge(Setting(key="demo_loaded", value="1"))
    db.session.commit()
