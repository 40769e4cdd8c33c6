"""Demo content written for this forum (original text), loaded on first start.

``threads.jsonl`` is in the import format and goes through the same importer as
``flask forum import``, so loading it twice adds nothing. ``extras.json`` adds what the
format cannot carry: "this helped me" votes by demo members and a few replies marked as
resolving the question, so the "most helpful" tab has something to show. Demo members
are imported authors: they have no usable password.
"""

from __future__ import annotations

import json
from importlib import resources

from sqlalchemy import select

from ..extensions import db
from ..models import Thread, User
from ..services import ServiceError
from ..threads import service
from ..transfer import ImportReport, bulk_import, import_key, import_lines, parse_line


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def load_demo() -> ImportReport:
    """Import the demo threads and apply the extras; safe to run again.

    All of it is one bulk import, so the search index catches up once at the end
    rather than after each of the hundreds of small commits.
    """
    from ..experiences.demo import load_demo_experiences

    raw = _read("threads.jsonl")
    with bulk_import():
        report = import_lines(raw.splitlines())
        apply_extras(json.loads(_read("extras.json")), raw.splitlines())
        load_demo_experiences()
    return report


def _thread_by_title(lines: list[bytes]) -> dict[str, Thread]:
    """Demo title -> the thread imported from it (by import key), when still there."""
    found: dict[str, Thread] = {}
    for line in lines:
        if not line.strip():
            continue
        record = parse_line(line)
        key = import_key(record.title, record.author, record.created)
        thread = db.session.scalar(select(Thread).where(Thread.import_key == key))
        if thread is not None and thread.is_visible:
            found[record.title] = thread
    return found


def apply_extras(extras: list[dict], lines: list[bytes]) -> None:
    """Helpful votes and resolved marks; each goes through the services, once."""
    threads = _thread_by_title(lines)
    for item in extras:
        thread = threads.get(item["thread"])
        if thread is None or item["reply"] >= len(thread.posts):
            continue
        post = thread.posts[item["reply"]]
        if not post.is_visible:
            continue
        for name in item.get("helpful_by", ()):
            voter = User.by_name(name)
            if voter is not None:
                try:
                    service.mark_helpful(voter, post)
                except ServiceError:
                    continue
        if item.get("resolved") and thread.resolved_post_id is None and thread.author:
            service.mark_resolved(thread.author, thread, post)
