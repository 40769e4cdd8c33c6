"""Limits on new accounts, the commonest shape of spam: few links, few posts, first day.

Checked from the ``thread_created`` / ``reply_created`` signals, which the thread
service sends inside its transaction: a refused post rolls the whole transaction back
and raises a ValidationError the composer shows like any other. Only posts written
through a web or API request count (the importer and the CLI are not limited), and
``limits_for(user)`` tells the composer what applies, so the person sees it up front.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app, flash, has_request_context
from sqlalchemy import func, select

from .. import signals
from ..extensions import db
from ..models import Post, User, utcnow
from ..safety import personal_details_notice
from ..services import ValidationError

_LINK = re.compile(r"https?://|\bwww\.|<a\s", re.IGNORECASE)


def _settings() -> tuple[timedelta, int, int]:
    cfg = current_app.config
    return (
        timedelta(hours=cfg.get("NEW_ACCOUNT_HOURS", 24)),
        int(cfg.get("NEW_ACCOUNT_MAX_LINKS", 2)),
        int(cfg.get("NEW_ACCOUNT_POSTS_PER_HOUR", 5)),
    )


def is_new(user: User | None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or user.is_moderator:
        return False
    window, _, _ = _settings()
    return user.created_at is not None and utcnow() - user.created_at < window


def limits_for(user: User | None) -> dict | None:
    """What a new account may do, for the composer; None for everyone else."""
    if not is_new(user):
        return None
    window, links, per_hour = _settings()
    return {
        "links": links,
        "per_hour": per_hour,
        "until": user.created_at + window,
        "posted_last_hour": _posts_last_hour(user),
    }


def count_links(body: str, body_html: str = "") -> int:
    return max(len(_LINK.findall(body or "")), body_html.count("<a "))


def _posts_last_hour(user: User) -> int:
    since = utcnow() - timedelta(hours=1)
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.author_id == user.id, Post.created_at >= since)
        )
        or 0
    )


def check_post(user: User | None, post: Post) -> None:
    """Raise ValidationError when a new account exceeds its limits with this post."""
    if not is_new(user):
        return
    _, links, per_hour = _settings()
    if count_links(post.body, post.body_html) > links:
        raise ValidationError(
            f"New accounts can include at most {links} links in a post during their first "
            "day. Please remove some links and try again.",
            {"body": f"At most {links} links for now."},
        )
    if _posts_last_hour(user) > per_hour:  # includes this (flushed) post
        raise ValidationError(
            f"New accounts can write at most {per_hour} posts an hour during their first "
            "day. Your text is still here: please try again a little later.",
            {"body": f"At most {per_hour} posts an hour for now."},
        )


def _guard(post: Post) -> None:
    if not has_request_context() or not current_app.config.get("NEW_ACCOUNT_LIMITS", True):
        return
    if post.thread is not None and post.thread.import_key:
        return
    try:
        check_post(post.author, post)
    except ValidationError:
        db.session.rollback()  # nothing of the refused post (or other receivers' rows) stays
        raise
    title = post.thread.title if post.is_question and post.thread is not None else ""
    notice = personal_details_notice(title, post.body)
    if notice:  # posted anyway: a reminder, never a refusal
        flash(notice.replace("you can still post it, but you may want to remove it first",
                             "you can edit your post to remove it"), "warning")  # fmt: skip


@signals.handles_imports  # imported threads (an import key) are never limited
def on_thread_created(_app, thread, **_kw) -> None:
    _guard(thread.question)


def on_reply_created(_app, post, **_kw) -> None:
    _guard(post)


def connect() -> None:
    signals.thread_created.connect(on_thread_created)
    signals.reply_created.connect(on_reply_created)
