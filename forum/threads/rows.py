"""Rendered thread-list rows, remembered by everything they show.

A list page's cost for a signed-in member (whose pages the anonymous page cache never
serves) is mostly Jinja rendering its rows: the ``thread_item`` macro, about 0.5-1 ms a row.
A row shows nothing personal - title, badges, excerpt, tags, counts, dates, the asker's and
last repliers' names and avatars - so one rendering serves every reader.

Contract: an entry's key *is* the row's inputs (``row_key``): the thread's shown columns,
its tags, the asker's and the last repliers' display names, the question's excerpt, and the
script root its links are made under. A change to any of them - an edit, a reply, a vote, a
hide, a resolve, a rename - gives a new key, so a stale row can never be served and there is
nothing to invalidate; superseded entries fall out of the byte-bounded LRU. A new input to
``thread_item`` must be added to ``row_key`` (tests/integration/test_thread_rows.py renders
every row both ways and compares).

The search results page's rows (``search_row``) follow the same contract with their own
key (``hit_key``): the highlighted title and snippet the search service made for this
query from the database text, and the thread's shown columns and tags. They share the LRU.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from markupsafe import Markup

from ..search.lru import ByteLRU

DEFAULT_BYTES = 8 * 1024 * 1024  # THREAD_ROW_CACHE_BYTES; about 4,000 rows; 0 switches it off


def row_key(thread, people) -> tuple:
    """Everything ``thread_item`` shows for ``thread`` (see the module's contract)."""
    author = thread.author
    repliers = people.repliers.get(thread.id, ()) if people else ()
    return (
        request.script_root,
        thread.id,
        thread.title,
        thread.reply_count,
        thread.helpful_count,
        thread.resolved_post_id is not None,
        thread.is_locked,
        thread.is_hidden,
        thread.created_at,
        thread.last_activity_at,
        tuple((t.kind, t.slug) for t in thread.tags),
        author.display_name if author is not None else None,
        people.excerpts.get(thread.id) if people else None,
        tuple(u.display_name for u in repliers),
    )


def thread_row(macro, thread, people=None) -> Markup:
    """``macro(thread, people)`` (the ``thread_item`` macro), rendered once per distinct row."""
    cache: ByteLRU | None = current_app.extensions.get("thread_rows")
    if cache is None:
        return macro(thread, people)
    key = row_key(thread, people)
    html = cache.get(key)
    if html is None:
        html = macro(thread, people)  # Markup: templates are autoescaped
        cache.put(key, html, len(html))
    return html


def hit_key(hit) -> tuple:
    """Everything the ``search_hit`` macro (templates/search/results.html) shows."""
    thread = hit.thread
    return (
        "hit",
        request.script_root,
        thread.id,
        thread.title,
        str(hit.title_html),
        str(hit.snippet),
        thread.reply_count,
        thread.helpful_count,
        thread.resolved_post_id is not None,
        thread.created_at,
        tuple((t.kind, t.slug) for t in thread.tags),
    )


def search_row(macro, hit) -> Markup:
    """``macro(hit)`` (one search result's ``<li>``), rendered once per distinct row."""
    cache: ByteLRU | None = current_app.extensions.get("thread_rows")
    if cache is None:
        return macro(hit)
    key = hit_key(hit)
    html = cache.get(key)
    if html is None:
        html = macro(hit)
        cache.put(key, html, len(html) + len(key[4]) + len(key[5]))
    return html


def tag_list(macro, thread) -> Markup:
    """``macro(thread)`` (the ``tag_list`` macro), rendered once per distinct list of
    tags: it shows only the thread's tags (kind and slug, in order) as links under the
    script root, and the same few combinations of conditions, side effects and medicines
    recur on most rows (a new search result row rendered its 2-6 tag links afresh)."""
    cache: ByteLRU | None = current_app.extensions.get("thread_rows")
    if cache is None:
        return macro(thread)
    key = ("tags", request.script_root, tuple((t.kind, t.slug) for t in thread.tags))
    html = cache.get(key)
    if html is None:
        html = macro(thread)
        cache.put(key, html, len(html) + 40 * len(key[2]))
    return html


def tag_link(macro, kind: str, slug: str) -> Markup:
    """``macro(kind, slug)`` (one linked tag, the ``tag`` macro), rendered once per tag and
    script root: its link and name depend on nothing else (the vocabulary is fixed while
    the process runs), and a list of tags not rendered before is made of tags that were."""
    cache: ByteLRU | None = current_app.extensions.get("thread_rows")
    if cache is None:
        return macro(kind, slug)
    key = ("tag", request.script_root, kind, slug)
    html = cache.get(key)
    if html is None:
        html = macro(kind, slug)
        cache.put(key, html, len(html) + 40)
    return html


def init_app(app: Flask) -> None:
    size = int(app.config.get("THREAD_ROW_CACHE_BYTES", DEFAULT_BYTES))
    if size > 0:
        app.extensions["thread_rows"] = ByteLRU(size)  # the byte-bounded LRU search uses
    app.jinja_env.globals["thread_row"] = thread_row
    app.jinja_env.globals["search_row"] = search_row
    app.jinja_env.globals["cached_tag_list"] = tag_list
    app.jinja_env.globals["cached_tag"] = tag_link
