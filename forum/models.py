"""The core tables: accounts, threads, posts, tags, votes and the search change record.

Feature packages (experiences, moderation, notifications) keep their own tables in
their own ``models.py`` and import ``db`` and these classes.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .names import stored_skeleton

ROLES = ("member", "moderator", "admin")


def new_login_secret() -> str:
    """A fresh random secret for an account's sign-in cookies (256 bits)."""
    return secrets.token_urlsafe(32)


def _name_skeleton(context) -> str | None:
    return stored_skeleton(context.get_current_parameters().get("display_name") or "")


def utcnow() -> datetime:
    """Naive UTC, so SQLite and PostgreSQL store and compare the same values."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(40))
    # Lower-cased copy carrying the unique constraint: names are unique regardless of case.
    name_key: Mapped[str] = mapped_column(String(40), unique=True)
    # What the name looks like (forum.names.skeleton): "Jane" and "Jаne" (Cyrillic а) have
    # one. Registration and import refuse a name whose skeleton an account has (checked
    # by the services, not a constraint: bulk loaders and old data may hold look-alikes).
    name_skeleton: Mapped[str | None] = mapped_column(
        String(255), index=True, default=_name_skeleton
    )
    # Lower-cased; never shown to anyone but its owner. Null for imported authors.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Counts password changes and sign-outs everywhere (each also replaces login_secret).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # Random, per account: session and remember-me cookies carry it next to the id, and
    # a new one makes every earlier cookie worthless. Never shown, never exported.
    login_secret: Mapped[str] = mapped_column(String(64), default=new_login_secret)
    is_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Comma-separated condition slugs the person chose to show on their profile.
    shown_conditions: Mapped[str] = mapped_column(String(400), default="")
    # Show conditions and time on azathioprine beside the name on posts (forum/people.py).
    show_flair: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    threads: Mapped[list[Thread]] = relationship(back_populates="author")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: the id and
        this account's secret, so a cookie names one account, never "whoever has id N"."""
        return f"{self.id}:{self.login_secret}"

    def has_login_secret(self, secret: str) -> bool:
        return bool(self.login_secret) and hmac.compare_digest(
            self.login_secret.encode(), secret.encode()
        )

    def end_sessions(self) -> None:
        """Make every session and remember-me cookie of this account worthless (the
        caller commits): on password change, sign-out everywhere, suspension, erasure."""
        self.login_secret = new_login_secret()
        self.session_version = (self.session_version or 1) + 1

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def shown_condition_slugs(self) -> list[str]:
        return [s for s in self.shown_conditions.split(",") if s]

    @classmethod
    def by_name(cls, name: str) -> User | None:
        return db.session.scalar(select(cls).where(cls.name_key == name.strip().lower()))

    @classmethod
    def looking_like(cls, name: str) -> User | None:
        """The account whose name a reader could take ``name`` for (same skeleton)."""
        skeleton = stored_skeleton(name)
        if skeleton is None:
            return None
        return db.session.scalar(select(cls).where(cls.name_skeleton == skeleton))


class Thread(db.Model):
    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # Null once the author erased their account and chose to keep the text.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    resolved_post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL", use_alter=True)
    )
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stable fingerprint of an imported thread (title, author, created), so a second
    # import of the same file does not duplicate it.
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    author: Mapped[User | None] = relationship(back_populates="threads")
    posts: Mapped[list[Post]] = relationship(
        back_populates="thread",
        order_by="Post.id",
        foreign_keys="Post.thread_id",
        cascade="all, delete-orphan",
    )
    tags: Mapped[list[ThreadTag]] = relationship(
        back_populates="thread", cascade="all, delete-orphan", order_by="ThreadTag.slug"
    )

    # The "most helpful" tab's order, so a page of it is read from the index, not sorted.
    __table_args__ = (
        Index("ix_threads_helpful_activity", "helpful_count", "last_activity_at", "id"),
    )

    @property
    def question(self) -> Post:
        return self.posts[0]

    @property
    def replies(self) -> list[Post]:
        return self.posts[1:]

    def tag_slugs(self, kind: str) -> list[str]:
        return [t.slug for t in self.tags if t.kind == kind]

    @property
    def is_visible(self) -> bool:
        return not (self.is_hidden or self.is_deleted)


class Post(db.Model):
    """The opening question (``is_question``) or a reply."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_question: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, default="")
    # Rendered and sanitised once, at write time.
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)

    thread: Mapped[Thread] = relationship(back_populates="posts", foreign_keys=[thread_id])
    author: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("ix_posts_thread_id_id", "thread_id", "id"),
        Index("ix_posts_author_id", "author_id"),
    )

    @property
    def is_visible(self) -> bool:
        return not (self.is_hidden or self.is_deleted)


class ThreadTag(db.Model):
    """A condition, side effect or medication slug attached to a thread."""

    __tablename__ = "thread_tags"

    thread_id: Mapped[int] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), primary_key=True)

    thread: Mapped[Thread] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_thread_tags_kind_slug", "kind", "slug"),)


class HelpfulVote(db.Model):
    __tablename__ = "helpful_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("post_id", "user_id", name="uq_helpful_votes_post_user"),)


class SearchChange(db.Model):
    """The ordered record of changes the search index must apply.

    Written by the services in the same transaction as the change itself, so a
    rolled-back transaction never reaches the index and a committed one always does.
    """

    __tablename__ = "search_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    thread_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Setting(db.Model):
    """Small key/value facts about this database (demo loaded, schema notes)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
