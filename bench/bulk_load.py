"""Load a large generated corpus into a forum database fast, for the speed benchmarks only.

`flask forum import` goes through the thread service one transaction per thread (signals,
search records, duplicate checks): right for real imports, but about 10-30 threads/s on
this shared 2-core machine, so 100,000 threads would take hours. This loader produces the
same rows - titles and bodies cleaned by the service's own functions, tags resolved through
the vocabulary, Markdown rendered by ``forum.markdown.render`` - with bulk inserts of 1,000
threads per transaction, rendering in 2 processes. It records no search changes: build
the index afterwards with `flask forum reindex`.

usage: FORUM_INSTANCE_PATH=... python bench/bulk_load.py CORPUS.jsonl
"""

from __future__ import annotations

import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

BATCH = 1000


def _prepare(lines: list[str]) -> list[dict]:
    """Parse, clean, resolve tags and render one batch (runs in a worker process)."""
    from forum import transfer
    from forum.markdown import render
    from forum.threads import service

    out = []
    for raw in lines:
        rec = transfer.parse_line(raw)
        tags, _ = service.resolve_tags(rec.conditions, rec.side_effects, rec.medications)
        body = service.clean_body(rec.body)
        replies = []
        for r in rec.replies:
            text = service.clean_body(r.body, "replies")
            replies.append((r.author, text, render(text), r.created))
        out.append(
            {
                "title": service.clean_title(rec.title),
                "author": rec.author,
                "created": rec.created,
                "key": rec.import_key,
                "body": body,
                "html": render(body),
                "tags": tags,
                "replies": replies,
            }
        )
    return out


def _batches(path: Path):
    batch = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                batch.append(line)
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _user_ids(db, User, names: set[str], known: dict[str, int]) -> None:
    fresh = sorted({n for n in names if n.lower() not in known}, key=str.lower)
    seen: set[str] = set()
    rows = []
    for name in fresh:
        if name.lower() not in seen:
            seen.add(name.lower())
            rows.append({"display_name": name, "name_key": name.lower(), "email": None})
    if rows:
        for uid, key in db.session.execute(
            insert(User).returning(User.id, User.name_key, sort_by_parameter_order=True), rows
        ):
            known[key] = uid


def _insert(db, models, items: list[dict], known: dict[str, int]) -> None:
    User, Thread, Post, ThreadTag = models
    names = {i["author"] for i in items} | {r[0] for i in items for r in i["replies"]}
    _user_ids(db, User, names, known)
    rows = []
    for i in items:
        last = max([i["created"]] + [r[3] for r in i["replies"]])
        rows.append(
            {
                "title": i["title"],
                "author_id": known[i["author"].lower()],
                "created_at": i["created"],
                "last_activity_at": last,
                "reply_count": len(i["replies"]),
                "import_key": i["key"],
            }
        )
    ids = db.session.scalars(
        insert(Thread).returning(Thread.id, sort_by_parameter_order=True), rows
    ).all()
    posts, tags = [], []
    for tid, i in zip(ids, items, strict=True):
        posts.append(
            {
                "thread_id": tid,
                "author_id": known[i["author"].lower()],
                "is_question": True,
                "body": i["body"],
                "body_html": i["html"],
                "created_at": i["created"],
            }
        )
        for author, body, html, created in i["replies"]:
            posts.append(
                {
                    "thread_id": tid,
                    "author_id": known[author.lower()],
                    "body": body,
                    "body_html": html,
                    "created_at": created,
                }
            )
        for kind, slugs in i["tags"].items():
            tags.extend({"thread_id": tid, "kind": kind, "slug": s} for s in slugs)
    db.session.execute(insert(Post), posts)
    if tags:
        db.session.execute(insert(ThreadTag), tags)
    db.session.commit()


def main(path: str) -> None:
    from forum import create_app
    from forum.extensions import db
    from forum.models import Post, Thread, ThreadTag, User

    app = create_app()
    started = time.perf_counter()
    done = 0
    with app.app_context():
        known = dict((k, i) for k, i in db.session.execute(select(User.name_key, User.id)))
        with Pool(2) as pool:
            for items in pool.imap(_prepare, _batches(Path(path))):
                _insert(db, (User, Thread, Post, ThreadTag), items, known)
                done += len(items)
                rate = done / (time.perf_counter() - started)
                print(f"{done} threads ({rate:.0f}/s)", file=sys.stderr, flush=True)
    print(f"Loaded {done} threads in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1])
