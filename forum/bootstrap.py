"""First start: create the schema when the database is new, and load the demo content once."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import inspect, select

from .extensions import db
from .models import Setting


def init_app(app: Flask) -> None:
    with app.app_context():
        ensure_schema()
        if app.config.get("LOAD_DEMO_ON_FIRST_START"):
            load_demo_once()


def ensure_schema() -> None:
    """Create the tables on a new database; an existing one is left to migrations."""
    if not inspect(db.engine).has_table("users"):
        db.create_all()


def load_demo_once() -> None:
    """Load the demo threads the first time only; later starts keep what users wrote."""
    if db.session.scalar(select(Setting).where(Setting.key == "demo_loaded")):
        return
    from .demo import load_demo

    load_demo()
    db.session.merge(Setting(key="demo_loaded", value="1"))
    db.session.commit()
