"""The OpenAPI 3.1 description of /api/v1, built from the same vocabulary and limits the
views use (so a new condition or filter value appears here by itself).

Served as ``/api/v1/openapi.json`` and rendered for people at ``/api/v1/docs``.
tests/integration/test_api_contract.py validates every endpoint's real answers against it,
and tests/integration/test_api_fuzz.py lets schemathesis generate requests from it.
"""

from __future__ import annotations

from flask import current_app

from .. import vocabulary
from ..numbers import MAX_ID, MAX_PAGE

VERSIONING = (
    "Version 1, read-only. Everything under `/api/v1` keeps its meaning: fields may be "
    "added to a response, but none is removed or changes type, and no parameter changes "
    "meaning, while `/api/v1` exists. A breaking change gets a new prefix (`/api/v2`), "
    "served beside v1 for at least six months."
)
ENVELOPE = (
    'A list answers `{"data": [...], "total", "page", "per_page", "pages", '
    '"links": {"next", "prev"}}` (`links` are absolute URLs, `null` at either end); one '
    'object answers `{"data": {...}}`; search keeps its own fields (`results`, `facets`). '
    'Every error, whatever the status, answers `{"error", "message", "status"}` (and '
    "`errors`, field by field, where a parameter was refused), with `Retry-After` on a 503. "
    "List and thread answers carry a weak `ETag`: send it back as `If-None-Match` and an "
    "unchanged answer is a bodiless `304`, so polling costs little. Times are ISO 8601 UTC "
    "with a `Z`. Email addresses never appear."
)


def _enum(kind: str) -> list[str]:
    return [term.slug for term in vocabulary.terms(kind)]


def _experience_values() -> dict[str, list[str]]:
    from ..experiences import models as m
    from ..experiences import stats

    return {
        "tpmt": list(m.TPMT),
        "outcome": list(m.OUTCOMES),
        "moved_to": list(m.MOVED_TO),
        "dose_band": list(stats.DOSE_BANDS),
        "duration": list(stats.DURATIONS),
    }


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    out = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _errors(*codes: int) -> dict:
    texts = {
        400: "A parameter was refused; `message` says which and why.",
        404: "No such thing (an unknown, hidden or deleted thread; a page past any list).",
        429: "Too many requests from this address; wait `Retry-After` seconds.",
        503: "The database is busy or this server's search index is being rebuilt; retry "
        "after `Retry-After` seconds (another server may answer at once).",
    }
    return {str(c): _json(_ref("Error"), texts[c]) for c in codes}


def _ok(schema: dict, description: str) -> dict:
    return {
        "200": _json(schema, description, _ETAG),
        "304": {"description": "Not modified: the `If-None-Match` ETag still holds."},
    }


_ETAG = {"ETag": {"description": "Weak validator of this answer.", "schema": {"type": "string"}}}
NULLABLE_STR = {"type": ["string", "null"]}
STRINGS = {"type": "array", "items": {"type": "string"}}


def _schemas() -> dict:
    summary = {
        "type": "object",
        "required": [
            "id",
            "title",
            "url",
            "author",
            "conditions",
            "side_effects",
            "medications",
            "reply_count",
            "helpful_count",
            "resolved",
            "created",
            "last_activity",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "author": {**NULLABLE_STR, "description": "Display name; null once deleted."},
            "conditions": STRINGS,
            "side_effects": STRINGS,
            "medications": STRINGS,
            "reply_count": {"type": "integer"},
            "helpful_count": {"type": "integer"},
            "resolved": {"type": "boolean"},
            "created": {"type": "string", "format": "date-time"},
            "last_activity": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    post = {
        "type": "object",
        "required": ["id", "removed", "author", "body_html", "created", "edited", "helpful_count"],
        "properties": {
            "id": {"type": "integer"},
            "removed": {"type": "boolean"},
            "author": NULLABLE_STR,
            "body_html": {"type": "string", "description": "Sanitised HTML; empty if removed."},
            "created": {"type": "string", "format": "date-time"},
            "edited": {"type": ["string", "null"], "format": "date-time"},
            "helpful_count": {"type": "integer"},
        },
    }
    thread = {
        "allOf": [_ref("ThreadSummary")],
        "type": "object",
        "required": ["question", "resolved_reply_id", "replies"],
        "properties": {
            "question": _ref("Post"),
            "resolved_reply_id": {"type": ["integer", "null"]},
            "replies": {"type": "array", "items": _ref("Post")},
        },
    }
    links = {
        "type": "object",
        "required": ["next", "prev"],
        "properties": {
            "next": {"type": ["string", "null"], "format": "uri"},
            "prev": {"type": ["string", "null"], "format": "uri"},
        },
    }
    paging = {
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "pages": {"type": "integer"},
        "links": _ref("Links"),
    }
    term = {
        "type": "object",
        "required": ["slug", "name", "description", "synonyms", "thread_count"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "description": NULLABLE_STR,
            "synonyms": STRINGS,
            "thread_count": {"type": "integer"},
        },
    }
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    hit = {
        "type": "object",
        "required": [
            "id",
            "title",
            "url",
            "snippet",
            "conditions",
            "side_effects",
            "medications",
            "score",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "url": {"type": "string"},
            "snippet": {"type": "string"},
            "conditions": STRINGS,
            "side_effects": STRINGS,
            "medications": STRINGS,
            "score": {"type": "number"},
        },
    }
    facet_names = ["conditions", "side_effects", "medications", "tpmt", "outcome", "moved_to"]
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message", "status"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "status": {"type": "integer"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "Links": links,
        "ThreadSummary": summary,
        "Post": post,
        "Thread": thread,
        "Term": term,
        "ThreadList": {
            "type": "object",
            "required": ["data", *paging],
            "properties": {"data": {"type": "array", "items": _ref("ThreadSummary")}, **paging},
        },
        "SearchResults": {
            "type": "object",
            "required": [
                "total",
                "page",
                "per_page",
                "results",
                "facets",
                "suggestion",
                "message",
                "links",
            ],
            "properties": {
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "results": {"type": "array", "items": hit},
                "facets": {
                    "type": "object",
                    "required": facet_names,
                    "properties": {name: counts for name in facet_names},
                },
                "suggestion": {**NULLABLE_STR, "description": "A 'did you mean' query."},
                "message": NULLABLE_STR,
                "links": _ref("Links"),
            },
        },
    }


def document() -> dict:
    """The OpenAPI 3.1 document (a new dict each call)."""
    values = _experience_values()
    page = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}
    per_page = {
        "type": "integer",
        "minimum": 1,
        "maximum": current_app.config["API_MAX_PER_PAGE"],
        "default": 20,
    }
    vocab = {
        kind: _query(
            kind,
            {"type": "string", "enum": _enum(kind)},
            f"A {kind.replace('_', ' ')} slug (GET /api/v1/{kind.replace('_', '-')}s lists them).",
        )
        for kind in ("condition", "side_effect", "medication")
    }
    enum = {name: {"type": "string", "enum": options} for name, options in values.items()}
    paging = [
        _query("page", page, "Page number, from 1."),
        _query("per_page", per_page, "Items per page (above the maximum is a 400)."),
    ]
    data_list = {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _ref("Term")}},
    }

    def terms(kind: str, label: str) -> dict:
        return {
            "get": {
                "operationId": f"list_{kind}s",
                "summary": f"All {label}",
                "description": f"Every {label[:-1]} the forum knows, with synonyms "
                "and how many visible threads carry it. Not paged.",
                "responses": _ok(data_list, label) | _errors(503),
            }
        }

    paths = {
        "/threads": {
            "get": {
                "operationId": "list_threads",
                "summary": "Threads, latest activity first",
                "parameters": [*paging, *vocab.values()],
                "responses": _ok(_ref("ThreadList"), "One page of threads.")
                | _errors(400, 404, 503),
            }
        },
        "/threads/{thread_id}": {
            "get": {
                "operationId": "get_thread",
                "summary": "One thread with its visible replies",
                "parameters": [
                    {
                        "name": "thread_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    }
                ],
                "responses": _ok(
                    {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": _ref("Thread")},
                    },
                    "The thread.",
                )
                | _errors(404, 503),
            }
        },
        "/conditions": terms("condition", "conditions"),
        "/side-effects": terms("side_effect", "side effects"),
        "/medications": terms("medication", "medications"),
        "/search": {
            "get": {
                "operationId": "search",
                "summary": "Search questions and replies",
                "description": "Patients' own words work: brand and generic names, lay terms, "
                'misspellings, "quoted phrases", -exclusions. Filters narrow the results; '
                "`facets` count every match by filter value. page and per_page are held to "
                "their range.",
                "parameters": [
                    _query("q", {"type": "string"}, "What to look for; empty lists by filter."),
                    *vocab.values(),
                    *(
                        _query(n, enum[n], f"Experience-report {n.replace('_', ' ')}.")
                        for n in ("tpmt", "outcome", "moved_to")
                    ),
                    _query(
                        "sort",
                        {"type": "string", "enum": ["relevance", "newest", "helpful", "activity"]},
                        "Order of results.",
                    ),
                    *paging,
                ],
                "responses": _ok(_ref("SearchResults"), "One page of results.")
                | _errors(400, 404, 429, 503),
            }
        },
        "/stats": {
            "get": {
                "operationId": "stats",
                "summary": "What patients report, in numbers",
                "description": "The aggregates of /reports over experience reports shared for "
                "summaries. A group under `min_group` reports is never shown.",
                "parameters": [
                    vocab["condition"],
                    *(
                        _query(n, enum[n], f"Only reports with this {n.replace('_', ' ')}.")
                        for n in ("tpmt", "dose_band", "duration")
                    ),
                ],
                "responses": _ok(
                    {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "object"}},
                    },
                    "The aggregates.",
                )
                | _errors(400, 503),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Aza Community API",
            "version": "1",
            "description": f"{VERSIONING}\n\n{ENVELOPE}",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": _schemas()},
    }
