"""Reading and writing threads: lists, the thread page, asking, replying, editing.

Each view parses input, calls one service function, then renders or redirects.
"""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import inspect as sa_inspect

from .. import vocabulary
from ..extensions import db
from ..markdown import render
from ..models import Post, Thread
from ..notifications.drafts import form_data as draft_data
from ..numbers import form_id
from ..people import flair_for
from ..services import ValidationError
from . import bp, service
from .forms import (
    AskForm,
    ConfirmForm,
    EditQuestionForm,
    EditReplyForm,
    ReplyForm,
    apply_errors,
)
from .queries import TABS, clamped, list_threads, page_number, slugify, tag_counts

KIND_ENDPOINTS = {
    "condition": "threads.condition",
    "side_effect": "threads.side_effect",
    "medication": "threads.medication",
}
KIND_TITLES = {
    "condition": "Conditions",
    "side_effect": "Side effects",
    "medication": "Medications",
}


@bp.app_template_global()
def thread_url(thread: Thread, _external: bool = False, **kwargs) -> str:
    """The canonical address of a thread: /t/<id>/<slug of the title>.

    Plain links (no arguments) are the remembered ``url_for`` prefix for this script
    root plus the id and slug, which ``url_for`` would not change: a slug is only
    ``[a-z0-9-]`` (``slugify``) - a page shows 20-200 of these, ~15 us each through
    the URL map."""
    if not (_external or kwargs) and has_request_context() and (thread.id or 0) > 0:
        prefix = _thread_prefix()
        if prefix:
            return f"{prefix}{thread.id}/{slugify(thread.title)}"
    return url_for(
        "threads.show",
        thread_id=thread.id,
        slug=slugify(thread.title),
        _external=_external,
        **kwargs,
    )


def _thread_prefix() -> str:
    """``url_for("threads.show", ...)`` up to the thread id, per app and script root
    ("" if the rule ever stops ending in ``/<id>/<slug>``: then url_for builds each)."""
    key = ("thread", request.script_root)
    urls = current_app.extensions.setdefault("tag_urls", {})
    prefix = urls.get(key)
    if prefix is None:
        sample = url_for("threads.show", thread_id=7, slug="s")
        prefix = urls[key] = sample[: -len("7/s")] if sample.endswith("/7/s") else ""
    return prefix


@bp.app_template_global()
def tag_url(kind: str, slug: str) -> str:
    """The tag's page, ``url_for(KIND_ENDPOINTS[kind], slug=slug)``, remembered per app
    and script root: a page shows up to ~60 tag links (3 per row), ~15 us each through
    the URL map, and the address depends on nothing else."""
    key = (request.script_root, kind, slug)
    urls = current_app.extensions.get("tag_urls")
    if urls is None:
        urls = current_app.extensions.setdefault("tag_urls", {})
    url = urls.get(key)
    if url is None:
        if len(urls) >= TAG_URLS_MAX:
            urls.clear()
        url = urls[key] = url_for(KIND_ENDPOINTS[kind], slug=slug)
    return url


TAG_URLS_MAX = 10_000  # vocabulary slugs x kinds x script roots: a few hundred in practice


def _tab() -> str:
    tab = request.args.get("tab", "latest")
    return tab if tab in TABS else "latest"


def _per_page() -> int:
    return int(current_app.config.get("PER_PAGE", 20))


def _user():
    return current_user._get_current_object()


def _moderator() -> bool:
    """Moderators see hidden threads in lists, labelled (templates/_macros/threads.html)."""
    return bool(current_user.is_authenticated and current_user.is_moderator)


@bp.get("/")
def index():
    tab = _tab()
    page = clamped(
        list_threads, page_number(), tab=tab, per_page=_per_page(), include_hidden=_moderator()
    )
    return render_template("threads/index.html", page=page, tab=tab)


def _term_index(kind: str):
    counts = tag_counts(kind)
    return render_template(
        "threads/terms.html",
        kind=kind,
        heading=KIND_TITLES[kind],
        terms=vocabulary.terms(kind),
        counts=counts,
    )


def _term_page(kind: str, slug: str):
    term = vocabulary.get(kind, slug)
    if term is None:
        abort(404)
    tab = _tab()
    page = clamped(
        list_threads,
        page_number(),
        tab=tab,
        per_page=_per_page(),
        include_hidden=_moderator(),
        **{kind: slug},
    )
    return render_template("threads/term.html", kind=kind, term=term, page=page, tab=tab)


@bp.get("/conditions")
def conditions():
    return _term_index("condition")


@bp.get("/conditions/<slug>")
def condition(slug: str):
    return _term_page("condition", slug)


@bp.get("/side-effects")
def side_effects():
    return _term_index("side_effect")


@bp.get("/side-effects/<slug>")
def side_effect(slug: str):
    return _term_page("side_effect", slug)


@bp.get("/medications")
def medications():
    return _term_index("medication")


@bp.get("/medications/<slug>")
def medication(slug: str):
    return _term_page("medication", slug)


@bp.route("/ask", methods=["GET", "POST"])
@login_required
def ask():
    form = AskForm(data=draft_data(_user(), "ask") if request.method == "GET" else None)
    preview_html = None
    if form.validate_on_submit():
        if form.preview.data:
            if (form.body.data or "").strip():
                preview_html = render(form.body.data)
            else:
                form.body.errors = [*form.body.errors, "Write your question to see a preview."]
        else:
            try:
                thread, warnings = service.create_thread(
                    _user(),
                    form.title.data,
                    form.body.data,
                    form.conditions.data,
                    form.side_effects.data,
                    form.medications.data,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
                return render_template("threads/ask.html", form=form), 400
            for warning in warnings:
                flash(warning, "warning")
            flash("Your question is posted.", "success")
            return redirect(thread_url(thread))
    return render_template("threads/ask.html", form=form, preview_html=preview_html)


def _thread_context(thread: Thread) -> dict:
    """What the thread page needs: ordered replies, the resolved one first, the viewer's votes."""
    viewer = _user()
    resolved = None
    replies = []
    for post in thread.replies:
        if post.id == thread.resolved_post_id and post.is_visible:
            resolved = post
        else:
            replies.append(post)
    return {
        "thread": thread,
        "question": thread.question,
        "resolved": resolved,
        "replies": replies,
        "voted": service.has_voted(viewer, [p.id for p in thread.replies]),
        "flair": flair_for(p.author for p in thread.posts),
        "is_asker": viewer.is_authenticated and thread.author_id == viewer.id,
        "is_moderator": viewer.is_authenticated and viewer.is_moderator,
        # A form makes a CSRF token (a session cookie): only for people who can use it, so
        # an anonymous reader's page sets no cookie and can be cached (forum/cache.py).
        "action_form": ConfirmForm() if viewer.is_authenticated else None,
    }


@bp.get("/t/<int:thread_id>")
@bp.get("/t/<int:thread_id>/<slug>")
def show(thread_id: int, slug: str | None = None):
    thread = service.get_thread(thread_id, _user())
    reply_form = None
    if _user().is_authenticated:
        reply_form = ReplyForm(formdata=None, data=draft_data(_user(), "reply", thread.id))
    return render_template("threads/show.html", reply_form=reply_form, **_thread_context(thread))


@bp.post("/t/<int:thread_id>/reply")
@login_required
def reply(thread_id: int):
    form = ReplyForm()
    preview_html = None
    status = 200
    reload = False
    if form.preview.data:
        preview_html = render(form.body.data or "")
    else:
        # Posting needs the thread row only, not every earlier post of a long thread.
        thread = service.get_thread(thread_id, _user(), with_posts=False)
        slug = slugify(thread.title)  # read now: after the commit it would be reloaded
        try:
            post = service.add_reply(_user(), thread, form.body.data)
        except ValidationError as exc:
            apply_errors(form, exc)
            status = 400
            # Nothing was committed (a check may refuse after the post was added): drop
            # it all; the thread is loaded again below, with its posts in three queries.
            db.session.rollback()
            reload = True
        else:
            flash("Your reply is posted.", "success")
            post_id = sa_inspect(post).identity[0]  # no reload after the commit
            return redirect(
                url_for("threads.show", thread_id=thread_id, slug=slug, _anchor=f"post-{post_id}")
            )
    thread = service.get_thread(thread_id, _user(), reload=reload)
    return render_template(
        "threads/show.html",
        reply_form=form,
        preview_html=preview_html,
        **_thread_context(thread),
    ), status


def _own_post(post_id: int) -> Post:
    """The post, if it exists, its thread is visible, and the viewer wrote it (else 404/403)."""
    post = service.get_post(post_id)
    service.get_thread(post.thread_id, _user())
    service.check_owner(_user(), post)
    return post


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int):
    post = _own_post(post_id)
    thread = post.thread
    if post.is_question:
        form = EditQuestionForm(
            data={
                "title": thread.title,
                "body": post.body,
                "conditions": thread.tag_slugs("condition"),
                "side_effects": thread.tag_slugs("side_effect"),
                "medications": thread.tag_slugs("medication"),
            }
        )
    else:
        form = EditReplyForm(data={"body": post.body})
    preview_html = None
    if form.validate_on_submit():
        if form.preview.data:
            preview_html = render(form.body.data or "")
        else:
            try:
                warnings = _save_edit(post, form)
            except ValidationError as exc:
                apply_errors(form, exc)
                return render_template("threads/edit.html", form=form, post=post), 400
            for warning in warnings:
                flash(warning, "warning")
            flash("Your changes are saved.", "success")
            return redirect(thread_url(thread, _anchor=f"post-{post.id}"))
    return render_template("threads/edit.html", form=form, post=post, preview_html=preview_html)


def _save_edit(post: Post, form) -> list[str]:
    if post.is_question:
        return service.edit_post(
            _user(),
            post,
            form.body.data,
            title=form.title.data,
            conditions=form.conditions.data,
            side_effects=form.side_effects.data,
            medications=form.medications.data,
        )
    return service.edit_post(_user(), post, form.body.data)


@bp.route("/posts/<int:post_id>/delete", methods=["GET", "POST"])
@login_required
def delete(post_id: int):
    """GET asks for confirmation; POST deletes (the question takes the thread with it)."""
    post = _own_post(post_id)
    thread = post.thread
    form = ConfirmForm()
    if request.method == "POST":
        service.delete_post(_user(), post)
        if post.is_question:
            flash("Your question and its thread are removed.", "success")
            return redirect(url_for("threads.index"))
        flash("Your reply is removed.", "success")
        return redirect(thread_url(thread))
    return render_template("threads/delete.html", post=post, thread=thread, form=form)


@bp.post("/posts/<int:post_id>/helpful")
@login_required
def helpful(post_id: int):
    """Mark a reply "This helped me" (idempotent), or undo with ``undo=1``."""
    post = service.get_post(post_id)
    thread = service.get_thread(post.thread_id, _user())
    if request.form.get("undo"):
        service.unmark_helpful(_user(), post)
    else:
        service.mark_helpful(_user(), post)
    return redirect(thread_url(thread, _anchor=f"post-{post.id}"))


@bp.post("/t/<int:thread_id>/resolve")
@login_required
def resolve(thread_id: int):
    """The asker marks ``post_id`` as what resolved it for them; an empty value clears it."""
    thread = service.get_thread(thread_id, _user())
    post_id = form_id("post_id")
    post = service.get_post(post_id) if post_id is not None else None
    service.mark_resolved(_user(), thread, post)
    if post is None:
        flash("Cleared: no reply is marked as resolving it.", "success")
        return redirect(thread_url(thread))
    flash("Marked as what resolved it for you.", "success")
    return redirect(thread_url(thread, _anchor=f"post-{post.id}"))
