"""Tables for staying in touch: notifications, follows, email preferences, the email
outbox and drafts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import Post, Thread, User, utcnow

KINDS = ("reply", "helpful", "resolved", "moderation")
FOLLOW_KINDS = ("thread", "condition", "side_effect", "medication")
EMAIL_MODES = ("none", "immediate", "digest")


class Notification(db.Model):
    """Something that happened to a member's post or in a thread they follow.

    The text is worked out when shown, from ``kind`` and the rows it points at, so a
    post hidden later stops being shown without touching its notifications.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # For moderation notices: what the moderator did ("hide", "lock", ...).
    detail: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    thread: Mapped[Thread | None] = relationship()
    post: Mapped[Post | None] = relationship()
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])

    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),)


class Follow(db.Model):
    """A member following a thread (``thread_id``) or a vocabulary term (``slug``).

    ``key`` is the thread id or the slug as text, so one unique constraint covers both.
    ``last_seen_at`` moves when the member looks at the /following page or the thread.
    """

    __tablename__ = "follows"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(60))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    thread: Mapped[Thread | None] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "kind", "key", name="uq_follows_user_kind_key"),
        Index("ix_follows_kind_key", "kind", "key"),
    )


class EmailPreference(db.Model):
    """How a member wants email: none (the default, also when no row), immediate, digest."""

    __tablename__ = "email_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), default="none")
    last_digest_at: Mapped[datetime | None] = mapped_column(DateTime)


class EmailOutbox(db.Model):
    """An email waiting to be sent, written in the transaction that caused it.

    The address is looked up at send time (a changed or erased address is respected).
    A sender claims a row by pushing ``next_attempt_at`` forward with a conditional
    update, so two workers never send the same row; failures back off and retry.
    """

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    unsubscribe_url: Mapped[str] = mapped_column(String(500), default="")
    # What the email is about: checked again at send time, hidden content is never sent.
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (Index("ix_email_outbox_due", "status", "next_attempt_at"),)


class Draft(db.Model):
    """A question (``kind`` ask) or reply being written, kept per member and thread."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    # "ask" or "reply:<thread id>": one draft per place, whatever the thread column holds.
    scope: Mapped[str] = mapped_column(String(40))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(400), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str] = mapped_column(String(400), default="")
    side_effects: Mapped[str] = mapped_column(String(1000), default="")
    medications: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "scope", name="uq_drafts_user_scope"),)

    def tag_list(self, kind: str) -> list[str]:
        value = {"condition": self.conditions, "side_effect": self.side_effects}.get(
            kind, self.medications
        )
        return [s for s in value.split(",") if s]
