"""Every write to threads, posts, tags and votes goes through here.

Web forms, the JSON API and the CLI importer all call these functions. Each public
function is one transaction: it validates, changes rows, records the search change,
sends its signal (so feature packages add their rows to the same transaction), and
commits. A refused request raises a ``ServiceError`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from .. import signals, vocabulary
from ..cleaning import strip_controls
from ..extensions import db
from ..markdown import render
from ..models import HelpfulVote, Post, SearchChange, Thread, ThreadTag, User, utcnow
from ..services import (
    NotFound,
    PermissionDenied,
    ValidationError,
    commit,
    insert_rows,
    record_search_change,
)

MAX_CONDITIONS = 3
MAX_SIDE_EFFECTS = 10
MAX_MEDICATIONS = 10


def clean_title(title: str | None) -> str:
    """Trimmed, single-spaced title or a ValidationError naming the problem."""
    title = " ".join(strip_controls(title or "").split())
    limit = current_app.config["TITLE_MAX"]
    if not title:
        raise ValidationError("Please give your question a title.", {"title": "Required."})
    if len(title) > limit:
        raise ValidationError(
            f"The title is {len(title)} characters; the limit is {limit}.",
            {"title": f"At most {limit} characters."},
        )
    return title


def clean_body(body: str | None, field: str = "body") -> str:
    body = strip_controls(body or "").replace("\r\n", "\n").strip()
    limit = current_app.config["BODY_MAX"]
    if not body:
        raise ValidationError("Please write something first.", {field: "Required."})
    if len(body) > limit:
        raise ValidationError(
            f"The text is {len(body):,} characters; the limit is {limit:,}.",
            {field: f"At most {limit:,} characters."},
        )
    return body


def resolve_tags(
    conditions: Sequence[str],
    side_effects: Sequence[str] = (),
    medications: Sequence[str] = (),
) -> tuple[dict[str, list[str]], list[str]]:
    """Map names/slugs/synonyms to slugs.

    Returns ({kind: [slugs]}, warnings). An unknown condition, no condition, or more
    than three is a ValidationError; unknown side effects and medications become
    warnings and are dropped (the text that mentions them stays searchable).
    """
    result: dict[str, list[str]] = {}
    warnings: list[str] = []
    for kind, names, limit in (
        ("condition", conditions, MAX_CONDITIONS),
        ("side_effect", side_effects, MAX_SIDE_EFFECTS),
        ("medication", medications, MAX_MEDICATIONS),
    ):
        slugs: list[str] = []
        for name in names or ():
            if not isinstance(name, str) or not name.strip():
                continue
            slug = vocabulary.resolve(kind, name)
            if slug is None:
                label = kind.replace("_", " ")
                if kind == "condition":
                    raise ValidationError(
                        f"Unknown condition: {name[:60]!r}.",
                        {"conditions": f"Unknown condition {name[:60]!r}."},
                    )
                warnings.append(f"unknown {label} {name[:60]!r} was not tagged")
                continue
            if slug not in slugs:
                slugs.append(slug)
        if len(slugs) > limit:
            field = kind + "s"
            raise ValidationError(
                f"Choose at most {limit} {field.replace('_', ' ')}.",
                {field: f"At most {limit}."},
            )
        result[kind] = slugs
    if not result["condition"]:
        raise ValidationError(
            "Choose at least one condition so people like you can find your question.",
            {"conditions": "Choose at least one condition."},
        )
    return result, warnings


def all_checked(*checks):
    """Run every check and return their results; if any refuse, one ValidationError
    carrying every field's message, so a form shows all its problems at once."""
    results, messages, errors = [], [], {}
    for check in checks:
        try:
            results.append(check())
        except ValidationError as exc:
            messages.append(exc.message)
            errors.update(exc.errors)
    if messages:
        raise ValidationError(" ".join(messages), errors)
    return results


def _set_tags(thread: Thread, tags: dict[str, list[str]]) -> None:
    thread.tags.clear()
    db.session.flush()
    for kind, slugs in tags.items():
        for slug in slugs:
            thread.tags.append(ThreadTag(kind=kind, slug=slug))


@dataclass
class PreparedThread:
    """A thread checked and rendered, ready to be stored: ``prepare_thread``'s result.

    Pure data (no rows, no session), so preparing can run ahead of (or apart from) the
    transaction. ``author`` and the reply authors are whatever the caller passed: ``User``
    objects by the time ``persist_threads`` stores them.
    """

    author: Any
    title: str
    body: str
    body_html: str
    tags: dict[str, list[str]]
    warnings: list[str]
    created: datetime | None
    replies: list[tuple[Any, str, str, datetime | None]] = field(default_factory=list)
    import_key: str | None = None


def prepare_thread(
    author: Any,
    title: str,
    body: str,
    conditions: Sequence[str],
    side_effects: Sequence[str] = (),
    medications: Sequence[str] = (),
    *,
    created: datetime | None = None,
    replies: Sequence[tuple[Any, str, datetime | None]] = (),
    import_key: str | None = None,
) -> PreparedThread:
    """Clean, validate, resolve tags and render: everything but storing. Touches no rows.

    Raises ValidationError on bad input (the same rules and messages as ``create_thread``).
    """
    title, body, (tags, warnings) = all_checked(
        lambda: clean_title(title),
        lambda: clean_body(body),
        lambda: resolve_tags(conditions, side_effects, medications),
    )
    cleaned = []
    for reply_author, reply_body, reply_created in replies:
        text = clean_body(reply_body, "replies")
        cleaned.append((reply_author, text, render(text), reply_created))
    return PreparedThread(
        author, title, body, render(body), tags, warnings, created, cleaned, import_key
    )


def _new_thread(item: PreparedThread) -> Thread:
    when = item.created or utcnow()
    thread = Thread(title=item.title, created_at=when, last_activity_at=when)
    thread.import_key = item.import_key
    thread.author = item.author
    thread.posts.append(
        Post(
            author=item.author,
            is_question=True,
            body=item.body,
            body_html=item.body_html,
            created_at=when,
        )
    )
    for kind, slugs in item.tags.items():
        for slug in slugs:
            thread.tags.append(ThreadTag(kind=kind, slug=slug))
    for reply_author, reply_body, reply_html, reply_created in item.replies:
        reply_when = reply_created or utcnow()
        thread.posts.append(
            Post(author=reply_author, body=reply_body, body_html=reply_html, created_at=reply_when)
        )
        thread.last_activity_at = max(thread.last_activity_at, reply_when)
    thread.reply_count = len(item.replies)
    return thread


def persist_threads(items: Sequence[PreparedThread]) -> list[Thread]:
    """Store prepared threads in ONE transaction: rows inserted in bulk, one search-change
    record and one ``thread_created`` signal per thread (exactly as one at a time), one
    commit. All or nothing: any failure (a refused author, a receiver's ValidationError, an
    IntegrityError from a concurrent writer) rolls the whole batch back and re-raises;
    callers that need per-thread outcomes retry the threads one by one.
    """
    try:
        for item in items:
            _check_can_post(item.author)
        threads = [_new_thread(item) for item in items]
        db.session.add_all(threads)
        db.session.flush()
        record_search_change([thread.id for thread in threads])
        app = current_app._get_current_object()
        # The threads are flushed; what receivers add (follows) is flushed once, at the
        # commit, instead of before each receiver's next query (one flush per thread).
        with db.session.no_autoflush:
            for thread in threads:
                signals.thread_created.send(app, thread=thread)
    except BaseException:
        db.session.rollback()
        raise
    commit()
    return threads


@dataclass(frozen=True)
class StoredThread:
    """A thread ``persist_imported`` stored: what ``threads_imported`` receivers get."""

    id: int
    author_id: int | None
    import_key: str | None


def persist_imported(items: Sequence[PreparedThread]) -> list[int]:
    """``persist_threads`` for a bulk import, at migration speed: the same rows, one
    search-change record per thread and one commit, but written with bulk inserts (one
    executemany per table, thread ids returned in order) instead of ORM objects, and the
    receivers told once per batch (``signals.threads_imported``) instead of once per
    thread. Authors are ``User`` rows (new ones are flushed here) or None. All or nothing
    as ``persist_threads``: any failure rolls the batch back and re-raises. Returns the
    new thread ids in the order of ``items``.

    Only for imports (every item has an import key, so no receiver treats it as news):
    the importer uses it while every ``thread_created`` receiver ``handles_imports``.
    """
    try:
        for item in items:
            _check_can_post(item.author)
        db.session.flush()  # new authors get their ids
        now = utcnow()  # for rows without a time, as the ORM default would give them
        ids = _insert_threads(items, now)
        _insert_posts_and_tags(items, ids, now)
        insert_rows(SearchChange, [{"thread_id": i, "created_at": now} for i in ids])
        stored = [
            StoredThread(i, item.author.id if item.author is not None else None, item.import_key)
            for i, item in zip(ids, items, strict=True)
        ]
        signals.threads_imported.send(current_app._get_current_object(), threads=stored)
    except BaseException:
        db.session.rollback()
        raise
    commit()
    return ids


def _insert_threads(items: Sequence[PreparedThread], now: datetime) -> list[int]:
    rows = []
    for item in items:
        when = item.created or now
        last = max([when, *((created or now) for *_, created in item.replies)])
        rows.append(
            {
                "title": item.title,
                "author_id": item.author.id if item.author is not None else None,
                "created_at": when,
                "last_activity_at": last,
                "reply_count": len(item.replies),
                "import_key": item.import_key,
            }
        )
    stmt = insert(Thread).returning(Thread.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


def _insert_posts_and_tags(items: Sequence[PreparedThread], ids: list[int], now: datetime) -> None:
    """Each thread's question then its replies, in that order (a thread's first post by
    id is its question), and its tags."""
    posts, tags = [], []
    for thread_id, item in zip(ids, items, strict=True):
        author_id = item.author.id if item.author is not None else None
        posts.append(
            {
                "thread_id": thread_id,
                "author_id": author_id,
                "is_question": True,
                "body": item.body,
                "body_html": item.body_html,
                "created_at": item.created or now,
            }
        )
        for reply_author, body, html, created in item.replies:
            posts.append(
                {
                    "thread_id": thread_id,
                    "author_id": reply_author.id if reply_author is not None else None,
                    "is_question": False,
                    "body": body,
                    "body_html": html,
                    "created_at": created or now,
                }
            )
        tags.extend(
            {"thread_id": thread_id, "kind": kind, "slug": slug}
            for kind, slugs in item.tags.items()
            for slug in slugs
        )
    # ``insert_rows`` (an INSERT of the rows in order, a COPY on PostgreSQL) gives serial
    # ids in the rows' order, as one-by-one inserts would; the ids are not needed here, so
    # no RETURNING (tests/integration/test_import_batches.py checks the order).
    insert_rows(Post, posts)
    insert_rows(ThreadTag, tags)


def create_thread(
    author: User,
    title: str,
    body: str,
    conditions: Sequence[str],
    side_effects: Sequence[str] = (),
    medications: Sequence[str] = (),
    *,
    created: datetime | None = None,
    replies: Sequence[tuple[User, str, datetime | None]] = (),
    import_key: str | None = None,
) -> tuple[Thread, list[str]]:
    """Ask a question (with optional replies, for import) in one transaction.

    Returns the thread and any tag warnings. Raises ValidationError on bad input.
    ``prepare_thread`` then ``persist_threads`` with a batch of one.
    """
    _check_can_post(author)
    item = prepare_thread(
        author,
        title,
        body,
        conditions,
        side_effects,
        medications,
        created=created,
        replies=replies,
        import_key=import_key,
    )
    try:
        [thread] = persist_threads([item])
    except IntegrityError as exc:
        raise ValidationError("This thread already exists.", {"title": "Duplicate."}) from exc
    return thread, item.warnings


def _check_can_post(user: User | None) -> None:
    """PermissionDenied for a suspended account. ``None`` (no author: an erased member's
    content brought back by an import) is allowed."""
    if user is not None and user.is_suspended:
        raise PermissionDenied("Your account is suspended, so you cannot post right now.")


def get_thread(
    thread_id: int, viewer: User | None = None, with_posts: bool = True, reload: bool = False
) -> Thread:
    """The thread, or NotFound when it does not exist, was deleted, or is hidden from the viewer.

    ``with_posts=False`` loads the thread row alone (a reply needs no other post; the
    options given here are also re-applied whenever the object is refreshed after a commit).
    ``reload`` loads it (and its posts) again even when the session holds it already.
    """
    # Posts, their authors and the tags in three queries, not one per reply.
    options = [
        selectinload(Thread.posts).joinedload(Post.author),
        selectinload(Thread.tags),
        joinedload(Thread.author),
    ]
    thread = db.session.get(
        Thread, thread_id, options=options if with_posts else None, populate_existing=reload
    )
    if thread is None or thread.is_deleted:
        raise NotFound("That thread does not exist.")
    if thread.is_hidden and not (viewer and viewer.is_authenticated and viewer.is_moderator):
        raise NotFound("That thread does not exist.")
    return thread


def get_post(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None or post.is_deleted:
        raise NotFound("That post does not exist.")
    return post


def add_reply(author: User, thread: Thread, body: str, created: datetime | None = None) -> Post:
    """Reply to a thread. Locked threads refuse replies (403)."""
    _check_can_post(author)
    if thread.is_locked:
        raise PermissionDenied("This thread is locked, so it cannot take new replies.")
    body = clean_body(body)
    when = created or utcnow()
    post = Post(thread=thread, author=author, body=body, body_html=render(body), created_at=when)
    db.session.add(post)
    thread.reply_count = Thread.reply_count + 1
    thread.last_activity_at = when
    db.session.flush()
    record_search_change([thread.id])
    signals.reply_created.send(current_app._get_current_object(), post=post)
    commit()
    return post


def _own(user: User, post: Post) -> None:
    if (
        post.author_id is None
        or user is None
        or not getattr(user, "is_authenticated", False)
        or post.author_id != user.id
    ):
        raise PermissionDenied("You can only change your own posts.")


def check_owner(user: User, post: Post) -> None:
    """PermissionDenied unless ``user`` wrote ``post`` (pages check before showing a form)."""
    _own(user, post)


def edit_post(
    user: User,
    post: Post,
    body: str,
    *,
    title: str | None = None,
    conditions: Sequence[str] | None = None,
    side_effects: Sequence[str] | None = None,
    medications: Sequence[str] | None = None,
) -> list[str]:
    """Edit one's own post (and, for the question, the title and tags). Marked as edited."""
    _own(user, post)
    # Validate everything before changing anything: a refused edit leaves no dirty rows
    # in the session for a later commit to pick up.
    body = clean_body(body)
    warnings: list[str] = []
    thread = post.thread
    new_title = clean_title(title) if post.is_question and title is not None else None
    tags = None
    if post.is_question and conditions is not None:
        tags, warnings = resolve_tags(conditions, side_effects or (), medications or ())
    if new_title is not None:
        thread.title = new_title
    if tags is not None:
        _set_tags(thread, tags)
    post.body = body
    post.body_html = render(body)
    post.edited_at = utcnow()
    record_search_change([thread.id])
    signals.post_edited.send(current_app._get_current_object(), post=post)
    commit()
    return warnings


def delete_post(user: User, post: Post) -> None:
    """Delete one's own post: the text is gone, the thread shows a post was removed.

    Deleting the question deletes the whole thread.
    """
    _own(user, post)
    thread = post.thread
    post.is_deleted = True
    post.body = ""
    post.body_html = ""
    if post.is_question:
        thread.is_deleted = True
    else:
        thread.reply_count = Thread.reply_count - 1
        if thread.resolved_post_id == post.id:
            thread.resolved_post_id = None
        _recount_helpful(thread)
    record_search_change([thread.id])
    signals.post_deleted.send(current_app._get_current_object(), post=post)
    commit()


def _recount_helpful(thread: Thread) -> None:
    db.session.flush()
    total = db.session.scalar(
        select(func.coalesce(func.sum(Post.helpful_count), 0)).where(
            Post.thread_id == thread.id, Post.is_deleted.is_(False), Post.is_hidden.is_(False)
        )
    )
    thread.helpful_count = int(total or 0)


def _require_shown(post: Post, doing: str) -> None:
    """A hidden or removed reply (or one in a hidden thread) takes no votes and cannot be
    what resolved a question: its count and mark would show for something nobody sees."""
    thread = post.thread
    if post.is_hidden or post.is_deleted or thread.is_hidden or thread.is_deleted:
        raise ValidationError(
            f"That reply was removed or hidden by the moderators, so it cannot be {doing}."
        )


def mark_helpful(user: User, post: Post) -> bool:
    """'This helped me' on a reply, once per person. Returns False when already marked.

    Not on one's own posts, on the question itself, or on a hidden or removed reply.
    """
    if post.is_question:
        raise ValidationError("Only replies can be marked as helpful.")
    _require_shown(post, "marked as helpful")
    if post.author_id == user.id:
        raise PermissionDenied("You cannot mark your own reply as helpful.")
    exists = db.session.scalar(
        select(HelpfulVote.id).where(HelpfulVote.post_id == post.id, HelpfulVote.user_id == user.id)
    )
    if exists:
        return False
    db.session.add(HelpfulVote(post_id=post.id, user_id=user.id))
    db.session.execute(
        update(Post).where(Post.id == post.id).values(helpful_count=Post.helpful_count + 1)
    )
    db.session.execute(
        update(Thread)
        .where(Thread.id == post.thread_id)
        .values(helpful_count=Thread.helpful_count + 1)
    )
    record_search_change([post.thread_id])
    signals.helpful_marked.send(current_app._get_current_object(), post=post, user=user)
    try:
        commit()
    except IntegrityError:  # a double click racing itself
        return False
    db.session.refresh(post)
    return True


def unmark_helpful(user: User, post: Post) -> bool:
    """Take back one's 'This helped me'; not on a hidden reply (its votes are not counted
    while hidden, so there is nothing shown to take back)."""
    _require_shown(post, "unmarked")
    vote = db.session.scalar(
        select(HelpfulVote).where(HelpfulVote.post_id == post.id, HelpfulVote.user_id == user.id)
    )
    if vote is None:
        return False
    db.session.delete(vote)
    db.session.execute(
        update(Post).where(Post.id == post.id).values(helpful_count=Post.helpful_count - 1)
    )
    db.session.execute(
        update(Thread)
        .where(Thread.id == post.thread_id)
        .values(helpful_count=Thread.helpful_count - 1)
    )
    record_search_change([post.thread_id])
    commit()
    db.session.refresh(post)
    return True


def mark_resolved(user: User, thread: Thread, post: Post | None) -> None:
    """The asker marks one reply as 'resolved it for me' (or clears it with None)."""
    if thread.author_id is None or thread.author_id != user.id:
        raise PermissionDenied("Only the person who asked can mark a reply as resolving it.")
    if post is not None and (post.thread_id != thread.id or post.is_question or post.is_deleted):
        raise ValidationError("Choose a reply in this thread.")
    if post is not None:
        _require_shown(post, "marked as resolving it")
    thread.resolved_post_id = post.id if post else None
    record_search_change([thread.id])
    if post is not None:
        signals.resolved_marked.send(current_app._get_current_object(), thread=thread, post=post)
    commit()


def has_voted(user: User, post_ids: Sequence[int]) -> set[int]:
    """Which of these posts the user already marked helpful."""
    if not user or not user.is_authenticated or not post_ids:
        return set()
    rows = db.session.scalars(
        select(HelpfulVote.post_id).where(
            HelpfulVote.user_id == user.id, HelpfulVote.post_id.in_(list(post_ids))
        )
    )
    return set(rows)
