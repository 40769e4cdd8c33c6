"""A person's own data: download all of it, or erase the account.

``collect(user)`` gathers everything the person wrote and recorded (their threads in the
import format, replies, experience reports, votes, settings) for the download.

``delete_account(user, password, mode)`` is one transaction: votes (with the helpful
counts they added), experience reports, follows/notifications (by foreign-key cascade),
the email and the account itself are gone; ``mode="erase"`` deletes their threads and
replies too, ``mode="keep"`` leaves them as "a former member". Every thread whose text or
counts changed is recorded for the search index in the same transaction; after the
commit the index is optimised so erased words do not linger in old segment files.
Their words copied elsewhere (audit log, report notes, queued mail, SQLite's WAL and free
pages) are removed too: see ``forum.privacy.traces``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update

from ..extensions import db
from ..models import HelpfulVote, Post, Thread, User
from ..services import ValidationError, commit, record_search_change
from . import traces

MODES = ("erase", "keep")
log = logging.getLogger(__name__)


def _iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _optional(module: str):
    """A feature package that may not be installed in this build (imported defensively)."""
    try:
        return __import__(f"forum.{module}", fromlist=["_"])
    except ImportError:
        return None


def collect(user: User) -> dict[str, Any]:
    """Everything this person wrote and recorded, as JSON-ready data (includes their email)."""
    data: dict[str, Any] = {
        "format": "aza-forum personal data export, version 1",
        "exported_at": _iso(datetime.now(UTC).replace(tzinfo=None)),
        "profile": {
            "display_name": user.display_name,
            "email": user.email,
            "role": user.role,
            "joined": _iso(user.created_at),
            "shown_conditions": user.shown_condition_slugs,
        },
        "threads": _threads(user),
        "replies": _replies(user),
        "helpful_votes": _votes(user),
    }
    experiences = _experience_reports(user)
    if experiences is not None:
        data["experience_reports"] = experiences
    settings = _notification_settings(user)
    if settings is not None:
        data["notification_settings"] = settings
    return data


def _threads(user: User) -> list[dict]:
    transfer = _optional("transfer")
    query = select(Thread).where(Thread.author_id == user.id)
    if transfer is not None and hasattr(transfer, "export_threads"):
        return list(transfer.export_threads(query, include_hidden=True))
    return [
        {"title": t.title, "body": t.question.body, "created": _iso(t.created_at)}
        for t in db.session.scalars(query.where(Thread.is_deleted.is_(False)))
    ]


def _replies(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(Post)
        .join(Thread, Post.thread_id == Thread.id)
        .where(
            Post.author_id == user.id,
            Post.is_question.is_(False),
            Post.is_deleted.is_(False),
            Thread.is_deleted.is_(False),
        )
        .order_by(Post.id)
    )
    return [
        {
            "thread_id": p.thread_id,
            "thread_title": p.thread.title,
            "body": p.body,
            "created": _iso(p.created_at),
            "edited": _iso(p.edited_at),
            "helpful_count": p.helpful_count,
        }
        for p in rows
    ]


def _votes(user: User) -> list[dict]:
    rows = db.session.execute(
        select(HelpfulVote.post_id, HelpfulVote.created_at, Post.thread_id)
        .join(Post, Post.id == HelpfulVote.post_id)
        .where(HelpfulVote.user_id == user.id)
        .order_by(HelpfulVote.id)
    )
    return [{"post_id": pid, "thread_id": tid, "created": _iso(when)} for pid, when, tid in rows]


def _experience_reports(user: User) -> list[dict] | None:
    service = _optional("experiences.service")
    if service is None or not hasattr(service, "reports_of"):
        return None
    to_dict = getattr(service, "experience_to_dict", None)
    out = []
    for report in service.reports_of(user):
        if to_dict is not None:
            out.append(to_dict(report, include_private=True))
        else:
            out.append({"condition": report.condition})
    return out


def _notification_settings(user: User) -> dict | None:
    models = _optional("notifications.models")
    if models is None:
        return None
    out: dict[str, Any] = {}
    pref_model = getattr(models, "EmailPreference", None)
    if pref_model is not None:
        pref = db.session.get(pref_model, user.id)
        if pref is not None:
            out["email"] = {
                c.name: getattr(pref, c.name)
                for c in pref_model.__table__.columns
                if c.name not in ("user_id", "token", "unsubscribe_token")
                and isinstance(getattr(pref, c.name), str | int | bool | type(None))
            }
    follow_model = getattr(models, "Follow", None)
    if follow_model is not None:
        follows = db.session.scalars(select(follow_model).where(follow_model.user_id == user.id))
        out["following"] = [{"kind": f.kind, "key": f.key} for f in follows]
    return out


# --- erasure -----------------------------------------------------------------------------


def delete_account(user: User, password: str, mode: str) -> int:
    """Erase the account in one transaction; returns how many threads were touched.

    Refuses (ValidationError, nothing changed) on a wrong password or unknown mode.
    """
    if mode not in MODES:
        raise ValidationError(
            "Choose whether to erase your posts or keep your replies.", {"mode": "Choose one."}
        )
    if not user.check_password(password or ""):
        raise ValidationError("That password is not right.", {"password": "Not right."})
    uid = user.id
    left_behind = traces.gather(user, erase=mode == "erase")
    touched = _touched_threads(uid)
    traces.erase_traces(left_behind)
    _remove_votes(uid)
    if mode == "erase":
        _erase_posts(uid)
    else:
        db.session.execute(update(Post).where(Post.author_id == uid).values(author_id=None))
        db.session.execute(update(Thread).where(Thread.author_id == uid).values(author_id=None))
    _delete_feature_rows(uid)
    db.session.execute(delete(User).where(User.id == uid))
    _recount(touched)
    record_search_change(touched)
    commit()
    db.session.expire_all()
    optimise_search_index()
    traces.wipe_sqlite_files()
    return len(touched)


def _touched_threads(uid: int) -> set[int]:
    """Threads they started, replied in, or voted in: text or counts change in all of them."""
    ids = set(db.session.scalars(select(Post.thread_id).where(Post.author_id == uid)))
    ids |= set(db.session.scalars(select(Thread.id).where(Thread.author_id == uid)))
    ids |= set(
        db.session.scalars(
            select(Post.thread_id)
            .join(HelpfulVote, HelpfulVote.post_id == Post.id)
            .where(HelpfulVote.user_id == uid)
        )
    )
    return ids


def _remove_votes(uid: int) -> None:
    voted = select(HelpfulVote.post_id).where(HelpfulVote.user_id == uid)
    db.session.execute(
        update(Post)
        .where(Post.id.in_(voted))
        .values(helpful_count=case((Post.helpful_count > 0, Post.helpful_count - 1), else_=0))
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(HelpfulVote).where(HelpfulVote.user_id == uid))


def _erase_posts(uid: int) -> None:
    own_threads = select(Thread.id).where(Thread.author_id == uid)
    # Their questions take the whole thread with them; the thread's replies go too.
    db.session.execute(
        update(Thread)
        .where(Thread.id.in_(own_threads))
        .values(resolved_post_id=None)
        .execution_options(synchronize_session=False)
    )
    thread_ids = list(db.session.scalars(own_threads))
    if thread_ids:
        db.session.execute(delete(Post).where(Post.thread_id.in_(thread_ids)))
        db.session.execute(delete(Thread).where(Thread.id.in_(thread_ids)))
    replies = select(Post.id).where(Post.author_id == uid)
    db.session.execute(
        update(Thread)
        .where(Thread.resolved_post_id.in_(replies))
        .values(resolved_post_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(Post).where(Post.author_id == uid))


def _delete_feature_rows(uid: int) -> None:
    """Rows of feature packages that belong to the person (foreign keys cascade the rest)."""
    for module, names in (
        ("experiences.models", ("ExperienceReport",)),
        ("notifications.models", ("Notification", "Follow", "EmailPreference", "Draft")),
        ("notifications.models", ("EmailOutbox",)),
    ):
        models = _optional(module)
        for name in names:
            model = getattr(models, name, None) if models is not None else None
            if model is not None and hasattr(model, "user_id"):
                db.session.execute(delete(model).where(model.user_id == uid))
    moderation = _optional("moderation.models")
    if moderation is not None:
        report = moderation.Report
        db.session.execute(update(report).where(report.reporter_id == uid).values(reporter_id=None))


def _recount(thread_ids: set[int]) -> None:
    """Reply count, helpful count and last activity of the threads that remain."""
    if not thread_ids:
        return
    visible = (Post.is_deleted.is_(False), Post.is_hidden.is_(False))
    for thread in db.session.scalars(select(Thread).where(Thread.id.in_(thread_ids))):
        counts = db.session.execute(
            select(
                func.count().filter(Post.is_question.is_(False)),
                func.coalesce(func.sum(Post.helpful_count), 0),
                func.max(Post.created_at),
            ).where(Post.thread_id == thread.id, *visible)
        ).one()
        thread.reply_count = int(counts[0] or 0)
        thread.helpful_count = int(counts[1] or 0)
        thread.last_activity_at = counts[2] or thread.created_at


def optimise_search_index() -> None:
    """After an erasure: the search engineer's purge (apply + optimise), if search exists."""
    search = _optional("search")
    purge = getattr(search, "purge_and_optimise", None) if search is not None else None
    if purge is None:
        return
    try:
        purge()
    except Exception:  # the database is already right; the index catches up on its own
        log.exception("search index purge after account erasure failed")
