"""Trust pages, the favicon and the dismissible welcome.

The welcome is for signed-out readers of the home page until they hide it. Hiding sets a
plain preference cookie (``welcome=hidden``, no session) through a link, so it works
without JavaScript and without a CSRF token; with JavaScript, static/js/welcome.js sets
the same cookie and hides the box in place. A request carrying any cookie is never served
from the anonymous page cache (forum/cache.py), so the hidden state is always honoured.
"""

from __future__ import annotations

import time

from flask import current_app, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user
from sqlalchemy import func, select

from .. import vocabulary
from ..auth.forms import LoginForm, RegisterForm
from ..extensions import csrf, db
from ..models import Post, Thread, ThreadTag
from ..security import safe_next
from . import bp

WELCOME_COOKIE = "welcome"
TRUST_PAGES = {
    "about": "About this community",
    "guidelines": "Community guidelines",
    "privacy": "Privacy",
    "contact": "Contact",
}


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for on every first visit (a 404 here filled the logs)."""
    return send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )


def _trust_page(name: str):
    return render_template(f"pages/{name}.html", title=TRUST_PAGES[name])


@bp.get("/about")
def about():
    return _trust_page("about")


@bp.get("/guidelines")
def guidelines():
    return _trust_page("guidelines")


@bp.get("/privacy")
def privacy():
    return _trust_page("privacy")


@bp.get("/contact")
def contact():
    return _trust_page("contact")


@bp.post("/join/reply")
@csrf.exempt
def join_to_reply():
    """A signed-out reader wrote a reply: show the join form carrying it.

    Nothing is stored and no one is acted for, so this needs no CSRF token (the thread
    page stays cacheable for readers); the join form itself is protected, and saves the
    text as the new member's reply draft (forum/auth/views.py).
    """
    thread_id = request.form.get("reply_thread", "")
    target = f"/t/{int(thread_id)}#reply-heading" if thread_id.isdigit() else None
    form = RegisterForm(formdata=None)
    return render_template("auth/register.html", form=form, next_url=target)


@bp.post("/signin/reply")
@csrf.exempt
def signin_to_reply():
    """A signed-out member wrote a reply: show the sign-in form carrying it (as
    /join/reply does for joining); signing in saves it as their reply draft."""
    thread_id = request.form.get("reply_thread", "")
    target = f"/t/{int(thread_id)}#reply-heading" if thread_id.isdigit() else None
    return render_template("auth/login.html", form=LoginForm(formdata=None), next_url=target)


@bp.get("/welcome/hide")
def hide_welcome():
    """Remember (for a year, in this browser) that the welcome box was read."""
    resp = redirect(safe_next(request.args.get("next")) or url_for("threads.index"))
    resp.set_cookie(
        WELCOME_COOKIE,
        "hidden",
        max_age=365 * 86400,
        samesite="Lax",
        httponly=True,
        secure=request.is_secure,
    )
    return resp


def show_welcome() -> bool:
    return not current_user.is_authenticated and request.cookies.get(WELCOME_COOKIE) != "hidden"


def welcome_counts(limit: int = 6) -> list[tuple[str, str, int, int]]:
    """(slug, name, people, questions) for the conditions people here talk about most:
    people = members who asked or replied in that condition's visible threads.

    Counting people joins every post, so the result is kept for ``WELCOME_COUNTS_SECONDS``
    (default 300) per process: the welcome says roughly who is here, not to the minute."""
    app = current_app._get_current_object()
    ttl = float(app.config.get("WELCOME_COUNTS_SECONDS", 300))
    kept = app.extensions.get("welcome_counts")
    if kept is not None and time.monotonic() - kept[0] < ttl:
        return kept[1][:limit]
    rows = _count_people_per_condition()
    app.extensions["welcome_counts"] = (time.monotonic(), rows)
    return rows[:limit]


def _count_people_per_condition() -> list[tuple[str, str, int, int]]:
    from ..threads.queries import visible_threads

    visible = visible_threads().with_only_columns(Thread.id)
    result = db.session.execute(
        select(
            ThreadTag.slug,
            func.count(func.distinct(Post.author_id)),
            func.count(func.distinct(ThreadTag.thread_id)),
        )
        .join(Post, Post.thread_id == ThreadTag.thread_id)
        .where(
            ThreadTag.kind == "condition",
            ThreadTag.thread_id.in_(visible),
            Post.author_id.is_not(None),
            Post.is_deleted.is_(False),
            Post.is_hidden.is_(False),
        )
        .group_by(ThreadTag.slug)
    )
    counts = {slug: (people, questions) for slug, people, questions in result}
    rows = [(t.slug, t.name, *counts[t.slug]) for t in vocabulary.CONDITIONS if t.slug in counts]
    rows.sort(key=lambda r: (-r[2], -r[3], r[1]))
    return rows


def welcome_context() -> dict:
    return {"show_welcome": show_welcome, "welcome_counts": welcome_counts}
