"""The `flask forum` command group."""

import click
from flask import Flask
from flask.cli import AppGroup

forum_cli = AppGroup("forum", help="Forum administration commands.")


@forum_cli.command("init-db")
def init_db() -> None:
    """Create the database tables if they do not exist."""
    from .bootstrap import ensure_schema

    ensure_schema()
    click.echo("Database ready.")


def init_app(app: Flask) -> None:
    app.cli.add_command(forum_cli)
