"""JSON API, version 1 (read-only).

One envelope: a list is ``{"data": [...], "total", "page", "per_page", "pages", "links"}``
(``links``: absolute ``next`` and ``prev`` page URLs, null at either end), a single
object is ``{"data": {...}}``, and an error is ``{"error", "message", "status"}`` with the
matching HTTP status (errors raised as HTTPException or ServiceError are turned into that
shape by ``forum.web``). ``per_page`` above the maximum (100) is refused with 400, not
clamped, so a client never silently gets fewer rows than it asked for. Emails never
appear. Times are ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import current_app, jsonify, render_template, request
from markupsafe import Markup, escape

from .. import vocabulary
from ..models import Post, Thread
from ..numbers import MAX_PAGE, parse_int
from ..threads import service
from ..threads.queries import list_threads, tag_counts
from ..threads.views import thread_url
from . import bp, openapi
from .paging import links

FILTERS = (("condition", "condition"), ("side_effect", "side_effect"), ("medication", "medication"))


def _error(message: str, status: int = 400):
    names = {400: "Bad Request", 404: "Not Found"}
    return jsonify(error=names.get(status, "Error"), message=message, status=status), status


def _iso(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def _int_arg(name: str, default: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, high=MAX_PAGE)


def _thread_summary(thread: Thread) -> dict:
    return {
        "id": thread.id,
        "title": thread.title,
        "url": thread_url(thread, _external=True),
        "author": thread.author.display_name if thread.author else None,
        "conditions": thread.tag_slugs("condition"),
        "side_effects": thread.tag_slugs("side_effect"),
        "medications": thread.tag_slugs("medication"),
        "reply_count": thread.reply_count,
        "helpful_count": thread.helpful_count,
        "resolved": thread.resolved_post_id is not None,
        "created": _iso(thread.created_at),
        "last_activity": _iso(thread.last_activity_at),
    }


def _post(post: Post) -> dict:
    """A post; a removed or hidden one keeps its place but loses its author and text."""
    shown = post.is_visible
    return {
        "id": post.id,
        "removed": not shown,
        "author": post.author.display_name if post.author and shown else None,
        "body_html": post.body_html if shown else "",
        "created": _iso(post.created_at),
        "edited": _iso(post.edited_at),
        "helpful_count": post.helpful_count,
    }


@bp.get("/threads")
def threads():
    """Threads, latest activity first; filter by condition, side_effect, medication slugs."""
    page = _int_arg("page", 1)
    per_page = _int_arg("per_page", current_app.config["PER_PAGE"])
    limit = current_app.config["API_MAX_PER_PAGE"]
    if page is None or page < 1:
        return _error("page must be a whole number from 1.")
    if per_page is None or not 1 <= per_page <= limit:
        return _error(f"per_page must be a whole number from 1 to {limit}.")
    filters = {}
    for param, kind in FILTERS:
        slug = request.args.get(param)
        if slug:
            if vocabulary.get(kind, slug) is None:
                return _error(f"Unknown {kind.replace('_', ' ')} slug: {slug[:60]!r}.")
            filters[kind] = slug
    result = list_threads(page=page, per_page=per_page, **filters)
    return jsonify(
        data=[_thread_summary(t) for t in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
        links=links(result.page, result.pages),
    )


@bp.get("/threads/<int:thread_id>")
def thread(thread_id: int):
    """One thread with its question and visible replies in order (removed ones left out)."""
    found = service.get_thread(thread_id)
    data = _thread_summary(found)
    data["question"] = _post(found.question)
    shown = [p for p in found.replies if p.is_visible]
    # A hidden reply's votes and "resolved" mark are neither shown nor counted.
    resolved = found.resolved_post_id if found.resolved_post_id in {p.id for p in shown} else None
    data["resolved_reply_id"] = resolved
    data["resolved"] = resolved is not None
    data["helpful_count"] = sum(p.helpful_count or 0 for p in (found.question, *shown))
    data["replies"] = [_post(p) for p in shown]
    return jsonify(data=data)


def _terms(kind: str):
    counts = tag_counts(kind)
    return jsonify(
        data=[
            {
                "slug": term.slug,
                "name": term.name,
                "description": term.description,
                "synonyms": list(term.synonyms),
                "thread_count": counts.get(term.slug, 0),
            }
            for term in vocabulary.terms(kind)
        ]
    )


@bp.get("/conditions")
def conditions():
    return _terms("condition")


@bp.get("/side-effects")
def side_effects():
    return _terms("side_effect")


@bp.get("/medications")
def medications():
    return _terms("medication")


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of everything under /api/v1."""
    return jsonify(openapi.document())


@bp.get("/docs")
def docs():
    """The same document as a page for people, rendered here (no script, no CDN)."""
    return render_template("api/docs.html", doc=openapi.document(), prose=_prose)


def _prose(text: str) -> Markup:
    """Text with `backticks` shown as code, everything else escaped."""
    parts = re.split(r"`([^`]+)`", text)
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )
