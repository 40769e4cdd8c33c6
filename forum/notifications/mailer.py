"""Email: optional, off unless MAIL_SERVER is set, and never sent inside a request.

Requests only add ``EmailOutbox`` rows to their own transaction (``enqueue``). After
the commit, a daemon thread in this process (``kick``) flushes the outbox with
smtplib; ``flask forum send-mail`` does the same from cron. A failed send stays in
the outbox with a growing delay until it goes through (or is marked failed after
MAIL_MAX_ATTEMPTS), so nothing is lost and a row is never sent twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import smtplib
import threading
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import Flask, current_app, has_request_context
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..models import Post, Thread, User, utcnow
from . import links
from .models import EmailOutbox, EmailPreference

log = logging.getLogger(__name__)

DEFAULTS = {
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "Aza Community <no-reply@localhost>",
    "MAIL_TIMEOUT": 10,
    "MAIL_RETRY_BASE_SECONDS": 60,
    "MAIL_RETRY_MAX_SECONDS": 6 * 3600,
    "MAIL_MAX_ATTEMPTS": 12,
    "MAIL_BACKGROUND": True,
    "SITE_URL": None,
}
CLAIM_SECONDS = 120  # a claimed row is left alone this long by other senders


def enabled() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def email_mode(user: User) -> str:
    """none | immediate | digest. Always none without a mail server or an address."""
    if not enabled() or not user.email:
        return "none"
    pref = db.session.get(EmailPreference, user.id)
    return pref.mode if pref else "none"


# --- unsubscribe tokens --------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="email-unsubscribe")


def _account_mark(user: User) -> str:
    """Tells this account from any other that ever had its id: the instant it was created.

    Not a secret (the signature is the proof); it only has to differ between accounts,
    and unlike the login secret it survives a password change, so links in mails
    already sent keep working."""
    created = user.created_at.strftime("%Y%m%d%H%M%S%f") if user.created_at else ""
    return hashlib.sha256(f"{user.id}:{created}".encode()).hexdigest()[:16]


def unsubscribe_token(user: User) -> str:
    """A signed link that switches email off for this account, and only this one."""
    return _serializer().dumps({"u": user.id, "k": _account_mark(user)})


def user_from_token(token: str) -> User | None:
    """The account a token was made for; None when it is forged, of the old bare-id form,
    or made for an account that no longer exists (even if its id were ever reused)."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or type(data.get("u")) is not int:
        return None
    user = db.session.get(User, data["u"])
    mark = data.get("k")
    if user is None or not isinstance(mark, str):
        return None
    return user if hmac.compare_digest(mark, _account_mark(user)) else None


def unsubscribe_url(user: User) -> str:
    return links.external(f"/notifications/unsubscribe/{unsubscribe_token(user)}")


def url_context():
    """A request context for building links outside a request (cron, CLI)."""
    if has_request_context():
        return contextlib.nullcontext()
    base = current_app.config.get("SITE_URL") or "http://localhost:5000"
    return current_app.test_request_context("/", base_url=base)


# --- writing to the outbox (inside the caller's transaction) ----------------------


def enqueue(
    user: User, subject: str, text: str, *, thread_id: int | None = None, post_id=None
) -> EmailOutbox:
    """Add one plain-text email for ``user`` to the current transaction."""
    url = unsubscribe_url(user)
    body = (
        f"{text.rstrip()}\n\n--\n"
        "You get these emails because you asked for them in your notification settings:\n"
        f"{links.external('/notifications/settings')}\n"
        f"Stop all emails from the forum with one click: {url}\n"
        "Shared experiences, not medical advice.\n"
    )
    row = EmailOutbox(
        user_id=user.id,
        subject=subject[:200],
        body=body,
        unsubscribe_url=url,
        thread_id=thread_id,
        post_id=post_id,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.info["mail_pending"] = True
    return row


# --- sending -------------------------------------------------------------------


def _message(row: EmailOutbox, address: str) -> EmailMessage:
    cfg = current_app.config
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_DEFAULT_SENDER"]
    msg["To"] = address  # one recipient per message: nobody sees another's address
    msg["Subject"] = row.subject
    msg["Message-ID"] = make_msgid(domain="aza-forum")
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(row.body)
    return msg


def _connect() -> smtplib.SMTP:
    cfg = current_app.config
    smtp = smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=cfg["MAIL_TIMEOUT"])
    if cfg.get("MAIL_USE_TLS"):
        smtp.starttls()
    if cfg.get("MAIL_USERNAME"):
        smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
    return smtp


def _still_wanted(row: EmailOutbox) -> str | None:
    """The address to send to, or None when the email should no longer go out."""
    user = db.session.get(User, row.user_id)
    if user is None or not user.email or email_mode(user) == "none":
        return None
    thread = db.session.get(Thread, row.thread_id) if row.thread_id else None
    post = db.session.get(Post, row.post_id) if row.post_id else None
    if (thread is not None and not thread.is_visible) or (post is not None and not post.is_visible):
        return None
    return user.email


def _due(limit: int) -> list[tuple[int, object]]:
    """Ids (and due times) of rows waiting to be sent, oldest first."""
    rows = db.session.execute(
        select(EmailOutbox.id, EmailOutbox.next_attempt_at)
        .where(EmailOutbox.status == "pending", EmailOutbox.next_attempt_at <= utcnow())
        .order_by(EmailOutbox.id)
        .limit(limit)
    ).all()
    db.session.rollback()  # end the read before writing: SQLite WAL cannot upgrade a snapshot
    return [tuple(r) for r in rows]


def _claim(row_id: int, seen_due: object) -> bool:
    """Take one row for this sender: push its next attempt past the claim window, but
    only if nobody moved it since we read it. Its own short transaction."""
    try:
        result = db.session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == row_id, EmailOutbox.next_attempt_at == seen_due)
            .where(EmailOutbox.status == "pending")
            .values(next_attempt_at=utcnow() + timedelta(seconds=CLAIM_SECONDS))
        )
        db.session.commit()
    except OperationalError:  # busy database: leave it for the next round
        db.session.rollback()
        return False
    return result.rowcount == 1


def _failed(row: EmailOutbox, error: Exception) -> None:
    cfg = current_app.config
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:500]
    delay = min(
        cfg["MAIL_RETRY_BASE_SECONDS"] * 2 ** (row.attempts - 1), cfg["MAIL_RETRY_MAX_SECONDS"]
    )
    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
    if row.attempts >= cfg["MAIL_MAX_ATTEMPTS"]:
        row.status = "failed"


def flush(limit: int = 200) -> tuple[int, int]:
    """Send what is due. Returns (sent, failed this round). Needs an app context."""
    if not enabled():
        return 0, 0
    sent = failed = 0
    smtp: smtplib.SMTP | None = None
    try:
        for row_id, seen_due in _due(limit):
            if not _claim(row_id, seen_due):
                continue
            row = db.session.get(EmailOutbox, row_id)
            address = _still_wanted(row)
            if address is None:
                row.status = "cancelled"
                db.session.commit()
                continue
            try:
                smtp = smtp or _connect()
                smtp.send_message(_message(row, address))
            except (OSError, smtplib.SMTPException) as exc:
                _failed(row, exc)
                failed += 1
                smtp = _close(smtp)
            else:
                row.status, row.sent_at, row.attempts = "sent", utcnow(), row.attempts + 1
                sent += 1
            db.session.commit()
    finally:
        _close(smtp)
    return sent, failed


def send_due() -> tuple[int, int]:
    """Flush until nothing is due now: (sent, failed). A failed row waits for its retry."""
    total_sent = total_failed = 0
    for _ in range(100):  # batches of 200
        sent, failed = flush()
        total_sent, total_failed = total_sent + sent, total_failed + failed
        if sent + failed == 0:
            break
    return total_sent, total_failed


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def next_due_in() -> float | None:
    """Seconds until the next pending row is due (0 if now), or None when nothing waits."""
    when = db.session.scalar(
        select(func.min(EmailOutbox.next_attempt_at)).where(EmailOutbox.status == "pending")
    )
    if when is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


# --- the per-process background sender ------------------------------------------


class OutboxWorker:
    """A daemon thread that flushes after commits and sleeps until the next retry.

    It exits when nothing is waiting; the next ``kick`` starts it again.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stopped = False

    def kick(self) -> None:
        with self.lock:
            self.wake.set()
            if self.stopped or (self.thread is not None and self.thread.is_alive()):
                return
            self.thread = threading.Thread(target=self._run, name="forum-mailer", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 5) -> None:
        self.stopped = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        while not self.stopped:
            self.wake.clear()
            wait = self._round()
            if self.stopped:
                return
            if wait is None:
                with self.lock:
                    if not self.wake.is_set():
                        self.thread = None
                        return
                continue
            self.wake.wait(min(wait, 300))

    def _round(self) -> float | None:
        try:
            with self.app.app_context():
                try:
                    flush()
                    return next_due_in()
                finally:
                    db.session.remove()
        except Exception:  # keep the thread alive; the rows stay in the outbox
            log.exception("sending queued email failed")
            return 30.0


def worker(app: Flask) -> OutboxWorker:
    return app.extensions.setdefault("forum_mailer", OutboxWorker(app))


def after_commit(app: Flask) -> None:
    """Receiver of ``signals.committed``: start sending what this request queued."""
    if not db.session.info.pop("mail_pending", False):
        return
    if app.config.get("MAIL_SERVER") and app.config.get("MAIL_BACKGROUND"):
        worker(app).kick()
