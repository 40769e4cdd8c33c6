"""The daily digest: one email per member who chose it, with what happened since the
last one (unread notifications and new questions in the topics they follow)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from .. import vocabulary
from ..extensions import db
from ..models import Thread, User, utcnow
from ..services import commit
from . import links, mailer, service
from .models import EmailPreference, Follow, Notification

TOPIC_KINDS = ("condition", "side_effect", "medication")
MIN_GAP = timedelta(hours=20)


def _notification_lines(user: User, since: datetime) -> list[str]:
    notes = db.session.scalars(
        service._shown()
        .where(
            Notification.user_id == user.id,
            Notification.read_at.is_(None),
            Notification.created_at > since,
            Notification.kind != "moderation",
        )
        .order_by(Notification.id)
    ).all()
    lines = []
    for note in notes:
        text, url = service.describe(note)
        lines.append(f"- {text}\n  {links.external(url)}")
    return lines


def _topic_lines(user: User, since: datetime) -> list[str]:
    follows = db.session.scalars(
        select(Follow).where(Follow.user_id == user.id, Follow.kind.in_(TOPIC_KINDS))
    ).all()
    seen: set[int] = set()
    lines = []
    for f in follows:
        stmt = service.new_threads_for_topic(f.kind, f.key, since, user.id)
        for thread in db.session.scalars(stmt.order_by(Thread.id).limit(20)):
            if thread.id in seen:
                continue
            seen.add(thread.id)
            name = vocabulary.name_of(f.kind, f.key)
            lines.append(
                f"- New about {name}: “{thread.title}”\n"
                f"  {links.external(links.thread_url(thread.id))}"
            )
    return lines


def digest_for(user: User, since: datetime) -> str | None:
    """The digest text, or None when nothing happened."""
    notes = _notification_lines(user, since)
    topics = _topic_lines(user, since)
    if not notes and not topics:
        return None
    parts = [f"Hello {user.display_name}, here is what happened on Aza Community."]
    if notes:
        parts.append("For you:\n" + "\n".join(notes))
    if topics:
        parts.append("New questions in what you follow:\n" + "\n".join(topics))
    return "\n\n".join(parts) + "\n"


def send_digests(now: datetime | None = None, *, force: bool = False) -> int:
    """Queue a digest for every member who chose one; returns how many this call queued.

    Each member's window starts where their last digest ended (a day back the first
    time), so running it late or twice never repeats or skips anything. A member who
    had a digest in the last MIN_GAP is skipped unless ``force``, so a cron job run
    too often still sends one a day.

    Exactly once when several run at once (cron on every server): each member's digest
    is claimed first by a conditional update of ``last_digest_at`` (only the run that
    saw its current value wins), then composed and queued in a second transaction; if
    that fails the claim is released so the next run sends it.
    """
    if not mailer.enabled():
        return 0
    now = now or utcnow()
    members = db.session.execute(
        select(EmailPreference.user_id, EmailPreference.last_digest_at).where(
            EmailPreference.mode == "digest"
        )
    ).all()
    db.session.rollback()  # end the read: SQLite WAL cannot upgrade an old snapshot
    queued = 0
    for user_id, seen in members:
        if not force and seen and now - seen < MIN_GAP:
            continue
        if not _claim(user_id, seen, now):
            continue
        try:
            queued += _queue(user_id, seen or now - timedelta(days=1))
        except Exception:
            db.session.rollback()
            _move(user_id, now, seen)  # release the claim
            raise
    return queued


def _matches(seen: datetime | None):
    column = EmailPreference.last_digest_at
    return column.is_(None) if seen is None else column == seen


def _move(user_id: int, seen: datetime | None, to: datetime | None) -> bool:
    """Set ``last_digest_at`` to ``to`` if it still is ``seen``; its own transaction."""
    try:
        result = db.session.execute(
            update(EmailPreference)
            .where(EmailPreference.user_id == user_id, EmailPreference.mode == "digest")
            .where(_matches(seen))
            .values(last_digest_at=to)
        )
        db.session.commit()
    except OperationalError:  # busy database: another run has it, or the next will
        db.session.rollback()
        return False
    return result.rowcount == 1


def _claim(user_id: int, seen: datetime | None, now: datetime) -> bool:
    return _move(user_id, seen, now)


def _queue(user_id: int, since: datetime) -> int:
    user = db.session.get(User, user_id)
    if user is None or not user.email:
        return 0
    text = digest_for(user, since)
    if text is None:
        return 0
    mailer.enqueue(user, "Your daily digest from Aza Community", text)
    commit()
    return 1
