"""What the index stores about a thread, built from committed database rows.

Other packages add keyword fields (``tpmt``, ``outcome``, ``moved_to``) through the
``document_extras`` signal: a receiver takes ``thread`` and returns a dict such as
``{"tpmt": ["normal"], "outcome": ["stopped"]}``. Values are slugs; unknown keys are
ignored. Changing what a receiver returns for existing threads needs a reindex
(``flask forum reindex``) or a ``record_search_change`` for those threads.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any

import nh3
from blinker import Namespace

from ..models import Post, Thread
from .query import annotate
from .schema import EXTRA_FIELDS, META_ID

_signals = Namespace()
document_extras = _signals.signal("search-document-extras")  # sender app, thread=thread


def plain(post: Post) -> str:
    """The words of a post, from the HTML rendered at write time (no re-rendering)."""
    return html.unescape(nh3.clean(post.body_html or "", tags=set()))


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
    from flask import current_app

    extras: dict[str, list[str]] = {name: [] for name in EXTRA_FIELDS}
    for _receiver, result in document_extras.send(current_app._get_current_object(), thread=thread):
        for key, values in (result or {}).items():
            if key in extras:
                if isinstance(values, str):
                    values = [values]
                extras[key].extend(str(v).strip().lower() for v in values if v)
    return {k: sorted(set(v)) for k, v in extras.items()}


def thread_document(thread: Thread) -> dict[str, Any]:
    """The document for a visible thread (callers skip hidden and deleted ones)."""
    tags = {kind: thread.tag_slugs(kind) for kind in ("condition", "side_effect", "medication")}
    extras = extras_for(thread)
    content = "\n\n".join([thread.title, question_text(thread), replies_text(thread)])
    names, concepts = annotate(content)
    doc: dict[str, Any] = {
        "id": str(thread.id),
        "title": thread.title,
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
        "is_resolved": thread.resolved_post_id is not None,
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
