"""Notification, following, email settings, unsubscribe and draft pages."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import csrf
from ..numbers import arg_int, form_id, parse_int
from ..security import safe_next
from ..services import commit
from . import bp, drafts, links, mailer, service
from .models import EMAIL_MODES, EmailPreference


def _next(default: str) -> str:
    """A same-site path to go back to (never an absolute or scheme-relative URL)."""
    return safe_next(request.form.get("next") or request.args.get("next"), default)


@bp.after_request
def _private(response):
    """Every page here is about one member: never stored by a shared cache."""
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


@bp.get("/notifications")
@login_required
def index():
    page = service.list_notifications(current_user, arg_int("page", 1, lenient=True))
    entries = [(note, *service.describe(note)) for note in page.items]
    return render_template("notifications/index.html", page=page, entries=entries)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):
    service.mark_read(current_user, notification_id)
    return redirect(_next(url_for("notifications.index")))


@bp.post("/notifications/read-all")
@login_required
def mark_all_read():
    count = service.mark_all_read(current_user)
    flash(f"Marked {count} notification{'s' if count != 1 else ''} as read.", "success")
    return redirect(_next(url_for("notifications.index")))


@bp.route("/notifications/settings", methods=["GET", "POST"])
@login_required
def settings():
    if request.method == "POST":
        mode = request.form.get("email_mode", "")
        if mode not in EMAIL_MODES:
            abort(400, "Choose one of the email options.")
        if not mailer.enabled() or not current_user.email:
            abort(400, "Email is not available, so there is nothing to change.")
        _set_mode(current_user.id, mode)
        flash("Your email settings are saved.", "success")
        return redirect(url_for("notifications.settings"))
    return render_template(
        "notifications/settings.html",
        mode=mailer.email_mode(current_user),
        mail_enabled=mailer.enabled(),
        modes=EMAIL_MODES,
    )


def _set_mode(user_id: int, mode: str) -> None:
    from ..extensions import db

    pref = db.session.get(EmailPreference, user_id)
    if pref is None:
        pref = EmailPreference(user_id=user_id)
        db.session.add(pref)
    pref.mode = mode
    commit()


@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click POSTs from mail clients carry no CSRF token; the signed
# token is the proof, and all it can do is switch email off.
def unsubscribe(token: str):
    user = mailer.user_from_token(token)
    if user is None:
        abort(
            404, "This unsubscribe link is not valid. You can change email settings when signed in."
        )
    if request.method == "POST":
        _set_mode(user.id, "none")
        return render_template("notifications/unsubscribed.html")
    return render_template("notifications/unsubscribe.html", token=token)


@bp.get("/following")
@login_required
def following():
    items = service.following_overview(current_user)
    return render_template("notifications/following.html", items=items)


@bp.post("/follow")
@login_required
def follow():
    kind, key = request.form.get("kind", ""), request.form.get("key", "")
    if service.follow(current_user, kind, key):
        flash("You are following this now.", "success")
    return redirect(_next(_target_url(kind, key)))


@bp.post("/unfollow")
@login_required
def unfollow():
    kind, key = request.form.get("kind", ""), request.form.get("key", "")
    if service.unfollow(current_user, kind, key):
        flash("You stopped following this.", "success")
    return redirect(_next(_target_url(kind, key)))


def _target_url(kind: str, key: str) -> str:
    if kind == "thread" and parse_int(key, low=1) is not None:
        return links.thread_url(int(key))
    if kind in links.TOPIC_PATHS:
        return links.topic_url(kind, key)
    return url_for("notifications.following")


@bp.post("/drafts/save")
def save_draft():
    """Save from the form's "Save draft" button, the autosave script or sendBeacon."""
    autosave = request.form.get("autosave") == "1"
    if not current_user.is_authenticated:
        abort(401, "Please sign in to keep drafts.")
    kind = request.form.get("draft_kind") or request.form.get("kind") or ""
    thread_id = form_id("thread_id")
    draft = drafts.save_draft(
        current_user,
        kind,
        thread_id,
        title=request.form.get("title", ""),
        body=request.form.get("body", ""),
        conditions=request.form.getlist("conditions"),
        side_effects=request.form.getlist("side_effects"),
        medications=request.form.getlist("medications"),
    )
    if autosave:
        return "", 204
    flash(
        "Draft saved. It will be here when you come back." if draft else "Draft cleared.", "success"
    )
    return redirect(_form_url(kind, thread_id))


@bp.post("/drafts/discard")
@login_required
def discard_draft():
    kind = request.form.get("draft_kind", "")
    thread_id = form_id("thread_id")
    drafts.discard_draft(current_user, kind, thread_id)
    flash("Draft discarded.", "success")
    return redirect(_form_url(kind, thread_id))


def _form_url(kind: str, thread_id: int | None) -> str:
    if kind == "reply" and thread_id:
        return links.thread_url(thread_id) + "#reply-heading"
    return links.ask_url()
