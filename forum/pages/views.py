"""Trust pages, the favicon and the dismissible welcome.

The welcome is for signed-out readers of the home page until they hide it. Hiding sets a
plain preference cookie (``welcome=hidden``, no session) through a link, so it works
without JavaScript and without a CSRF token; with JavaScript, static/js/welcome.js sets
the same cookie and hides the box in place. A request carrying any cookie is never served
from the anonymous page cache (forum/cache.py), so the hidden state is always honoured.
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user

from .. import vocabulary
from ..auth.forms import RegisterForm
from ..extensions import csrf
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


def welcome_counts(limit: int = 6) -> list[tuple[str, str, int]]:
    """(slug, name, questions) for the conditions people here talk about most."""
    from ..threads.queries import tag_counts

    counts = tag_counts("condition")
    rows = [(t.slug, t.name, counts[t.slug]) for t in vocabulary.CONDITIONS if counts.get(t.slug)]
    rows.sort(key=lambda r: -r[2])
    return rows[:limit]


def welcome_context() -> dict:
    return {"show_welcome": show_welcome, "welcome_counts": welcome_counts}
