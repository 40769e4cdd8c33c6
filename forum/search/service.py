"""Running a search: the index ranks ids, the database supplies what is shown.

``query.build`` turns the words into a whoosh query; ``engine.run`` evaluates it with
numpy over cached per-segment postings (the same matches and BM25F scores as whoosh,
the exact total, and facet counts from the keyword fields' postings). A query the
engine does not support is run by whoosh itself (logged at debug), so results never
depend on the engine. Results are loaded back from the database in ranked order and
anything not visible now is dropped, so an index that lags a moment never shows a
removed post. Snippets are highlighted from the database text of the page's threads
only, cleaning only the posts that can contain a highlighted word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
from flask import current_app
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from whoosh import query as wq

from ..extensions import db
from ..models import Post
from ..threads.queries import Paging
from . import clauses, engine, packs, threadids, topk
from .applier import apply_if_pending
from .changes import store
from .concepts import TAG_FIELD, stems
from .highlight import Body, marked
from .index import IndexUnavailable, check_schema, read_meta
from .query import FILLER, Built, Parsed, build, parse
from .rebuild import index_ok, request_rebuild
from .resultrows import ResultThread, result_threads
from .schema import EXTRA_FIELDS
from .semantic import second_opinion

log = logging.getLogger(__name__)

SORTS = ("relevance", "newest", "helpful", "activity")
SORT_COLUMNS = {"newest": "created", "helpful": "helpful_count", "activity": "last_activity"}
# Filter parameter -> index field. Vocabulary tags first, then the experience-report
# keyword fields other packages fill through the ``document_extras`` signal.
FILTER_FIELDS = {**TAG_FIELD, **{name: name for name in EXTRA_FIELDS}}
FACET_KINDS = tuple(FILTER_FIELDS)
# Filter parameter -> key in ``facets`` (the three keys, then the extras).
FACET_KEYS = {
    "condition": "conditions",
    "side_effect": "side_effects",
    "medication": "medications",
    **{name: name for name in EXTRA_FIELDS},
}
_FIELD_KEY = {FILTER_FIELDS[kind]: key for kind, key in FACET_KEYS.items()}
MAX_PAGE = 200
REBUILDING = "The search index is being rebuilt. Please try again in a minute."
CACHE_MB = 64  # default SEARCH_CACHE_MB: the engine's per-process postings cache


@dataclass
class Hit:
    thread: ResultThread
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
    tpmt: str | None = None,
    outcome: str | None = None,
    moved_to: str | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> Results:
    """One page of results. Never raises for odd input; an unusable index gives
    ``unavailable=True`` with a message (and a rebuild starts).

    Filters take slugs: vocabulary slugs for ``condition``, ``side_effect`` and
    ``medication``; experience-report values for ``tpmt``, ``outcome`` and ``moved_to``.
    """
    parsed = parse(q)
    filters = {
        "condition": condition,
        "side_effect": side_effect,
        "medication": medication,
        "tpmt": tpmt,
        "outcome": outcome,
        "moved_to": moved_to,
    }
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
    engine.configure(int(app.config.get("SEARCH_CACHE_MB", CACHE_MB) * 2**20))
    packs.enabled = bool(app.config.get("SEARCH_PACKS", True))
    packs.release_after_search = bool(app.config.get("SEARCH_PACK_RELEASE", True))
    topk.enabled = bool(app.config.get("SEARCH_TOPK", True))
    clauses.BYTES = int(app.config.get("SEARCH_CLAUSE_CACHE_MB", clauses.CACHE_MB) * 2**20)
    for attempt in (1, 2):
        try:
            try:
                apply_if_pending()
            except IndexUnavailable:
                raise
            except Exception:
                log.exception("applying pending search changes failed")
            searcher = store().searcher()
            check_schema(_meta(searcher))
            _run(searcher, parsed, res)
            return res
        except IndexUnavailable:
            request_rebuild(app)
            break
        except (OperationalError, InterfaceError):
            raise  # the database, not the index: forum/outage.py answers 503 and says so
        except Exception:
            log.exception("search failed (attempt %s)", attempt)
            store().close()
            if attempt == 2:
                # Twice on a fresh searcher: a damaged segment (or a bug this query
                # hits). Rebuild, but at most every ten minutes per process.
                request_rebuild(app, verify=False, interval=600)
                if index_ok():
                    res.message = "Something went wrong with that search. Please try other words."
                    return res
    res.unavailable = True
    res.message = REBUILDING
    return res


def _meta(searcher) -> dict:
    """The meta document of this searcher (read once: a searcher never changes)."""
    meta = getattr(searcher, "_forum_meta", None)
    if meta is None:
        meta = read_meta(searcher)
        searcher._forum_meta = meta
    return meta


def _whoosh_query(parsed: Parsed, res: Results, searcher) -> tuple[wq.Query | None, Built]:
    built = build(parsed, searcher) if not parsed.empty else Built(query=None)
    res.suggestion = built.suggestion
    tags = _filter_terms(res)
    if not parsed.empty and built.query is None:
        return None, built
    parts = ([built.query] if built.query is not None else []) + tags
    if not parts:
        return None, built
    return (parts[0] if len(parts) == 1 else wq.And(parts)), built


def _filter_terms(res: Results) -> list[wq.Query]:
    return [
        wq.Term(FILTER_FIELDS[kind], slug)
        for kind, slug in res.filters.items()
        if slug is not None and kind in FILTER_FIELDS
    ]


def _run(searcher, parsed: Parsed, res: Results) -> None:
    query, built = _whoosh_query(parsed, res, searcher)
    if query is None:
        return
    limit = res.page * res.per_page
    sortedby = SORT_COLUMNS.get(res.sort)
    if sortedby is None and parsed.empty:  # filters only: newest activity first
        sortedby = "last_activity"
    facet_fields = tuple(FILTER_FIELDS.values())
    # The semantic second opinion fuses the lexical top DEPTH: rank those, page after.
    fuse = sortedby is None and second_opinion.wanted()
    stop = max(limit, second_opinion.DEPTH) if fuse else limit
    start = 0 if fuse else limit - res.per_page
    dense = None
    if fuse:  # the query embeds in a worker thread while the lexical search runs
        st = store()
        name = st.current_name()
        text = second_opinion.query_text(parsed, built)
        dense = second_opinion.start(st.root / name if name else None, text)
    try:
        out = engine.run(
            searcher,
            query,
            limit=stop,
            start=start,
            sortedby=sortedby,
            facet_fields=facet_fields,
        )
    except engine.Unsupported as exc:
        log.debug("search engine cannot run %r (%s): using whoosh", query, exc)
        out = None
    except Exception:
        log.warning("search engine failed on %r: using whoosh", query, exc_info=True)
        out = None
    finally:  # the pages read from the postings packs leave this worker's resident set
        packs.release()
    column = _thread_column(searcher) if fuse else None
    if out is not None:
        docnums = [docnum for docnum, _s in out.hits]
        ids = (
            threadids.thread_ids(column, docnums)
            if column is not None
            else [_thread_id(searcher, d) for d in docnums]
        )
        ranked = list(zip(ids, (score for _d, score in out.hits), strict=True))
        total, counts = out.total, out.facets
    else:
        ranked, total, counts = _run_whoosh(searcher, query, stop, stop - start, sortedby)
    ranked = [(i, s) for i, s in ranked if i is not None]
    if fuse:
        filtered = _filtered(searcher, _filter_terms(res))
        allowed = None if filtered is None else _allowed(searcher, column, filtered)
        ranked, added = second_opinion.merge(dense, ranked, allowed)
        total += added
        ranked = ranked[limit - res.per_page : limit]
    res.total = max(total, len(ranked))
    res.facets = _group(counts)
    res.items = _load(ranked, _highlight(built))


def _filtered(searcher, filters: list[wq.Query]) -> np.ndarray | None:
    """Sorted document numbers matching every filter (None without filters), for the
    semantic neighbours: one numpy pass, not whoosh's document-by-document one."""
    if not filters:
        return None
    q = wq.And(filters)
    try:
        return topk.visible_matches(engine.check(searcher, q), engine.segments(searcher), q)
    except engine.Unsupported:
        return np.fromiter(sorted(q.docs(searcher)), np.int64)


def _thread_column(searcher) -> np.ndarray | None:
    """The searcher's thread id by document number (``threadids``; kept on the searcher,
    which never changes), or None for a reader the evaluator cannot read."""
    column = getattr(searcher, "_forum_thread_ids", None)
    if column is None:
        try:
            column = threadids.column(engine.segments(searcher))
        except engine.Unsupported:
            return None
        searcher._forum_thread_ids = column
    return column


def _allowed(searcher, column: np.ndarray | None, filtered: np.ndarray) -> np.ndarray:
    """Thread ids of the documents ``filtered`` (visible matches of the filters)."""
    if column is not None:
        return column[filtered]
    ids = (_thread_id(searcher, int(d)) for d in filtered)
    return np.fromiter((i for i in ids if i is not None), np.int64)


def _thread_id(searcher, docnum: int) -> int | None:
    value = searcher.stored_fields(docnum).get("id")
    return int(value) if value and value.isdigit() else None


def _run_whoosh(searcher, query, limit: int, per_page: int, sortedby: str | None):
    """The same search through whoosh's own matchers, for queries the engine declines.

    Every match is scored (limit=None): whoosh's top-N collector replaces matchers as
    its threshold rises and can skip documents that belong in the top N (seen with
    And(..., ConstantScoreQuery) trees), so only the exhaustive ranking is exact."""
    if sortedby:
        results = searcher.search(query, limit=None, sortedby=sortedby, reverse=True)
        top = [(docnum, 0.0) for _key, docnum in results.top_n]
    else:
        results = searcher.search(query, limit=None)
        top = sorted(((d, s) for s, d in results.top_n), key=lambda ds: (-ds[1], ds[0]))
    ranked = [(_thread_id(searcher, d), s) for d, s in top[limit - per_page : limit]]
    docs = results.docs()
    counts: dict[str, dict[str, int]] = {}
    for fieldname in FILTER_FIELDS.values():
        found = counts.setdefault(fieldname, {})
        for value in searcher.lexicon(fieldname):
            n = sum(1 for d in searcher.postings(fieldname, value).all_ids() if d in docs)
            if n:
                found[value.decode()] = n
    return ranked, len(docs), counts


def _group(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Field -> value counts into the facets shape: key -> slug -> count, most first."""
    grouped: dict[str, dict[str, int]] = {key: {} for key in FACET_KEYS.values()}
    for fieldname, values in counts.items():
        key = _FIELD_KEY.get(fieldname)
        if key is not None:
            grouped[key] = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
    return grouped


@lru_cache(maxsize=1)
def _filler_stems() -> frozenset[str]:
    return frozenset(s for word in FILLER for s in stems(word))


def _highlight(built: Built) -> set[str]:
    """The stems to mark in snippets: content words only (a multi-word synonym such as
    "my hair is falling out" brings its filler words along), unless the query had
    nothing else."""
    content = {t for t in built.highlight_terms if t not in _filler_stems()}
    return content or set(built.highlight_terms)


def _load(ranked: list[tuple[int, float]], terms: set[str]) -> list[Hit]:
    """The page's threads (visible now) with their tags, in ranked order, and the text
    the snippets need: the posts' rendered HTML only; core selects, no ORM objects."""
    if not ranked:
        return []
    ids = [thread_id for thread_id, _ in ranked]
    by_id = result_threads(ids)
    posts: dict[int, list[SimpleNamespace]] = {}
    if by_id:
        for thread_id, body_html in db.session.execute(
            select(Post.thread_id, Post.body_html)
            .where(
                Post.thread_id.in_(list(by_id)),
                Post.is_deleted.is_(False),
                Post.is_hidden.is_(False),
            )
            .order_by(Post.thread_id, Post.id)
        ):
            posts.setdefault(thread_id, []).append(Body(body_html or ""))
    items = []
    for thread_id, score in ranked:
        thread = by_id.get(thread_id)
        if thread is not None:
            text, title_html = marked(thread, terms, posts.get(thread_id, []))
            items.append(Hit(thread, round(score, 4), text, title_html))
    return items


def thread_ids(q: str, limit: int = 100) -> list[int]:
    """Ids of visible threads matching ``q``, best first (for feeds and other callers)."""
    res = search(q, per_page=min(max(1, limit), 100))
    return [hit.thread.id for hit in res.items]
