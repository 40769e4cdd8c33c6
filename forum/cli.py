"""The `flask forum` command group."""

import sys
import time

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


def _lines(stream) -> list[bytes] | None:
    """Buffer a pipe (stdin) so its lines can be counted; None for a file, counted and rewound."""
    if stream.seekable():
        return None
    return stream.readlines()


def _count_lines(stream) -> int:
    count = sum(1 for _ in stream)
    stream.seek(0)
    return count


@forum_cli.command("import")
@click.argument("file", type=click.File("rb"))
def import_threads(file) -> None:
    """Import threads from a JSON Lines FILE ('-' for stdin).

    Bad lines are reported with their number and skipped; the exit code is 1 when any
    line was skipped. Threads imported before are reported as already present.
    """
    from . import settled, transfer

    buffered = _lines(file)
    total = len(buffered) if buffered is not None else _count_lines(file)
    source = buffered if buffered is not None else file
    with settled():
        started = time.perf_counter()
        with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
            report = transfer.import_lines(source, tick=lambda: bar.update(1))
        elapsed = time.perf_counter() - started
    _print_report(report, elapsed)
    _print_vectors_waiting()
    if report.skipped:
        sys.exit(1)


def _print_vectors_waiting() -> None:
    """Say when the imported threads' semantic vectors are still to come."""
    from .search import vectors_waiting

    try:
        waiting = vectors_waiting()
    except Exception:  # noqa: BLE001 - only a note; the import itself is done
        return
    if waiting:
        click.echo(
            f"{waiting} threads wait for their semantic vectors: a running forum computes "
            "them in the background (or now: flask forum embed-pending). Until then they "
            "are found by their words."
        )


def _print_report(report, elapsed: float) -> None:
    for line_no, message in report.warnings:
        click.echo(f"line {line_no}: warning: {message}", err=True)
    for line_no, reason in report.skipped:
        click.echo(f"line {line_no}: skipped: {reason}", err=True)
    rate = report.imported / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"Imported {report.imported} threads ({rate:.0f} threads/s), "
        f"{report.already_present} already present, {len(report.skipped)} skipped, "
        f"{report.accounts_created} new accounts."
    )


@forum_cli.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8", atomic=True))
def export_threads(file) -> None:
    """Export every visible thread to a JSON Lines FILE ('-' for stdout)."""
    from . import transfer

    count = 0
    total = transfer.count_threads()
    with click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar:
        for item in transfer.export_threads():
            file.write(transfer.dump_line(item) + "\n")
            count += 1
            bar.update(1)
    click.echo(f"Exported {count} threads.", err=True)


@forum_cli.command("demo")
def demo() -> None:
    """Load the demo threads (again safe: threads already present are not duplicated)."""
    from .demo import load_demo

    report = load_demo()
    click.echo(
        f"Demo: {report.imported} threads imported, {report.already_present} already present."
    )
    if report.skipped:
        for line_no, reason in report.skipped:
            click.echo(f"demo line {line_no}: skipped: {reason}", err=True)
        sys.exit(1)


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
