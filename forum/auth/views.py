"""Account pages: sign in and out, join, the account page and public profiles."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from .. import vocabulary
from ..extensions import db
from ..models import User
from ..people import flair_for, helpful_received
from ..security import safe_next
from ..services import ServiceError, ValidationError
from ..threads.forms import apply_errors
from ..threads.queries import clamped, list_replies, list_threads, page_number
from . import bp, service
from .forms import ChangePasswordForm, LoginForm, ProfileForm, RegisterForm

SIGN_IN_FAILED = "That display name or email and password did not match an account."
REGISTERED = (
    "Thanks. If that email address can be used, your account is ready: sign in below. "
    "(If you already have an account with that email, sign in with it instead.)"
)


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a signed-in person to another site.

    Delegates to forum.security.safe_next (also refuses control characters, which
    browsers strip: "/\\t/evil.com" would become "//evil.com")."""
    return safe_next(target)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = service.authenticate(form.display_name.data, form.password.data)
        if user is not None and user.is_suspended:
            form.form_errors.append("This account is suspended.")
            status = 403
        elif user is not None:
            session.clear()  # nothing from before sign-in carries over (CSRF token included)
            login_user(user, remember=bool(form.remember.data))
            welcome = f"Welcome back, {user.display_name}."
            if _keep_reply_draft(user):
                welcome += " Your reply is below, not posted yet: check it and press Post reply."
            flash(welcome, "success")
            return redirect(_safe_next(request.values.get("next")) or url_for("threads.index"))
        else:
            form.form_errors.append(SIGN_IN_FAILED)
            status = 400
        form.password.data = ""
    return render_template("auth/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Join. A new account is signed in at once and sent back to ``next`` (same site
    only), with the reply it was started from (``reply_body``/``reply_thread``, carried
    by /join/reply) kept as that thread's reply draft. A taken email creates nothing and
    is sent to sign in, as before: joining cannot both sign in and hide that."""
    next_url = _safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("threads.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            result = service.register(form.display_name.data, form.email.data, form.password.data)
        except ValidationError as exc:
            apply_errors(form, exc)
            return render_template("auth/register.html", form=form, next_url=next_url), 400
        if result.created:
            login_user(result.user)
            kept = _keep_reply_draft(result.user)
            flash(_joined_message(result.user, next_url, kept), "success")
            return redirect(next_url or url_for("threads.index"))
        flash(REGISTERED, "success")
        return redirect(url_for("auth.login", next=next_url))
    return render_template("auth/register.html", form=form, next_url=next_url)


def _keep_reply_draft(user: User) -> bool:
    """Save the reply text carried through joining or signing in (from /join/reply or
    /signin/reply) as the thread's reply draft."""
    body = (request.form.get("reply_body") or "").strip()
    thread_id = request.form.get("reply_thread", "")
    if not body or not thread_id.isdigit():
        return False
    from ..notifications import drafts

    try:
        return drafts.save_draft(user, "reply", int(thread_id), body=body) is not None
    except ServiceError:  # the thread is gone or the text is too long: nothing to keep
        db.session.rollback()
        return False


def _joined_message(user: User, next_url: str | None, kept_reply: bool) -> str:
    done = f"Welcome, {user.display_name}: your account is ready and you are signed in."
    if kept_reply:
        return done + " Your reply is below, not posted yet: check it and press Post reply."
    if next_url and next_url.startswith("/ask"):
        return done + " You can ask your question now."
    if next_url:
        return done + " You are back where you were."
    return done


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        service.end_sessions(current_user)
    session.clear()  # before logout_user, which leaves the note to delete remember-me
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("threads.index"))


@bp.get("/account")
@login_required
def account():
    profile = ProfileForm(
        shown_conditions=current_user.shown_condition_slugs, show_flair=current_user.show_flair
    )
    return render_template(
        "auth/account.html", password_form=ChangePasswordForm(), profile_form=profile
    )


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    try:
        service.change_password(user, form.current_password.data, form.new_password.data)
    except ValidationError as exc:
        apply_errors(form, exc)
        profile = ProfileForm(shown_conditions=user.shown_condition_slugs)
        return render_template("auth/account.html", password_form=form, profile_form=profile), 400
    # Other sessions carry the old version and are now dead; keep this one alive.
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(user, remember=remember)
    flash("Password changed. You have been signed out everywhere else.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/profile")
@login_required
def update_profile():
    form = ProfileForm()
    try:
        service.set_shown_conditions(
            current_user._get_current_object(), form.shown_conditions.data, form.show_flair.data
        )
    except ValidationError as exc:
        apply_errors(form, exc)
        return render_template(
            "auth/account.html", password_form=ChangePasswordForm(), profile_form=form
        ), 400
    flash("Profile saved.", "success")
    return redirect(url_for("auth.account"))


@bp.get("/u/<name>")
def profile(name: str):
    """Public profile: display name, chosen conditions, visible questions and replies."""
    user = User.by_name(name)
    if user is None:
        abort(404)
    show = "replies" if request.args.get("show") == "replies" else "questions"
    page = page_number()
    per_page = int(current_app.config.get("PER_PAGE", 20))
    if show == "replies":
        items = clamped(list_replies, page, author_id=user.id, per_page=per_page)
    else:
        items = clamped(list_threads, page, author_id=user.id, per_page=per_page)
    conditions = [
        vocabulary.get("condition", s)
        for s in user.shown_condition_slugs
        if vocabulary.get("condition", s)
    ]
    return render_template(
        "auth/profile.html",
        person=user,
        show=show,
        page=items,
        conditions=conditions,
        flair=flair_for([user]).get(user.id),
        helpful=helpful_received(user),
    )


@bp.app_errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    """An expired or missing form token: a friendly 400, nothing stored."""
    message = "Your form expired, please go back and try again."
    if request.path.startswith("/api/"):
        return {"error": "Bad Request", "message": message, "status": 400}, 400
    return render_template("errors/csrf.html", message=message), 400
