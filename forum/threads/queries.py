"""Read-side queries for thread lists, shared by pages, feeds and the API."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..models import Post, Thread, ThreadTag
from ..numbers import arg_int

TABS = ("latest", "unanswered", "helpful")


class Paging:
    """Page arithmetic for anything with ``total``, ``page`` and ``per_page``."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass
class Page(Paging):
    items: list
    total: int
    page: int
    per_page: int


def visible_threads(include_hidden: bool = False):
    stmt = select(Thread).where(Thread.is_deleted.is_(False))
    if not include_hidden:
        stmt = stmt.where(Thread.is_hidden.is_(False))
    return stmt


def list_threads(
    *,
    condition: str | None = None,
    side_effect: str | None = None,
    medication: str | None = None,
    tab: str = "latest",
    page: int = 1,
    per_page: int = 20,
    include_hidden: bool = False,
    author_id: int | None = None,
) -> Page:
    """One page of threads, newest activity first (or unanswered / most helpful)."""
    stmt = visible_threads(include_hidden)
    for kind, slug in (
        ("condition", condition),
        ("side_effect", side_effect),
        ("medication", medication),
    ):
        if slug:
            tag = select(ThreadTag.thread_id).where(
                and_(ThreadTag.kind == kind, ThreadTag.slug == slug)
            )
            stmt = stmt.where(Thread.id.in_(tag))
    if author_id is not None:
        stmt = stmt.where(Thread.author_id == author_id)
    if tab == "unanswered":
        stmt = stmt.where(Thread.reply_count == 0).order_by(
            Thread.created_at.desc(), Thread.id.desc()
        )
    elif tab == "helpful":
        stmt = stmt.order_by(
            Thread.helpful_count.desc(), Thread.last_activity_at.desc(), Thread.id.desc()
        )
    else:
        stmt = stmt.order_by(Thread.last_activity_at.desc(), Thread.id.desc())
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = max(1, page)
    items = db.session.scalars(
        stmt.options(selectinload(Thread.tags), selectinload(Thread.author))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), int(total or 0), page, per_page)


def tag_counts(kind: str, include_hidden: bool = False) -> dict[str, int]:
    """Visible thread count per slug of one kind."""
    visible = visible_threads(include_hidden).with_only_columns(Thread.id)
    rows = db.session.execute(
        select(ThreadTag.slug, func.count())
        .where(ThreadTag.kind == kind, ThreadTag.thread_id.in_(visible))
        .group_by(ThreadTag.slug)
    )
    return {slug: count for slug, count in rows}


def list_replies(*, author_id: int, page: int = 1, per_page: int = 20) -> Page:
    """One page of a person's visible replies in visible threads, newest first."""
    stmt = (
        select(Post)
        .where(
            Post.author_id == author_id,
            Post.is_question.is_(False),
            Post.is_deleted.is_(False),
            Post.is_hidden.is_(False),
            Post.thread_id.in_(visible_threads().with_only_columns(Thread.id)),
        )
        .order_by(Post.created_at.desc(), Post.id.desc())
    )
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = max(1, page)
    items = db.session.scalars(
        stmt.options(joinedload(Post.thread)).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), int(total or 0), page, per_page)


def page_number(name: str = "page") -> int:
    """The ?page= of this request: 1 when missing, not a plain number, or out of range."""
    return arg_int(name, 1, lenient=True)


def clamped(query: Callable[..., Page], page: int, **kwargs) -> Page:
    """Run a paged query; a page past the end shows the last page instead of nothing."""
    result = query(page=page, **kwargs)
    if page > result.pages:
        result = query(page=result.pages, **kwargs)
    return result


def slugify(title: str, limit: int = 60) -> str:
    """URL-friendly words of a title ("Hair loss on aza?" -> "hair-loss-on-aza")."""
    text = unicodedata.normalize("NFKD", title or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:limit].rstrip("-") or "thread"
