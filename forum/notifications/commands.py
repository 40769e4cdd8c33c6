"""`flask forum send-mail` and `flask forum send-digests`, for cron.

They join the `forum` command group from here, so forum/cli.py stays the group's
home without knowing about email.
"""

from __future__ import annotations

import click

from ..cli import forum_cli
from . import digest, mailer


@forum_cli.command("send-mail")
def send_mail() -> None:
    """Send the queued emails that are due (failed ones retry with a growing delay)."""
    if not mailer.enabled():
        click.echo("Email is off: set FORUM_MAIL_SERVER to send mail.")
        return
    total_sent = total_failed = 0
    for _ in range(100):  # batches of 200; a failed row waits for its retry time
        sent, failed = mailer.flush()
        total_sent, total_failed = total_sent + sent, total_failed + failed
        if sent + failed == 0:
            break
    waiting = mailer.next_due_in()
    click.echo(
        f"Sent {total_sent} emails, {total_failed} failed (will retry)"
        + (f", next retry in {waiting:.0f} s." if waiting is not None else ".")
    )


@forum_cli.command("send-digests")
@click.option("--force", is_flag=True, help="Also members who had a digest in the last 20 h.")
def send_digests(force: bool) -> None:
    """Queue today's digest emails, then send them."""
    if not mailer.enabled():
        click.echo("Email is off: set FORUM_MAIL_SERVER to send mail.")
        return
    with mailer.url_context():
        queued = digest.send_digests(force=force)
    sent, failed = mailer.flush()
    click.echo(f"Queued {queued} digests; sent {sent} emails, {failed} failed (will retry).")
