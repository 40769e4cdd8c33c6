"""What the index stores about a thread, built from committed database rows.

Other packages add keyword fields (``tpmt``, ``outcome``, ``moved_to``) through the
``document_extras`` signal: a receiver takes ``thread`` and returns a dict such as
``{"tpmt": ["normal"], "outcome": ["stopped"]}``. Values are slugs; unknown keys are
ignored. A receiver of ``document_extras_many`` does the same for a batch: it takes
``threads`` (a list) and returns ``{thread_id: {...}}`` - one query per batch instead of
one per thread, which is what a rebuild of many threads wants. Use one or the other.
Changing what a receiver returns for existing threads needs a reindex
(``flask forum reindex``) or a ``record_search_change`` for those threads.

``thread_documents(threads)`` builds a batch of documents; every path (rebuild, apply,
check-index) builds them the same way, so fingerprints agree.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterable
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, selectinload

from ..markdown import text_of
from ..models import Post, Thread
from .analysis import analyse, annotate_stems
from .schema import EXTRA_FIELDS, META_ID

_signals = Namespace()
document_extras = _signals.signal("search-document-extras")  # sender app, thread=thread
# sender app, threads=[...]; returns {thread_id: {key: values}}
document_extras_many = _signals.signal("search-document-extras-many")
POST_COLUMNS = (
    Post.id,
    Post.thread_id,
    Post.is_question,
    Post.body_html,
    Post.is_hidden,
    Post.is_deleted,
)


def load_threads(session: Session, ids: Iterable[int]) -> dict[int, Thread]:
    """Threads with their tags and posts, posts with only the columns a document needs
    (other attributes still load on access)."""
    ids = list(ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Thread)
        .where(Thread.id.in_(ids))
        .options(
            selectinload(Thread.posts).options(load_only(*POST_COLUMNS)),
            selectinload(Thread.tags),
        )
    )
    return {t.id: t for t in rows}


def plain(post: Post) -> str:
    """The words of a post, from the HTML rendered at write time (no re-rendering)."""
    return html.unescape(text_of(post.body_html or ""))


def visible_replies(thread: Thread) -> list[Post]:
    return [p for p in thread.posts if not p.is_question and p.is_visible]


def question_text(thread: Thread) -> str:
    question = thread.posts[0] if thread.posts else None
    if question is None or not question.is_visible:
        return ""
    return plain(question)


def replies_text(thread: Thread) -> str:
    return "\n\n".join(plain(p) for p in visible_replies(thread))


def extras_for(thread: Thread) -> dict[str, list[str]]:
    """Keyword values other packages attach to the thread's document."""
    return extras_for_many([thread])[thread.id]


def extras_for_many(threads: list[Thread]) -> dict[int, dict[str, list[str]]]:
    """Keyword values other packages attach to each thread's document, by thread id."""
    app = current_app._get_current_object()
    found: dict[int, dict[str, list[str]]] = {
        t.id: {name: [] for name in EXTRA_FIELDS} for t in threads
    }

    def add(extras: dict[str, list[str]], result) -> None:
        for key, values in (result or {}).items():
            if key in extras:
                if isinstance(values, str):
                    values = [values]
                extras[key].extend(str(v).strip().lower() for v in values if v)

    if threads and document_extras_many.has_receivers_for(app):
        for _receiver, results in document_extras_many.send(app, threads=threads):
            for thread_id, result in (results or {}).items():
                if thread_id in found:
                    add(found[thread_id], result)
    if document_extras.has_receivers_for(app):
        for thread in threads:
            for _receiver, result in document_extras.send(app, thread=thread):
                add(found[thread.id], result)
    return {tid: {k: sorted(set(v)) for k, v in ex.items()} for tid, ex in found.items()}


def thread_document(thread: Thread) -> dict[str, Any]:
    """The document for a visible thread (callers skip hidden and deleted ones)."""
    return _document(thread, extras_for(thread))


def thread_documents(threads: list[Thread]) -> list[dict[str, Any]]:
    """Documents for visible threads, in order, with the extras read once for all."""
    extras = extras_for_many(threads)
    return [_document(t, extras[t.id]) for t in threads]


def _document(thread: Thread, extras: dict[str, list[str]]) -> dict[str, Any]:
    tags = {kind: thread.tag_slugs(kind) for kind in ("condition", "side_effect", "medication")}
    # Analysed once here; whoosh takes the tokens as they are (schema.OnceAnalyzer).
    content = analyse("\n\n".join([thread.title, question_text(thread), replies_text(thread)]))
    names, concepts = annotate_stems(content.stems)
    doc: dict[str, Any] = {
        "id": str(thread.id),
        "title": analyse(thread.title),
        "content": content,
        "names": names,
        "concepts": concepts,
        "conditions": ",".join(tags["condition"]),
        "side_effects": ",".join(tags["side_effect"]),
        "medications": ",".join(tags["medication"]),
        "created": thread.created_at,
        "last_activity": thread.last_activity_at,
        "reply_count": int(thread.reply_count or 0),
        "helpful_count": int(thread.helpful_count or 0),
        "facets": facet_bytes(tags),
    }
    for key, values in extras.items():
        doc[key] = ",".join(values)
    doc["fingerprint"] = fingerprint(doc)
    return doc


def facet_bytes(tags: dict[str, list[str]]) -> bytes:
    prefix = {"condition": "c", "side_effect": "s", "medication": "m"}
    return " ".join(f"{prefix[k]}:{s}" for k, slugs in tags.items() for s in slugs).encode()


def fingerprint(doc: dict[str, Any]) -> str:
    """A hash of everything indexed, so check-index can compare index and database."""
    material = {k: v for k, v in doc.items() if k not in ("fingerprint", "facets")}
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def meta_document(meta: dict[str, Any]) -> dict[str, Any]:
    return {"id": META_ID, "meta": json.dumps(meta)}
