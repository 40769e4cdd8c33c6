"""Notifications and follows: who hears about what, and reading them back.

Writers here either run inside another service's transaction (the signal receivers
in ``receivers.py`` call ``notify`` and ``auto_follow``) or own one (``follow``,
``mark_read``...). Hidden or deleted content is never announced and, when hidden
later, drops out of the lists and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from flask import g
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import aliased, selectinload

from .. import vocabulary
from ..extensions import db
from ..models import Post, Thread, ThreadTag, User, utcnow
from ..numbers import parse_int
from ..services import NotFound, ValidationError, commit, insert_rows
from ..threads.queries import Page
from . import links
from .models import FOLLOW_KINDS, Follow, Notification

# --- writing, inside the caller's transaction -------------------------------------


def visible(thread: Thread | None, post: Post | None = None) -> bool:
    if thread is None or not thread.is_visible:
        return False
    return post is None or post.is_visible


def notify(
    user: User | None,
    kind: str,
    *,
    thread: Thread,
    post: Post | None = None,
    actor: User | None = None,
    detail: str = "",
) -> Notification | None:
    """Add one notification unless it is about the person's own act or a duplicate."""
    if user is None or (actor is not None and actor.id == user.id):
        return None
    duplicate = db.session.scalar(
        select(Notification.id).where(
            Notification.user_id == user.id,
            Notification.kind == kind,
            Notification.post_id == (post.id if post else None),
            Notification.actor_id == (actor.id if actor else None),
            Notification.detail == detail,
            Notification.read_at.is_(None),
        )
    )
    if duplicate:
        return None
    note = Notification(
        user_id=user.id,
        kind=kind,
        thread_id=thread.id,
        post_id=post.id if post else None,
        actor_id=actor.id if actor else None,
        detail=detail,
    )
    db.session.add(note)
    return note


def notify_many(
    users: list[User],
    kind: str,
    *,
    thread: Thread,
    post: Post | None = None,
    actor: User | None = None,
    detail: str = "",
    new_post: bool = False,
) -> list[tuple[User, Notification]]:
    """``notify`` for many people at once (a reply to a thread fifty people follow): one
    query finds the duplicates instead of one query (and one flush) per person.

    ``new_post``: ``post`` was created in this transaction, so nobody can have been told
    about it yet (a notification is deleted with its post) and there is nothing to check.
    """
    wanted = {u.id: u for u in users if u is not None and not (actor and actor.id == u.id)}
    if not wanted:
        return []
    post_id = post.id if post else None
    actor_id = actor.id if actor else None
    duplicates: set[int] = set()
    if not (new_post and post is not None):
        duplicates = _duplicates(list(wanted), kind, post_id, actor_id, detail)
    added = []
    for user_id, user in wanted.items():
        if user_id in duplicates:
            continue
        note = Notification(
            user_id=user_id,
            kind=kind,
            thread_id=thread.id,
            post_id=post_id,
            actor_id=actor_id,
            detail=detail,
        )
        added.append((user, note))
    db.session.add_all(note for _, note in added)
    return added


def _duplicates(
    user_ids: list[int], kind: str, post_id: int | None, actor_id: int | None, detail: str
) -> set[int]:
    """The people among ``user_ids`` with the same notification still unread."""
    with db.session.no_autoflush:
        return set(
            db.session.scalars(
                select(Notification.user_id).where(
                    Notification.user_id.in_(user_ids),
                    Notification.kind == kind,
                    Notification.post_id == post_id,
                    Notification.actor_id == actor_id,
                    Notification.detail == detail,
                    Notification.read_at.is_(None),
                )
            )
        )


def followers(kind: str, key: str) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Follow, Follow.user_id == User.id)
            .where(Follow.kind == kind, Follow.key == key)
        )
    )


def auto_follow(user: User | None, thread: Thread) -> None:
    """Asking or replying follows the thread (without committing)."""
    if user is None or _follow_row(user, "thread", str(thread.id)) is not None:
        return
    db.session.add(Follow(user_id=user.id, kind="thread", key=str(thread.id), thread_id=thread.id))
    g.pop("thread_follow", None)


def auto_follow_new(threads) -> None:
    """``auto_follow`` for new threads (``StoredThread`` rows, with authors) in one bulk
    insert: a new thread id has no follows yet (ids are never reused)."""
    now = utcnow()
    rows = [
        {
            "user_id": t.author_id,
            "kind": "thread",
            "key": str(t.id),
            "thread_id": t.id,
            "created_at": now,
            "last_seen_at": now,
        }
        for t in threads
        if t.author_id is not None
    ]
    insert_rows(Follow, rows)


# --- follows ---------------------------------------------------------------------


def _follow_row(user: User, kind: str, key: str) -> Follow | None:
    return db.session.scalar(
        select(Follow).where(Follow.user_id == user.id, Follow.kind == kind, Follow.key == key)
    )


def _check_target(kind: str, key: str) -> Thread | None:
    if kind not in FOLLOW_KINDS:
        raise ValidationError("You can follow a thread, condition, side effect or medication.")
    if kind == "thread":
        thread_id = parse_int(key, low=1)
        thread = db.session.get(Thread, thread_id) if thread_id is not None else None
        if thread is None or not thread.is_visible:
            raise NotFound("That thread does not exist.")
        return thread
    if vocabulary.get(kind, key) is None:
        raise NotFound(f"There is no {kind.replace('_', ' ')} called {key[:60]!r}.")
    return None


def follow(user: User, kind: str, key: str) -> bool:
    """Follow a thread or term. Returns False when already following."""
    key = (key or "").strip()
    thread = _check_target(kind, key)
    if _follow_row(user, kind, key) is not None:
        return False
    db.session.add(
        Follow(user_id=user.id, kind=kind, key=key, thread_id=thread.id if thread else None)
    )
    g.pop("thread_follow", None)
    commit()
    return True


def unfollow(user: User, kind: str, key: str) -> bool:
    row = _follow_row(user, kind, (key or "").strip())
    if row is None:
        return False
    db.session.delete(row)
    g.pop("thread_follow", None)
    commit()
    return True


def is_following(user, kind: str, key) -> bool:
    if user is None or not user.is_authenticated:
        return False
    seen = g.get("thread_follow")  # this request's mark_thread_seen looked already
    if kind == "thread" and seen is not None and seen[:2] == (user.id, parse_int(str(key))):
        return seen[2]
    return _follow_row(user, kind, str(key)) is not None


def mark_thread_seen(user: User, thread_id: int) -> None:
    """The member looked at the thread: its follow is caught up, its notifications read.

    Runs before every thread page a member sees, so it writes only when there is something
    to record: an unread notification about the thread, or (when followed) a post newer than
    the follow's last visit. Reading a thread again commits nothing - no write per page
    view, and no new content version for the anonymous page cache (forum/cache.py).
    """
    followed = _follow_row(user, "thread", str(thread_id))
    g.thread_follow = (user.id, thread_id, followed is not None)  # for is_following
    checks = [
        select(Notification.id)
        .where(
            Notification.user_id == user.id,
            Notification.thread_id == thread_id,
            Notification.read_at.is_(None),
        )
        .exists()
    ]
    if followed is not None:
        newer = Post.thread_id == thread_id
        if followed.last_seen_at is not None:
            newer = and_(newer, Post.created_at > followed.last_seen_at)
        checks.append(select(Post.id).where(newer).exists())
    if not any(db.session.execute(select(*checks)).one()):
        return
    thread = db.session.get(Thread, thread_id)
    if thread is None or not thread.is_visible:
        return  # a page that is not there (or hidden) records nothing
    now = utcnow()
    db.session.execute(
        update(Follow)
        .where(Follow.user_id == user.id, Follow.kind == "thread", Follow.key == str(thread_id))
        .values(last_seen_at=now)
    )
    db.session.execute(
        update(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.thread_id == thread_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    commit()


# --- what is new in what I follow ----------------------------------------------


@dataclass
class FollowedItem:
    kind: str
    key: str
    label: str
    url: str
    new: list[tuple[str, str]] = field(default_factory=list)  # (text, url), newest first
    new_count: int = 0


def _new_replies(user: User, f: Follow) -> FollowedItem | None:
    thread = f.thread
    if thread is None or not thread.is_visible:
        return None
    stmt = select(Post).where(
        Post.thread_id == thread.id,
        Post.created_at > f.last_seen_at,
        Post.is_deleted.is_(False),
        Post.is_hidden.is_(False),
        or_(Post.author_id.is_(None), Post.author_id != user.id),
    )
    posts = list(db.session.scalars(stmt.order_by(Post.id.desc()).limit(5)))
    count = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    item = FollowedItem("thread", f.key, thread.title, links.thread_url(thread.id))
    item.new = [(_by(p.author), links.thread_url(thread.id, p.id)) for p in posts]
    item.new_count = int(count)
    return item


def _by(author: User | None) -> str:
    return f"Reply by {author.display_name if author else 'a former member'}"


def new_threads_for_topic(kind: str, slug: str, since: datetime, exclude_user: int | None):
    tagged = select(ThreadTag.thread_id).where(ThreadTag.kind == kind, ThreadTag.slug == slug)
    stmt = select(Thread).where(
        Thread.id.in_(tagged),
        Thread.created_at > since,
        Thread.is_hidden.is_(False),
        Thread.is_deleted.is_(False),
    )
    if exclude_user is not None:
        stmt = stmt.where(or_(Thread.author_id.is_(None), Thread.author_id != exclude_user))
    return stmt


def _new_topic_threads(user: User, f: Follow) -> FollowedItem | None:
    term = vocabulary.get(f.kind, f.key)
    if term is None:
        return None
    stmt = new_threads_for_topic(f.kind, f.key, f.last_seen_at, user.id)
    threads = list(db.session.scalars(stmt.order_by(Thread.id.desc()).limit(5)))
    count = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    item = FollowedItem(f.kind, f.key, term.name, links.topic_url(f.kind, f.key))
    item.new = [(t.title, links.thread_url(t.id)) for t in threads]
    item.new_count = int(count)
    return item


def following_overview(user: User) -> list[FollowedItem]:
    """Everything the member follows with what is new since their last visit, then
    marks it all seen (the page shows the list as it was before this visit)."""
    follows = db.session.scalars(
        select(Follow)
        .where(Follow.user_id == user.id)
        .options(selectinload(Follow.thread))
        .order_by(Follow.kind, Follow.created_at.desc())
    ).all()
    items = []
    for f in follows:
        item = _new_replies(user, f) if f.kind == "thread" else _new_topic_threads(user, f)
        if item is not None:
            items.append(item)
    db.session.execute(
        update(Follow).where(Follow.user_id == user.id).values(last_seen_at=utcnow())
    )
    commit()
    items.sort(key=lambda i: (i.new_count == 0, FOLLOW_KINDS.index(i.kind)))
    return items


# --- reading notifications ------------------------------------------------------


@cache
def _shown():
    """Notifications whose content can still be shown: visible thread and post.

    Moderation notices stay: they are about the member's own post, hidden or not.
    Built once: a statement is immutable, and building the aliased joins cost ~2 ms of
    every signed-in page (the header's unread count).
    """
    t = aliased(Thread)
    p = aliased(Post)
    content_ok = and_(
        t.is_hidden.is_(False),
        t.is_deleted.is_(False),
        or_(Notification.post_id.is_(None), and_(p.is_hidden.is_(False), p.is_deleted.is_(False))),
    )
    return (
        select(Notification)
        .outerjoin(t, t.id == Notification.thread_id)
        .outerjoin(p, p.id == Notification.post_id)
        .where(or_(Notification.kind == "moderation", content_ok))
    )


@cache
def _unread_count_stmt():
    unread = _shown().where(
        Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None)
    )
    return select(func.count()).select_from(unread.subquery())


def unread_count(user: User) -> int:
    """The header's count on every signed-in page: one small statement, built once."""
    return int(db.session.scalar(_unread_count_stmt(), {"user_id": user.id}) or 0)


def list_notifications(user: User, page: int = 1, per_page: int = 20) -> Page:
    stmt = _shown().where(Notification.user_id == user.id)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, page)
    items = db.session.scalars(
        stmt.options(
            selectinload(Notification.thread),
            selectinload(Notification.post),
            selectinload(Notification.actor),
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), int(total), page, per_page)


def mark_read(user: User, notification_id: int) -> None:
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotFound("That notification does not exist.")
    if note.read_at is None:
        note.read_at = utcnow()
        commit()


def mark_all_read(user: User) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    commit()
    return result.rowcount or 0


_MOD_VERBS = {
    "hide": "hid",
    "unhide": "restored",
    "lock": "locked",
    "unlock": "unlocked",
    "delete": "removed",
    "edit": "edited",
    "move": "moved",
    "warn": "sent a warning about",
}


def describe(note: Notification) -> tuple[str, str]:
    """The sentence shown for a notification, and where it leads."""
    thread = note.thread
    title = thread.title if thread else "a thread"
    actor = note.actor.display_name if note.actor else "Someone"
    url = links.thread_url(note.thread_id, note.post_id) if note.thread_id else "#"
    if note.kind == "reply":
        if thread is not None and thread.author_id == note.user_id:
            return f"{actor} replied to your question “{title}”", url
        return f"{actor} replied in “{title}”, which you follow", url
    if note.kind == "helpful":
        # Who voted stays private: votes are counted, not listed.
        return f"Someone found your reply in “{title}” helpful", url
    if note.kind == "resolved":
        return f"{actor} marked your reply as resolving “{title}”", url
    verb = _MOD_VERBS.get(note.detail, f"took an action ({note.detail}) on")
    whole_thread = note.post is None or note.post.is_question
    if thread is None or not thread.is_visible:
        return f"A moderator {verb} your {'thread' if whole_thread else 'reply'}", "#"
    if whole_thread:
        return f"A moderator {verb} your thread “{title}”", url
    return f"A moderator {verb} your reply in “{title}”", url
