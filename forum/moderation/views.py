"""Report a post; the moderators' queue; hide, lock and suspend; the admins' audit log.

Every state change is a POST (CSRF-protected by the global CSRFProtect) that calls one
service function and redirects back to a same-site ``next`` path.
"""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import safety
from ..extensions import db
from ..models import Post, Thread, User
from ..numbers import arg_int
from ..security import safe_next
from ..services import NotFound, ValidationError
from ..threads import service as threads
from . import bp, limits, service
from .models import REASONS


def _me() -> User:
    return current_user._get_current_object()


def _back(default: str) -> str:
    return safe_next(request.form.get("next") or request.args.get("next"), default)


def _post(post_id: int) -> Post:
    post = threads.get_post(post_id)
    threads.get_thread(post.thread_id, _me())  # hidden threads 404 for non-moderators
    return post


def _thread(thread_id: int) -> Thread:
    thread = db.session.get(Thread, thread_id)
    if thread is None or thread.is_deleted:
        raise NotFound("That thread does not exist.")
    return thread


def _post_url(post: Post) -> str:
    return url_for("threads.show", thread_id=post.thread_id, _anchor=f"post-{post.id}")


@bp.route("/posts/<int:post_id>/report", methods=["GET", "POST"])
@login_required
def report(post_id: int):
    post = _post(post_id)
    if post.is_hidden and not _me().is_moderator:
        raise NotFound("That post does not exist.")
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            service.report_post(
                _me(), post, request.form.get("reason", ""), request.form.get("note", "")
            )
        except ValidationError as exc:
            errors = exc.errors or {"reason": exc.message}
        else:
            flash("Thank you. A moderator will look at this post soon.", "success")
            return redirect(_post_url(post))
    status = 400 if errors else 200
    return render_template(
        "moderation/report.html", post=post, reasons=REASONS, errors=errors, form=request.form
    ), status


@bp.get("/moderation")
@login_required
def queue():
    service.require_moderator(_me())
    hidden_threads = db.session.scalars(
        db.select(Thread)
        .where(Thread.is_hidden.is_(True), Thread.is_deleted.is_(False))
        .order_by(Thread.id.desc())
        .limit(50)
    ).all()
    hidden_posts = db.session.scalars(
        db.select(Post)
        .where(Post.is_hidden.is_(True), Post.is_deleted.is_(False), Post.is_question.is_(False))
        .order_by(Post.id.desc())
        .limit(50)
    ).all()
    suspended = db.session.scalars(
        db.select(User).where(User.is_suspended.is_(True)).order_by(User.name_key)
    ).all()
    return render_template(
        "moderation/queue.html",
        reports=service.open_reports(),
        hidden_threads=hidden_threads,
        hidden_posts=hidden_posts,
        suspended=suspended,
    )


@bp.post("/moderation/posts/<int:post_id>/<any(hide, unhide):verb>")
@login_required
def post_visibility(post_id: int, verb: str):
    post = threads.get_post(post_id)
    service.set_post_hidden(_me(), post, verb == "hide", request.form.get("reason", ""))
    flash("Post hidden." if verb == "hide" else "Post visible again.", "success")
    return redirect(_back(_post_url(post)))


@bp.post("/moderation/threads/<int:thread_id>/<any(hide, unhide, lock, unlock):verb>")
@login_required
def thread_action(thread_id: int, verb: str):
    thread = _thread(thread_id)
    reason = request.form.get("reason", "")
    if verb in ("hide", "unhide"):
        service.set_thread_hidden(_me(), thread, verb == "hide", reason)
    else:
        service.set_thread_locked(_me(), thread, verb == "lock", reason)
    done = {"hide": "hidden", "unhide": "visible again", "lock": "locked", "unlock": "unlocked"}
    flash(f"Thread {done[verb]}.", "success")
    return redirect(_back(url_for("threads.show", thread_id=thread.id)))


@bp.post("/moderation/users/<int:user_id>/<any(suspend, unsuspend):verb>")
@login_required
def user_action(user_id: int, verb: str):
    user = db.session.get(User, user_id)
    service.set_suspended(_me(), user, verb == "suspend", request.form.get("reason", ""))
    flash(f"Account {verb}ed.", "success")
    return redirect(_back(url_for("moderation.queue")))


@bp.post("/moderation/reports/<int:report_id>/<any(resolve, dismiss):verb>")
@login_required
def report_action(report_id: int, verb: str):
    report = service.get_report(report_id)
    status = "resolved" if verb == "resolve" else "dismissed"
    service.close_report(_me(), report, status, request.form.get("reason", ""))
    flash(f"Report {status}.", "success")
    return redirect(_back(url_for("moderation.queue")))


@bp.get("/moderation/log")
@login_required
def log():
    page = arg_int("page", 1, high=100_000, lenient=True)
    entries, total = service.audit_log(_me(), page)
    return render_template("moderation/log.html", entries=entries, total=total, page=page)


def template_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(
        warning_signs=safety.find_warning_signs,
        query_warning_signs=safety.find_in_query,
        WARNING_SIGNS=safety.WARNING_SIGNS,
        personal_details_notice=safety.personal_details_notice,
        new_account_limits=lambda: limits.limits_for(
            current_user if current_user.is_authenticated else None
        ),
        count_links=limits.count_links,
        REPORT_REASONS=REASONS,
    )
