"""Running a search: the whoosh part ranks ids, the database supplies what is shown.

Results are loaded back from the database in ranked order and anything not visible
now is dropped, so an index that lags a moment never shows a removed post. Snippets
are highlighted from the database text of the page's threads only.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from whoosh import query as wq

from ..extensions import db
from ..models import Thread
from ..threads.queries import Paging
from . import sync
from .documents import plain
from .index import IndexUnavailable, check_schema, read_meta
from .query import TAG_FIELD, Built, Parsed, build, parse, stems

log = logging.getLogger(__name__)

SORTS = ("relevance", "newest", "helpful")
FACET_KINDS = ("condition", "side_effect", "medication")
FACET_KEYS = {"condition": "conditions", "side_effect": "side_effects", "medication": "medications"}
_PREFIX = {"c": "conditions", "s": "side_effects", "m": "medications"}
MAX_PAGE = 200
REBUILDING = "The search index is being rebuilt. Please try again in a minute."
FACET_SCAN_LIMIT = 20_000


@dataclass
class Hit:
    thread: Thread
    score: float
    snippet: Markup
    title_html: Markup


@dataclass
class Results(Paging):
    q: str
    sort: str = "relevance"
    filters: dict[str, str | None] = field(default_factory=dict)
    items: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 20
    facets: dict[str, dict[str, int]] = field(
        default_factory=lambda: {k: {} for k in FACET_KEYS.values()}
    )
    suggestion: str | None = None
    unavailable: bool = False
    message: str | None = None
    searched: bool = False


def search(
    q: str | None,
    *,
    condition: str | None = None,
    side_effect: str | None = None,
    medication: str | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> Results:
    """One page of results. Never raises for odd input; an unusable index gives
    ``unavailable=True`` with a message (and a rebuild starts)."""
    parsed = parse(q)
    filters = {"condition": condition, "side_effect": side_effect, "medication": medication}
    res = Results(
        q=(q or "")[:500],
        sort=sort if sort in SORTS else "relevance",
        filters=filters,
        page=min(max(1, page), MAX_PAGE),
        per_page=per_page,
    )
    if parsed.truncated:
        res.message = "Your search was long, so only its first words were used."
    if parsed.empty and not any(filters.values()):
        return res
    res.searched = True
    app = current_app._get_current_object()
    for attempt in (1, 2):
        try:
            try:
                sync.apply_if_pending()
            except IndexUnavailable:
                raise
            except Exception:
                log.exception("applying pending search changes failed")
            searcher = sync.store().searcher()
            check_schema(read_meta(searcher))
            _run(searcher, parsed, res)
            return res
        except IndexUnavailable:
            sync.request_rebuild(app)
            break
        except Exception:
            log.exception("search failed (attempt %s)", attempt)
            sync.store().close()
            if attempt == 2:
                # Twice on a fresh searcher: a damaged segment (or a bug this query
                # hits). Rebuild, but at most every ten minutes per process.
                sync.request_rebuild(app, verify=False, interval=600)
                if sync.index_ok():
                    res.message = "Something went wrong with that search. Please try other words."
                    return res
    res.unavailable = True
    res.message = REBUILDING
    return res


def _whoosh_query(parsed: Parsed, res: Results, searcher) -> tuple[wq.Query | None, Built]:
    built = build(parsed, searcher) if not parsed.empty else Built(query=None)
    res.suggestion = built.suggestion
    tags = [
        wq.Term(TAG_FIELD[kind], slug) for kind, slug in res.filters.items() if slug is not None
    ]
    if not parsed.empty and built.query is None:
        return None, built
    parts = ([built.query] if built.query is not None else []) + tags
    if not parts:
        return None, built
    return (parts[0] if len(parts) == 1 else wq.And(parts)), built


def _run(searcher, parsed: Parsed, res: Results) -> None:
    query, built = _whoosh_query(parsed, res, searcher)
    if query is None:
        return
    limit = res.page * res.per_page
    if res.sort == "newest":
        hits = searcher.search(query, limit=limit, sortedby="created", reverse=True)
    elif res.sort == "helpful":
        hits = searcher.search(query, limit=limit, sortedby="helpful_count", reverse=True)
    elif parsed.empty:  # filters only: newest activity first
        hits = searcher.search(query, limit=limit, sortedby="last_activity", reverse=True)
    else:
        hits = searcher.search(query, limit=limit)
    ranked = [(int(hit["id"]), hit.score or 0.0) for hit in hits[limit - res.per_page : limit]]
    res.total, res.facets = _total_and_facets(searcher, query)
    res.total = max(res.total, len(ranked))
    res.items = _load(ranked, built.highlight_terms)


def _total_and_facets(searcher, query) -> tuple[int, dict[str, dict[str, int]]]:
    """Exact total, and facet counts over the matching threads (the first
    FACET_SCAN_LIMIT of them for very broad searches)."""
    facets_of = _facet_table(searcher)
    counts: dict[str, int] = {}
    total = 0
    for docnum in query.docs(searcher):
        total += 1
        if total <= FACET_SCAN_LIMIT:
            for item in facets_of[docnum]:
                counts[item] = counts.get(item, 0) + 1
    grouped: dict[str, dict[str, int]] = {k: {} for k in FACET_KEYS.values()}
    for item, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        kind, _, slug = item.partition(":")
        grouped[_PREFIX[kind]][slug] = count
    return total, grouped


_segment_facets: dict[tuple[str, str], list[tuple[str, ...]]] = {}


def _facet_table(searcher) -> list[tuple[str, ...]]:
    """docnum -> facet values from the facet column, cached per segment: segments never
    change (deletions aside, which queries already exclude), so after a write only the
    new small segment is read."""
    cached = getattr(searcher, "_forum_facets", None)
    if cached is not None:
        return cached
    table: list[tuple[str, ...]] = []
    for reader, offset in searcher.reader().leaf_readers():
        key = (str(id(reader.storage)), reader.segment().segment_id())
        values = _segment_facets.get(key)
        if values is None:
            column = reader.column_reader("facets")
            values = [
                tuple((column[i] or b"").decode().split()) for i in range(reader.doc_count_all())
            ]
            if len(_segment_facets) > 256:
                _segment_facets.clear()
            _segment_facets[key] = values
        del table[offset:]
        table.extend(values)
    searcher._forum_facets = table
    return table


def _load(ranked: list[tuple[int, float]], terms: set[str]) -> list[Hit]:
    if not ranked:
        return []
    ids = [thread_id for thread_id, _ in ranked]
    rows = db.session.scalars(
        select(Thread)
        .where(Thread.id.in_(ids), Thread.is_deleted.is_(False), Thread.is_hidden.is_(False))
        .options(selectinload(Thread.tags), selectinload(Thread.posts))
    )
    by_id = {t.id: t for t in rows}
    items = []
    for thread_id, score in ranked:
        thread = by_id.get(thread_id)
        if thread is not None:
            items.append(Hit(thread, round(score, 4), snippet(thread, terms), title(thread, terms)))
    return items


_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SNIPPET_CHARS = 240


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str | None:
    found = stems(word)
    return found[0] if found else None


def _marks(text: str, terms: set[str], limit: int = 4000) -> list[tuple[int, int]]:
    """(start, end) of the words in ``text`` whose stem is one of ``terms``."""
    return [m.span() for m in _WORD.finditer(text, 0, limit) if _stem(m.group()) in terms]


def _mark_text(text: str, spans: list[tuple[int, int]], start: int, end: int) -> Markup:
    """text[start:end], escaped, with the spans inside it wrapped in <mark>."""
    out = []
    pos = start
    for a, b in spans:
        if a < pos or b > end:
            continue
        out.append(escape(text[pos:a]))
        out.append(Markup("<mark>%s</mark>") % text[a:b])
        pos = b
    out.append(escape(text[pos:end]))
    return Markup("").join(out)


def _maybe_has(text: str, terms: set[str]) -> bool:
    lowered = text.lower()
    return any(t[:4] in lowered for t in terms)


def snippet(thread: Thread, terms: set[str]) -> Markup:
    """An escaped excerpt with the matching words in <mark>, from the first post that
    has them (the question, else a reply); the start of the question otherwise."""
    first = None
    for post in thread.posts:
        if not post.is_visible:
            continue
        text = " ".join(plain(post).split())
        if first is None:
            first = text
        spans = _marks(text, terms) if terms and _maybe_has(text, terms) else []
        if spans:
            begin = max(0, spans[0][0] - 60)
            if begin:
                space = text.find(" ", begin, spans[0][0])
                begin = space + 1 if space >= 0 else spans[0][0]
            end = min(len(text), begin + SNIPPET_CHARS)
            if end < len(text):
                space = text.rfind(" ", max(begin, end - 30), end)
                end = space if space > spans[0][1] else end
            lead = Markup("… ") if begin else Markup("")
            tail = Markup(" …") if end < len(text) else Markup("")
            return lead + _mark_text(text, spans, begin, end) + tail
    first = first or ""
    return escape(first[:SNIPPET_CHARS] + ("…" if len(first) > SNIPPET_CHARS else ""))


def title(thread: Thread, terms: set[str]) -> Markup:
    spans = _marks(thread.title, terms) if terms else []
    return _mark_text(thread.title, spans, 0, len(thread.title))


def thread_ids(q: str, limit: int = 100) -> list[int]:
    """Ids of visible threads matching ``q``, best first (for feeds and other callers)."""
    res = search(q, per_page=min(max(1, limit), 100))
    return [hit.thread.id for hit in res.items]
