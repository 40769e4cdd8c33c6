"""/search (HTML) and /api/v1/search (JSON): parse the arguments, call search(), render.

Arguments: ``q``; filters taking slugs - ``condition``, ``side_effect``, ``medication``
(vocabulary) and ``tpmt``, ``outcome``, ``moved_to`` (experience-report values, see
``forum.experiences.models``); ``sort`` (relevance, newest, helpful, activity);
``page``; ``per_page`` (API). An unknown slug is a 400 naming it. The API's ``facets``
holds ``conditions``, ``side_effects``, ``medications``, ``tpmt``, ``outcome`` and
``moved_to``, each slug -> count over all matches.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, jsonify, render_template, request, url_for

from .. import vocabulary
from ..api.paging import links
from ..experiences import models as m
from ..numbers import parse_int
from ..services import ValidationError
from .concepts import annotate
from .service import FACET_KEYS, FACET_KINDS, MAX_PAGE, Results, search

bp = Blueprint("search", __name__)

VOCABULARY_KINDS = ("condition", "side_effect", "medication")
RETRY_AFTER = "60"  # seconds, while the index is being rebuilt
# Facet headings, and how a filter reads in "Only questions about ...".
HEADINGS = {
    "condition": "Condition",
    "side_effect": "Side effect",
    "medication": "Medication",
    "tpmt": "TPMT result",
    "outcome": "Outcome on azathioprine",
    "moved_to": "Moved on to",
}


def extra_values(kind: str) -> dict[str, str]:
    """Slug -> label of an experience-report facet (tpmt, outcome, moved_to): the values
    the experiences package stores in the index through ``document_extras``."""
    table = {"tpmt": m.TPMT, "outcome": m.OUTCOMES, "moved_to": m.MOVED_TO}.get(kind, {})
    return dict(table)


def label(kind: str, slug: str) -> str:
    """A facet value as a person reads it."""
    if kind in VOCABULARY_KINDS:
        return vocabulary.name_of(kind, slug)
    return extra_values(kind).get(slug, slug.replace("_", " "))


def filter_phrase(kind: str, slug: str) -> str:
    """A chosen filter in a sentence: "Lupus", "TPMT result: normal"."""
    if kind in VOCABULARY_KINDS:
        return label(kind, slug)
    return f"{HEADINGS[kind]}: {label(kind, slug)}"


def _known(kind: str, slug: str) -> bool:
    if kind in VOCABULARY_KINDS:
        return vocabulary.get(kind, slug) is not None
    values = extra_values(kind)
    return slug in values if values else slug.replace("_", "").isalnum()


def _filters() -> dict[str, str | None]:
    """Slug filters from the query string; an unknown slug is a 400 naming it."""
    found: dict[str, str | None] = {}
    for kind in FACET_KINDS:
        slug = (request.args.get(kind) or "").strip().lower() or None
        if slug is not None and not _known(kind, slug):
            name = kind.replace("_", " ") if kind in VOCABULARY_KINDS else HEADINGS[kind].lower()
            raise ValidationError(f"Unknown {name} {slug[:60]!r}.", {kind: f"Unknown {name}."})
        found[kind] = slug
    return found


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    value = parse_int(raw)  # plain digits that fit an id; then clamped below
    if value is None:
        raise ValidationError(f"{name} must be a whole number.", {name: "Whole number."})
    return min(max(value, low), high)


def _run(per_page: int) -> Results:
    return search(
        request.args.get("q", ""),
        sort=request.args.get("sort", "relevance"),
        page=_int_arg("page", 1, 1, 10_000),
        per_page=per_page,
        **_filters(),
    )


def asked_side_effect(res: Results) -> str | None:
    """The side effect this search is about (its filter, else the first one named in the
    words, lay phrases included), for the answer card above the results (issue 14)."""
    if res.filters.get("side_effect"):
        return res.filters["side_effect"]
    for token in annotate(res.q or "")[1].split():
        kind, _, slug = token.partition(":")
        if kind == "side_effect" and vocabulary.get("side_effect", slug):
            return slug
    return None


@bp.get("/search")
def results():
    """The results page; 503 with Retry-After (like the API) while this server's index is
    being rebuilt, so a load balancer retries the search on another server."""
    res = _run(20)
    page = render_template(
        "search/results.html",
        res=res,
        link=_link,
        label=label,
        filter_phrase=filter_phrase,
        facet_groups=[(kind, FACET_KEYS[kind], HEADINGS[kind]) for kind in FACET_KINDS],
        answer_side_effect=asked_side_effect(res) if res.q and not res.unavailable else None,
    )
    if res.unavailable:
        return page, 503, {"Retry-After": RETRY_AFTER}
    return page


def _link(res: Results, **changes) -> str:
    """The /search address for these results with some arguments changed.

    The same address ``url_for("search.results", **args)`` gives (werkzeug appends the
    arguments a rule does not name with this very encoding), without building it through
    the URL map each time: a results page has up to ~90 of these links (facet values,
    tabs, pages), ~20 us each through url_for."""
    args = {"q": res.q or None, "sort": res.sort if res.sort != "relevance" else None}
    args.update(res.filters)
    args.update(changes)
    items = [(k, v) for k, v in args.items() if v not in (None, "")]
    base = getattr(request, "_forum_search_path", None)  # per request: its script root
    if base is None:
        base = request._forum_search_path = url_for("search.results")
    return f"{base}?{urlencode(items, safe=_QUERY_SAFE)}" if items else base


_QUERY_SAFE = "!$'()*,/:;?@"  # werkzeug.routing.rules._urlencode's safe characters


@bp.get("/api/v1/search")
def api():
    res = _run(_int_arg("per_page", 20, 1, 100))
    if res.unavailable:
        resp = jsonify(error="unavailable", message=res.message, status=503)
        resp.status_code = 503
        resp.headers["Retry-After"] = RETRY_AFTER
        return resp
    return jsonify(
        total=res.total,
        page=res.page,
        per_page=res.per_page,
        results=[
            {
                "id": hit.thread.id,
                "title": hit.thread.title,
                "url": url_for("threads.show", thread_id=hit.thread.id, _external=False),
                "snippet": str(hit.snippet),
                "conditions": hit.thread.tag_slugs("condition"),
                "side_effects": hit.thread.tag_slugs("side_effect"),
                "medications": hit.thread.tag_slugs("medication"),
                "score": hit.score,
            }
            for hit in res.items
        ],
        facets={key: res.facets.get(key, {}) for key in FACET_KEYS.values()},
        suggestion=res.suggestion,
        message=res.message,
        links=links(res.page, min(-(-res.total // res.per_page), MAX_PAGE)),
    )
