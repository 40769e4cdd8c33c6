"""Reports people file about posts, and the audit log of every moderator action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import Post, User, utcnow

REASONS = {
    "spam": "Spam or advertising",
    "unsafe": "Unsafe advice (for example telling people to change their dose)",
    "personal": "Personal details (someone's email, phone, address or hospital number)",
    "abuse": "Abuse or harassment",
    "other": "Something else",
}
REPORT_STATES = ("open", "resolved", "dismissed")


class Report(db.Model):
    """A signed-in person flags a post for the moderators' queue."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # Null once the reporter erased their account; the report itself stays in the queue.
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)

    post: Mapped[Post] = relationship()
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    handled_by: Mapped[User | None] = relationship(foreign_keys=[handled_by_id])

    __table_args__ = (Index("ix_reports_status_created", "status", "created_at"),)

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


class ModerationAction(db.Model):
    """One line of the audit log: who did what to which post, thread or account, and why.

    Rows are never edited. The target is kept by id and a short description so the log
    still reads sensibly after the post or account is gone.
    """

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # hide_post, unhide_post, hide_thread, unhide_thread, lock, unlock, suspend,
    # unsuspend, set_role, resolve_report, dismiss_report
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))  # post | thread | user | report
    target_id: Mapped[int] = mapped_column(Integer)
    target_label: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")

    moderator: Mapped[User | None] = relationship()
