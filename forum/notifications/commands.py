"""`flask forum send-mail` and `flask forum send-digests`, for cron.

They join the `forum` command group from here, so forum/cli.py stays the group's
home without knowing about email.
"""

from __future__ import annotations

import click
from flask import current_app

from ..cli import forum_cli
from . import digest, mailer


@forum_cli.command("send-mail")
def send_mail() -> None:
    """Send the queued emails that are due (failed ones retry with a growing delay)."""
    if not mailer.enabled():
        click.echo("Email is off: set FORUM_MAIL_SERVER to send mail.")
        return
    total_sent, total_failed = mailer.send_due()
    waiting = mailer.next_due_in()
    click.echo(
        f"Sent {total_sent} emails, {total_failed} failed (will retry)"
        + (f", next retry in {waiting:.0f} s." if waiting is not None else ".")
    )


@forum_cli.command("send-digests")
@click.option("--force", is_flag=True, help="Also members who had a digest in the last 20 h.")
def send_digests(force: bool) -> None:
    """Queue today's digest emails, then send them before exiting.

    Safe to run on every server at once: each member's digest is queued by one run only.
    The mail goes out from this process, not from a background thread that would die
    with it, so the count printed is what was sent.
    """
    if not mailer.enabled():
        click.echo("Email is off: set FORUM_MAIL_SERVER to send mail.")
        return
    current_app.config["MAIL_BACKGROUND"] = False
    with mailer.url_context():
        queued = digest.send_digests(force=force)
    sent, failed = mailer.send_due()
    click.echo(f"Queued {queued} digests; sent {sent} emails, {failed} failed (will retry).")
