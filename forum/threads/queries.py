"""Read-side queries for thread lists, shared by pages, feeds and the API."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from ..cache import content_version
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
    """One page of threads, newest activity first (or unanswered / most helpful).

    With tag filters, the page is fetched whichever way is cheaper (same rows either way):
    a common tag walks the tab's index (activity, created, or helpful-then-activity) and
    keeps the tagged threads until the page is full; a rare tag sorts its few threads. The
    totals that decide are memoised.
    """
    stmt = visible_threads(include_hidden)
    if author_id is not None:
        stmt = stmt.where(Thread.author_id == author_id)
    if tab == "unanswered":
        stmt = stmt.where(Thread.reply_count == 0)
    tags = [
        (kind, slug)
        for kind, slug in (
            ("condition", condition),
            ("side_effect", side_effect),
            ("medication", medication),
        )
        if slug
    ]
    unfiltered = stmt
    walked = stmt
    for kind, slug in tags:
        tag = and_(ThreadTag.kind == kind, ThreadTag.slug == slug)
        stmt = stmt.where(Thread.id.in_(select(ThreadTag.thread_id).where(tag)))
        walked = walked.where(
            select(ThreadTag.thread_id).where(tag, ThreadTag.thread_id == Thread.id).exists()
        )
    key = (condition, side_effect, medication, tab == "unanswered", include_hidden, author_id)
    total = _cached_total(key, stmt)
    page = max(1, page)
    offset = (page - 1) * per_page
    if tags:
        everything = _cached_total((*key[3:], "all"), unfiltered)
        if (offset + per_page) * everything < total * total:
            stmt = walked  # rows walked ~ (offset + per_page) * everything / total < total
    if tab == "unanswered":
        stmt = stmt.order_by(Thread.created_at.desc(), Thread.id.desc())
    elif tab == "helpful":
        stmt = stmt.order_by(
            Thread.helpful_count.desc(), Thread.last_activity_at.desc(), Thread.id.desc()
        )
    else:
        stmt = stmt.order_by(Thread.last_activity_at.desc(), Thread.id.desc())
    items = db.session.scalars(
        stmt.options(selectinload(Thread.tags), selectinload(Thread.author))
        .limit(per_page)
        .offset(offset)
    ).all()
    return Page(list(items), total, page, per_page)


def _cached_total(key: tuple, stmt) -> int:
    """COUNT of a list's matching threads, remembered until the next committed write.

    Counting every matching thread is most of a big list page's cost, and members' pages are
    not page-cached. The memo lives on this app and is keyed by the database's content
    version (forum/cache.py), which every commit bumps - a new post, a hide, a delete - so a
    total is never older than the last write this process can see.
    """
    version = content_version()
    memo = current_app.extensions.get("thread_list_totals")
    if memo is None or memo["version"] != version:
        # A new dict, not clear(): a request still counting under the old version writes
        # into the old dict, never into this one.
        memo = current_app.extensions["thread_list_totals"] = {"version": version}
    if key not in memo:
        count = select(func.count()).select_from(stmt.order_by(None).subquery())
        memo[key] = int(db.session.scalar(count) or 0)
    return memo[key]


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


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, limit: int = 60) -> str:
    """URL-friendly words of a title ("Hair loss on aza?" -> "hair-loss-on-aza")."""
    text = title or ""
    if not text.isascii():  # NFKD and dropping combining marks leave ASCII as it is
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "thread"
