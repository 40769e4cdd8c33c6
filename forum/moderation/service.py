"""Reports, hiding, locking, suspension and roles: each function is one transaction.

Every moderator action writes a ModerationAction row (the audit log) and sends
``signals.moderation_action`` inside the same transaction, so the audit entry and the
author's notification commit or roll back with the change. Hiding anything that search
sees records a search change in that transaction too.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select, update

from .. import signals
from ..cleaning import strip_controls
from ..extensions import db
from ..models import ROLES, Post, Thread, User, utcnow
from ..services import (
    NotFound,
    PermissionDenied,
    ValidationError,
    commit,
    record_search_change,
)
from .models import REASONS, ModerationAction, Report

NOTE_MAX = 1000


def require_moderator(user: User | None) -> User:
    if user is None or not user.is_authenticated or not user.is_moderator:
        raise PermissionDenied("Only moderators can do that.")
    return user


def require_admin(user: User | None) -> User:
    if user is None or not user.is_authenticated or not user.is_admin:
        raise PermissionDenied("Only administrators can do that.")
    return user


def _clean_reason(reason: str | None) -> str:
    return " ".join(strip_controls(reason or "").split())[:NOTE_MAX]


def _log(moderator: User | None, action: str, target_type: str, target_id: int, label: str,
         reason: str = "") -> ModerationAction:  # fmt: skip
    entry = ModerationAction(
        moderator_id=moderator.id if moderator is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=label[:200],
        reason=_clean_reason(reason),
    )
    db.session.add(entry)
    return entry


def _send(action: str, moderator: User | None, **target) -> None:
    signals.moderation_action.send(
        current_app._get_current_object(), action=action, moderator=moderator, **target
    )


def _post_label(post: Post) -> str:
    who = post.author.display_name if post.author else "a former member"
    return f"post {post.id} by {who} in “{post.thread.title[:120]}”"


def _thread_label(thread: Thread) -> str:
    return f"thread “{thread.title[:160]}”"


# --- reports -------------------------------------------------------------------------


def report_post(reporter: User, post: Post, reason: str, note: str = "") -> Report:
    """File a report. A second open report by the same person on the same post is merged."""
    if reporter is None or not reporter.is_authenticated:
        raise PermissionDenied("Please sign in to report a post.")
    if reporter.is_suspended:
        raise PermissionDenied("Your account is suspended.")
    if post is None or post.is_deleted:
        raise NotFound("That post does not exist.")
    if reason not in REASONS:
        raise ValidationError("Please choose a reason.", {"reason": "Choose a reason."})
    note = strip_controls(note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError(
            f"Please keep the note under {NOTE_MAX} characters.",
            {"note": f"At most {NOTE_MAX} characters."},
        )
    existing = db.session.scalar(
        select(Report).where(
            Report.post_id == post.id, Report.reporter_id == reporter.id, Report.status == "open"
        )
    )
    if existing is not None:
        existing.reason, existing.note = reason, note or existing.note
        commit()
        return existing
    report = Report(post_id=post.id, reporter_id=reporter.id, reason=reason, note=note)
    db.session.add(report)
    commit()
    return report


def open_reports() -> list[Report]:
    return list(
        db.session.scalars(
            select(Report).where(Report.status == "open").order_by(Report.created_at, Report.id)
        )
    )


def get_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound("That report does not exist.")
    return report


def close_report(moderator: User, report: Report, status: str, reason: str = "") -> None:
    """Mark a report resolved (acted on) or dismissed (nothing wrong)."""
    require_moderator(moderator)
    if status not in ("resolved", "dismissed"):
        raise ValidationError("Unknown report status.")
    report.status, report.handled_by_id, report.handled_at = status, moderator.id, utcnow()
    verb = "resolve_report" if status == "resolved" else "dismiss_report"
    _log(moderator, verb, "report", report.id, f"report on post {report.post_id}", reason)
    commit()


def _close_reports_for(moderator: User, post_ids: list[int]) -> None:
    db.session.execute(
        update(Report)
        .where(Report.post_id.in_(post_ids), Report.status == "open")
        .values(status="resolved", handled_by_id=moderator.id, handled_at=utcnow())
    )


# --- posts and threads ---------------------------------------------------------------


def _recount(thread: Thread) -> None:
    """Reply and helpful counts over what everyone can see."""
    db.session.flush()
    visible = (Post.thread_id == thread.id, Post.is_deleted.is_(False), Post.is_hidden.is_(False))
    thread.reply_count = int(
        db.session.scalar(
            select(func.count()).select_from(Post).where(*visible, Post.is_question.is_(False))
        )
        or 0
    )
    thread.helpful_count = int(
        db.session.scalar(select(func.coalesce(func.sum(Post.helpful_count), 0)).where(*visible))
        or 0
    )
    if thread.resolved_post_id is not None:
        resolved = db.session.get(Post, thread.resolved_post_id)
        if resolved is not None and resolved.is_hidden:
            thread.resolved_post_id = None


def set_post_hidden(moderator: User, post: Post, hidden: bool, reason: str = "") -> None:
    """Hide or unhide one reply. Hiding the question hides the whole thread."""
    require_moderator(moderator)
    if post is None or post.is_deleted:
        raise NotFound("That post does not exist.")
    if post.is_question:
        set_thread_hidden(moderator, post.thread, hidden, reason)
        return
    if post.is_hidden == hidden:
        return
    post.is_hidden = hidden
    _recount(post.thread)
    record_search_change([post.thread_id])
    action = "hide_post" if hidden else "unhide_post"
    _log(moderator, action, "post", post.id, _post_label(post), reason)
    if hidden:
        _close_reports_for(moderator, [post.id])
    _send("hide" if hidden else "unhide", moderator, post=post)
    commit()


def set_thread_hidden(moderator: User, thread: Thread, hidden: bool, reason: str = "") -> None:
    require_moderator(moderator)
    if thread is None or thread.is_deleted:
        raise NotFound("That thread does not exist.")
    if thread.is_hidden == hidden:
        return
    thread.is_hidden = hidden
    thread.question.is_hidden = hidden
    record_search_change([thread.id])
    action = "hide_thread" if hidden else "unhide_thread"
    _log(moderator, action, "thread", thread.id, _thread_label(thread), reason)
    if hidden:
        _close_reports_for(moderator, [thread.question.id])
    _send("hide" if hidden else "unhide", moderator, thread=thread)
    commit()


def set_thread_locked(moderator: User, thread: Thread, locked: bool, reason: str = "") -> None:
    require_moderator(moderator)
    if thread is None or thread.is_deleted:
        raise NotFound("That thread does not exist.")
    if thread.is_locked == locked:
        return
    thread.is_locked = locked
    record_search_change([thread.id])
    action = "lock" if locked else "unlock"
    _log(moderator, action, "thread", thread.id, _thread_label(thread), reason)
    _send(action, moderator, thread=thread)
    commit()


# --- accounts ------------------------------------------------------------------------


def set_suspended(moderator: User, user: User, suspended: bool, reason: str = "") -> None:
    """Suspend (sign out everywhere, refuse sign-in and posting) or restore an account.

    Moderators may suspend members; only admins may suspend moderators; nobody suspends
    themselves or an admin.
    """
    require_moderator(moderator)
    if user is None:
        raise NotFound("That account does not exist.")
    if user.id == moderator.id:
        raise PermissionDenied("You cannot suspend your own account.")
    if user.is_admin or (user.is_moderator and not moderator.is_admin):
        raise PermissionDenied("Only an administrator can suspend a moderator; nobody an admin.")
    if user.is_suspended == suspended:
        return
    user.is_suspended = suspended
    if suspended:
        user.end_sessions()  # every session and remember-me cookie dies now
    action = "suspend" if suspended else "unsuspend"
    _log(moderator, action, "user", user.id, f"account {user.display_name}", reason)
    _send(action, moderator, user=user)
    commit()


def set_role(actor: User | None, user: User, role: str) -> None:
    """Change an account's role. ``actor`` None means the command line (always allowed)."""
    if actor is not None:
        require_admin(actor)
    if role not in ROLES:
        raise ValidationError(f"Role must be one of: {', '.join(ROLES)}.")
    if user is None:
        raise NotFound("That account does not exist.")
    old = user.role
    if old == role:
        return
    user.role = role
    _log(actor, "set_role", "user", user.id, f"account {user.display_name}: {old} → {role}")
    commit()


def find_user(name: str) -> User:
    user = User.by_name(name or "")
    if user is None:
        raise NotFound(f"No account is called {name!r}.")
    return user


def audit_log(
    viewer: User, page: int = 1, per_page: int = 50
) -> tuple[list[ModerationAction], int]:
    """Newest first. Admins only."""
    require_admin(viewer)
    total = db.session.scalar(select(func.count()).select_from(ModerationAction)) or 0
    rows = db.session.scalars(
        select(ModerationAction)
        .order_by(ModerationAction.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return list(rows), int(total)
