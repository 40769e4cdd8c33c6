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


@forum_cli.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["member", "moderator", "admin"]))
def set_role(name: str, role: str) -> None:
    """Make the account called NAME a member, moderator or admin (logged in the audit log)."""
    from .moderation import service
    from .services import ServiceError

    try:
        service.set_role(None, service.find_user(name), role)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{name} is now {role}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(forum_cli)
