"""Email against a real SMTP server (aiosmtpd on 127.0.0.1, started per test).

Immediate emails go out from the background sender after the commit, digests from
`flask forum send-digests`; every email carries a working one-click unsubscribe; a
send that fails (server down, or a 451 temporary refusal) is retried and delivered
exactly once.
"""

from __future__ import annotations

import re
import socket
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from forum import create_app
from forum.extensions import db
from forum.notifications import mailer
from forum.notifications.models import EmailOutbox, EmailPreference
from forum.threads import service
from tests import factories
from tests.conftest import csrf_from


class Inbox:
    """aiosmtpd handler: keeps what it accepted; can refuse the next N with 451."""

    def __init__(self):
        self.messages = []
        self.refuse_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class SmtpServer:
    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


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
            "MAIL_DEFAULT_SENDER": "Aza Community <forum@forum.test>",
            "MAIL_RETRY_BASE_SECONDS": 1,
            "SITE_URL": "http://forum.test",
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
        }
    )
    with app.app_context():
        yield app
        mailer.worker(app).stop()
        db.session.remove()
        db.engine.dispose()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def choose_email(client, auth, name: str, mode: str) -> None:
    """Pick an email option on the settings page, as the member would."""
    auth.login(name)
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert 'name="email_mode" value="immediate"' in html
    response = client.post(
        "/notifications/settings",
        data={"email_mode": mode, "csrf_token": csrf_from(html)},
        follow_redirects=True,
    )
    assert "Your email settings are saved." in response.get_data(as_text=True)
    auth.logout()


def outbox_rows():
    db.session.expire_all()
    return db.session.query(EmailOutbox).order_by(EmailOutbox.id).all()


def test_email_is_off_by_default_for_members(app, smtp):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    service.add_reply(factories.user(), thread, "A reply")
    assert outbox_rows() == []
    assert not wait_for(lambda: smtp.inbox.messages, timeout=0.5)


def test_immediate_email_reaches_only_its_recipient(app, client, auth, smtp):
    asker = factories.user("asker", email="asker@patients.test")
    replier = factories.user("replier", email="replier@patients.test")
    choose_email(client, auth, "asker", "immediate")
    thread = factories.thread(asker, title="Tiredness on aza")
    post = service.add_reply(replier, thread, "It got **better** after six weeks for me.")

    assert wait_for(lambda: len(smtp.inbox.messages) == 1)
    rcpts, msg = smtp.inbox.messages[0]
    assert rcpts == ["asker@patients.test"]
    assert msg["To"] == "asker@patients.test"
    assert "replier replied to your question" in msg["Subject"]
    body = msg.get_content()
    assert f"http://forum.test/t/{thread.id}#post-{post.id}" in body
    assert "It got better after six weeks for me." in body
    assert "replier@patients.test" not in msg.as_string()
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.search(
        r"<(http://forum\.test/notifications/unsubscribe/[^>]+)>", msg["List-Unsubscribe"]
    )
    assert unsubscribe and unsubscribe.group(1) in body
    assert wait_for(lambda: outbox_rows()[0].status == "sent")
    assert len(smtp.inbox.messages) == 1


def test_unsubscribe_link_confirms_then_stops_email(app, client, auth, smtp):
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    thread = factories.thread(asker)
    service.add_reply(factories.user(), thread, "First reply")
    assert wait_for(lambda: len(smtp.inbox.messages) == 1)
    body = smtp.inbox.messages[0][1].get_content()
    url = re.search(r"http://forum\.test(/notifications/unsubscribe/\S+)", body).group(1)

    page = client.get(url)  # signed out: the link alone is enough
    assert page.status_code == 200
    assert "Stop emails from the forum?" in page.get_data(as_text=True)
    assert db.session.get(EmailPreference, asker.id).mode == "immediate"  # GET changes nothing
    done = client.post(url, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert "You are unsubscribed" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EmailPreference, asker.id).mode == "none"

    service.add_reply(factories.user(), thread, "Second reply")
    assert len(outbox_rows()) == 1
    assert client.get(url[:-3] + "xyz").status_code == 404  # a forged token does nothing


def test_one_click_unsubscribe_post_without_csrf(app, client, auth, smtp):
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    service.add_reply(factories.user(), factories.thread(asker), "Reply")
    assert wait_for(lambda: len(smtp.inbox.messages) == 1)
    msg = smtp.inbox.messages[0][1]
    url = re.search(r"<http://forum\.test(\S+)>", msg["List-Unsubscribe"]).group(1)
    fresh = app.test_client()  # a mail client: no cookies, no CSRF token
    response = fresh.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(EmailPreference, asker.id).mode == "none"


def test_failed_send_is_retried_and_delivered_once(app, client, auth, smtp):
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    smtp.stop()  # the mail server is down when the reply is posted
    thread = factories.thread(asker)
    service.add_reply(factories.user(), thread, "Reply while the server is down")

    assert wait_for(lambda: outbox_rows()[0].attempts >= 1)
    row = outbox_rows()[0]
    assert row.status == "pending" and row.sent_at is None and row.last_error
    smtp.start()
    assert wait_for(lambda: outbox_rows()[0].status == "sent", timeout=15)
    time.sleep(0.5)
    assert len(smtp.inbox.messages) == 1

    runner = app.test_cli_runner()
    result = runner.invoke(args=["forum", "send-mail"])
    assert "Sent 0 emails" in result.output
    assert len(smtp.inbox.messages) == 1


def test_temporary_refusal_is_retried_by_send_mail_command(app, client, auth, smtp):
    app.config["MAIL_BACKGROUND"] = False  # cron only
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    service.add_reply(factories.user(), factories.thread(asker), "Reply")
    smtp.inbox.refuse_next = 1
    runner = app.test_cli_runner()

    result = runner.invoke(args=["forum", "send-mail"])
    assert "Sent 0 emails, 1 failed" in result.output
    row = outbox_rows()[0]
    assert row.status == "pending" and "451" in row.last_error
    assert "Sent 0 emails" in runner.invoke(args=["forum", "send-mail"]).output  # not due yet
    time.sleep(1.1)
    assert "Sent 1 emails" in runner.invoke(args=["forum", "send-mail"]).output
    assert "Sent 0 emails" in runner.invoke(args=["forum", "send-mail"]).output
    assert len(smtp.inbox.messages) == 1


def test_email_about_content_hidden_before_sending_is_dropped(app, client, auth, smtp):
    app.config["MAIL_BACKGROUND"] = False
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    post = service.add_reply(factories.user(), factories.thread(asker), "Something rude")
    post.is_hidden = True
    db.session.commit()
    app.test_cli_runner().invoke(args=["forum", "send-mail"])
    assert outbox_rows()[0].status == "cancelled"
    assert smtp.inbox.messages == []


def test_daily_digest_collects_unread_activity(app, client, auth, smtp):
    app.config["MAIL_BACKGROUND"] = False
    reader = factories.user("reader", email="reader@patients.test")
    choose_email(client, auth, "reader", "digest")
    auth.login("reader")
    html = client.get("/following").get_data(as_text=True)
    client.post(
        "/follow", data={"kind": "condition", "key": "lupus", "csrf_token": csrf_from(html)}
    )
    auth.logout()
    mine = factories.thread(reader, title="My question about rashes")
    service.add_reply(factories.user("helper"), mine, "Try a gentler soap.")
    factories.thread(factories.user(), title="New lupus question", conditions=("lupus",))
    assert outbox_rows() == []  # digest members get nothing straight away

    runner = app.test_cli_runner()
    result = runner.invoke(args=["forum", "send-digests"])
    assert "Queued 1 digests; sent 1 emails" in result.output
    rcpts, msg = smtp.inbox.messages[0]
    assert rcpts == ["reader@patients.test"]
    body = msg.get_content()
    assert "helper replied to your question “My question about rashes”" in body
    assert "New about Lupus" in body and "New lupus question" in body
    assert "/notifications/unsubscribe/" in body and msg["List-Unsubscribe"]

    result = runner.invoke(args=["forum", "send-digests"])
    assert "Queued 0 digests" in result.output
    assert len(smtp.inbox.messages) == 1

    service.add_reply(factories.user("later"), mine, "One more idea.")
    assert "Queued 0 digests" in runner.invoke(args=["forum", "send-digests"]).output  # same day
    result = runner.invoke(args=["forum", "send-digests", "--force"])
    assert "Queued 1 digests; sent 1 emails" in result.output
    body = smtp.inbox.messages[1][1].get_content()
    assert "later replied" in body
    assert "helper replied" not in body and "New lupus question" not in body


def test_immediate_email_for_a_new_question_in_a_followed_condition(app, client, auth, smtp):
    factories.user("reader", email="reader@patients.test")
    choose_email(client, auth, "reader", "immediate")
    auth.login("reader")
    html = client.get("/following").get_data(as_text=True)
    client.post(
        "/follow", data={"kind": "condition", "key": "lupus", "csrf_token": csrf_from(html)}
    )
    auth.logout()
    asker = factories.user("asker", email="asker@patients.test")
    thread = factories.thread(asker, title="Lupus and aza in pregnancy", conditions=("lupus",))
    factories.thread(asker, title="Unrelated", conditions=("crohns-disease",))

    assert wait_for(lambda: len(smtp.inbox.messages) == 1)
    time.sleep(0.3)
    assert len(smtp.inbox.messages) == 1
    rcpts, msg = smtp.inbox.messages[0]
    assert rcpts == ["reader@patients.test"]
    assert msg["Subject"] == "New question about Lupus (SLE): Lupus and aza in pregnancy"
    assert f"http://forum.test/t/{thread.id}" in msg.get_content()
    assert "asker@patients.test" not in msg.as_string()


def test_senders_running_at_once_never_send_a_row_twice(app, client, auth, smtp):
    import threading

    app.config["MAIL_BACKGROUND"] = False
    asker = factories.user("asker")
    choose_email(client, auth, "asker", "immediate")
    thread = factories.thread(asker)
    for n in range(12):
        service.add_reply(factories.user(f"replier{n:02d}"), thread, f"Reply {n}")
    assert len(outbox_rows()) == 12

    def sender():
        with app.app_context():
            mailer.flush()
            db.session.remove()

    senders = [threading.Thread(target=sender) for _ in range(3)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(30)
    subjects = sorted(msg["Subject"] for _, msg in smtp.inbox.messages)
    assert len(subjects) == 12 and len(set(subjects)) == 12
    assert {row.status for row in outbox_rows()} == {"sent"}
