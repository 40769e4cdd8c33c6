"""Digests go out exactly once and before `flask forum send-digests` exits.

Cron may run the command on every server at the same minute: each member still gets
one digest. The command sends the mail itself (no background thread that dies with the
process), so the count it prints is what the SMTP server received. Real SMTP (aiosmtpd).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from forum import create_app
from forum.extensions import db
from forum.notifications import digest, mailer
from forum.notifications.models import EmailPreference, Follow
from tests import factories
from tests.integration.test_email import SmtpServer
from tests.processes import ForumServer

MEMBERS = 6


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path, database_url, smtp):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp.port,
            "SITE_URL": "http://forum.test",
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )
    with app.app_context():
        yield app
        mailer.worker(app).stop()
        db.session.remove()
        db.engine.dispose()


def _members_waiting_for_a_digest() -> list[str]:
    addresses = []
    for n in range(MEMBERS):
        member = factories.user(f"digest_reader_{n}")
        db.session.add(EmailPreference(user_id=member.id, mode="digest"))
        db.session.add(Follow(user_id=member.id, kind="condition", key="lupus"))
        addresses.append(member.email)
    db.session.commit()
    factories.thread(factories.user("lupus_asker"), title="Sun and lupus", conditions=("lupus",))
    db.session.remove()
    return addresses


def _received(smtp) -> Counter:
    return Counter(rcpt for rcpts, _msg in smtp.inbox.messages for rcpt in rcpts)


def _sent_count(output: str) -> int:
    match = re.search(r"sent (\d+) emails", output)
    assert match, output
    return int(match.group(1))


def test_the_command_reports_what_it_sent_before_exiting(app, smtp):
    """The background sender stays on for the web app; the command does not rely on it."""
    assert app.config["MAIL_BACKGROUND"]
    addresses = _members_waiting_for_a_digest()
    result = app.test_cli_runner().invoke(args=["forum", "send-digests"])
    assert f"Queued {MEMBERS} digests; sent {MEMBERS} emails, 0 failed" in result.output
    assert _received(smtp) == Counter(addresses)  # already there when the command returned


def test_two_runs_at_once_in_threads_send_each_digest_once(app, smtp):
    addresses = _members_waiting_for_a_digest()
    app.config["MAIL_BACKGROUND"] = False  # as the command does
    start = threading.Barrier(2)

    def run() -> tuple[int, int]:
        with app.app_context(), mailer.url_context():
            start.wait()
            try:
                queued = digest.send_digests()
                return queued, mailer.send_due()[0]
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run(), range(2)))
    assert sum(q for q, _ in results) == MEMBERS, results
    assert sum(s for _, s in results) == MEMBERS, results
    assert _received(smtp) == Counter(addresses)


@pytest.mark.slow  # two `flask` processes start
def test_two_commands_at_once_in_two_processes_send_each_digest_once(app, smtp, tmp_path):
    addresses = _members_waiting_for_a_digest()
    env = {"FORUM_MAIL_SERVER": "127.0.0.1", "FORUM_MAIL_PORT": str(smtp.port)}
    cron = ForumServer(tmp_path / "instance", app.config["SQLALCHEMY_DATABASE_URI"], **env)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: cron.flask("forum", "send-digests"), range(2)))
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert sum(_sent_count(run.stdout) for run in runs) == MEMBERS, [r.stdout for r in runs]
    assert _received(smtp) == Counter(addresses)
