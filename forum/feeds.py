"""Atom 1.0 feeds: latest threads, per condition, per side effect, per medication and
per search. Built with ElementTree, so every title and body is escaped; only visible
threads (not hidden, not deleted) ever appear.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from flask import Blueprint, Flask, Response, abort, request, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from . import vocabulary
from .cleaning import strip_controls
from .extensions import db
from .markdown import plain_text
from .models import Post, Thread
from .notifications import links
from .search import thread_ids as search_thread_ids
from .threads.queries import list_threads, visible_threads

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 30
SEARCH_LIMIT = 200
TOPIC_ROUTES = {
    "conditions": "condition",
    "side-effects": "side_effect",
    "medications": "medication",
}

bp = Blueprint("feeds", __name__, url_prefix="/feeds")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["feed_links"] = feed_links


def _iso(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat() + "Z"


def _tag_uri(specific: str, when: datetime | None = None) -> str:
    """tag: URIs (RFC 4151) stay stable if the site moves to another address scheme."""
    host = request.host.split(":")[0] or "localhost"
    return f"tag:{host},{(when.date().isoformat() if when else '2026')}:{specific}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    """Every text and attribute passes ``strip_controls``: one stored control character
    (from before the services stripped them) must not make the feed invalid XML."""
    clean = {k: strip_controls(v) for k, v in attrs.items() if v}
    el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", clean)
    if text is not None:
        el.text = strip_controls(text)
    return el


def _entry(feed: ET.Element, thread: Thread) -> None:
    question = thread.question
    entry = _sub(feed, "entry")
    _sub(entry, "id", _tag_uri(f"thread:{thread.id}", thread.created_at))
    _sub(entry, "title", thread.title)
    _sub(entry, "updated", _iso(thread.last_activity_at))
    _sub(entry, "published", _iso(thread.created_at))
    _sub(entry, "link", rel="alternate", type="text/html", href=_abs(links.thread_url(thread.id)))
    author = _sub(entry, "author")
    _sub(author, "name", thread.author.display_name if thread.author else "a former member")
    for tag in thread.tags:
        _sub(entry, "category", term=tag.slug, label=vocabulary.name_of(tag.kind, tag.slug))
    text = plain_text(question.body) if question.is_visible else ""
    _sub(entry, "summary", text[:300] + ("…" if len(text) > 300 else ""), type="text")
    if question.is_visible:
        _sub(entry, "content", question.body_html, type="html")


def _abs(path: str) -> str:
    return links.external(path)


def _render(feed_id: str, title: str, alternate: str, threads: list[Thread]) -> Response:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", _tag_uri(feed_id))
    _sub(feed, "title", f"{title} · Aza Community")
    _sub(feed, "subtitle", "Shared experiences of azathioprine, not medical advice.")
    newest = max((t.last_activity_at for t in threads), default=datetime(2026, 1, 1))
    _sub(feed, "updated", _iso(newest))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=request.url)
    _sub(feed, "link", rel="alternate", type="text/html", href=_abs(alternate))
    _sub(feed, "generator", "Aza Community")
    for thread in threads:
        _entry(feed, thread)
    body = ET.tostring(feed, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body,
        mimetype="application/atom+xml",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _load(ids_or_threads) -> list[Thread]:
    return [t for t in ids_or_threads if t.is_visible and t.posts]


@bp.get("/latest.atom")
def latest():
    page = list_threads(tab="latest", per_page=FEED_SIZE)
    return _render("feeds:latest", "Latest questions", url_for("threads.index"), _load(page.items))


@bp.get("/<any(conditions, 'side-effects', medications):route>/<slug>.atom")
def topic(route: str, slug: str):
    kind = TOPIC_ROUTES[route]
    term = vocabulary.get(kind, slug)
    if term is None:
        abort(404)
    page = list_threads(tab="latest", per_page=FEED_SIZE, **{kind: slug})
    return _render(
        f"feeds:{route}:{slug}", term.name, links.topic_url(kind, slug), _load(page.items)
    )


@bp.get("/search.atom")
def search():
    query = " ".join(request.args.get("q", "").split())[:500]
    if not query:
        abort(400, "Add a search, for example /feeds/search.atom?q=hair+loss")
    threads = _search_threads(query)
    return _render(
        f"feeds:search:{query}", f"Search: {query}", f"/search?q={query}", _load(threads)
    )


def _search_threads(query: str) -> list[Thread]:
    """Newest matching visible threads: the search engine's ids when it offers them."""
    ids = _engine_ids(query)
    stmt = visible_threads().options(selectinload(Thread.tags), selectinload(Thread.author))
    if ids is not None:
        rows = db.session.scalars(stmt.where(Thread.id.in_(ids[:SEARCH_LIMIT]))).all()
    else:
        pattern = f"%{query}%"
        matching = select(Post.thread_id).where(
            Post.is_hidden.is_(False), Post.is_deleted.is_(False), Post.body.ilike(pattern)
        )
        rows = db.session.scalars(
            stmt.where(or_(Thread.title.ilike(pattern), Thread.id.in_(matching)))
            .order_by(Thread.created_at.desc())
            .limit(FEED_SIZE)
        ).all()
    rows = sorted(rows, key=lambda t: (t.created_at, t.id), reverse=True)
    return list(rows[:FEED_SIZE])


def _engine_ids(query: str) -> list[int] | None:
    """The search engine's ids for ``query``, best first; None when it fails."""
    try:
        return list(search_thread_ids(query, limit=SEARCH_LIMIT))
    except Exception:  # a broken index must not break the feed: fall back to LIKE
        return None


def feed_links() -> list[tuple[str, str]]:
    """(title, href) of the feeds that fit the current page, for <link rel=alternate>."""
    result = [("Latest questions", url_for("feeds.latest"))]
    endpoint = request.endpoint or ""
    slug = (request.view_args or {}).get("slug")
    for route, kind in TOPIC_ROUTES.items():
        if endpoint == f"threads.{kind}" and slug and vocabulary.get(kind, slug):
            name = vocabulary.name_of(kind, slug)
            result.append((f"{name} questions", url_for("feeds.topic", route=route, slug=slug)))
    q = request.args.get("q", "").strip()
    if endpoint.startswith("search.") and q:
        result.append((f"Search: {q[:60]}", url_for("feeds.search", q=q)))
    return result
