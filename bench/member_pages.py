"""p50/p95 of the main pages for an anonymous visitor and for a signed-in member.

Runs in-process through Flask's test client (no HTTP server), one request at a time,
against a forum already loaded with ``bench/bulk_load.py``. Anonymous reads use the page
cache (PAGE_CACHE on, so after the first miss they are hits); member reads are never cached.
Creates (once) a member ``bench_member`` who follows nothing and has voted on a few replies.
After start-up it calls ``forum.settle()`` as gunicorn's workers and ``python app.py`` do
(``--no-settle`` leaves it out, to compare).

"thread" is the corpus's busiest thread (at most 50 replies: 16 posts in the generated
forums); "thread, 200 replies" is a thread of 200 replies the bench adds once (through the
services, ``--long-thread``) and the member follows, as people who take part in a long
discussion do (so its page also runs the "mark it seen" bookkeeping of a followed thread).

Each page's line gives wall p50/p95 for both, the member's statements and SQL ms, and the
process CPU ms per request p50/p95 for the member and the visitor (the steadier figure on a
busy shared machine; an anonymous search is never page-cached, so its CPU is the engine's).

usage: FORUM_INSTANCE_PATH=... python bench/member_pages.py [--rounds 40] [--only NAME]
           [--long-thread 200] [--profile PATH [--profile-page NAME]]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, select  # noqa: E402

PAGES = [
    ("home", "/"),
    ("condition newest", "/conditions/crohns"),
    ("condition unanswered", "/conditions/crohns?tab=unanswered"),
    ("condition helpful", "/conditions/crohns?tab=helpful"),
    ("condition page 5", "/conditions/crohns?page=5"),
    ("thread", None),
    ("thread, 200 replies", "LONG"),
    ("search", "/search?q=azathioprine+tired"),
    ("search, new words", "NEW"),
]
# "search, new words": every request (either client's) asks a pair of words not asked
# before in this process, so nothing the search remembers (engine outcomes per searcher,
# snippets, result rows) can answer it: the cost of a search nobody made yet.
WORDS = (
    "tired hair nausea liver rash pregnancy sun blood infection dose headache joint "
    "sleep weight mouth skin flu vaccine"
).split()


def _new_searches():
    for n in (2, 3):  # 153 pairs, then 816 triples
        for words in itertools.combinations(WORDS, n):
            yield "/search?q=" + "+".join(words)


def _member(db, User):
    user = db.session.scalar(select(User).where(User.name_key == "bench_member"))
    if user is None:
        user = User(display_name="bench_member", name_key="bench_member", email="b@example.org")
        user.set_password("correct horse battery")
        db.session.add(user)
        db.session.commit()
    return user


LONG_TITLE = "Bench: a long thread"


def _long_thread(db, member, replies: int) -> int | None:
    """A thread with ``replies`` replies (made once, through the services), followed by
    the member; None when ``replies`` is 0."""
    from forum.models import Post, Thread, User
    from forum.notifications import service as notifications
    from forum.threads import service

    if not replies:
        return None
    thread = db.session.scalar(select(Thread).where(Thread.title == LONG_TITLE))
    if thread is None or thread.reply_count < replies:
        people = list(db.session.scalars(select(User).where(User.role == "member").limit(40)))
        bodies = list(
            db.session.scalars(
                select(Post.body).where(Post.is_question.is_(False)).limit(replies + 1)
            )
        )
        if thread is None:
            thread, _ = service.create_thread(people[0], LONG_TITLE, bodies[0], ["crohns"])
        for i in range(thread.reply_count, replies):
            service.add_reply(people[1 + i % (len(people) - 1)], thread, bodies[1 + i])
    if not notifications.is_following(member, "thread", thread.id):
        notifications.follow(member, "thread", str(thread.id))
    return thread.id


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--profile", help="write a cProfile of a member page here")
    ap.add_argument("--profile-page", default="condition newest", help="which page to profile")
    ap.add_argument("--only", action="append", help="measure only these pages (repeatable)")
    ap.add_argument("--long-thread", type=int, default=200, help="replies of the long thread")
    ap.add_argument(
        "--no-settle", action="store_true", help="skip forum.settle() (servers call it)"
    )
    args = ap.parse_args()

    from forum import create_app, settle
    from forum.extensions import db
    from forum.models import Post, Thread, User

    app = create_app({"PAGE_CACHE": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        threads = db.session.scalar(select(func.count()).select_from(Thread))
        busiest = db.session.scalar(
            select(Thread.id)
            .where(Thread.reply_count <= 50)
            .order_by(Thread.reply_count.desc())
            .limit(1)
        )
        member = _member(db, User)
        ident = member.get_id()
        long_id = _long_thread(db, member, args.long_thread)
        posts = db.session.scalar(select(func.count()).select_from(Post))
    if not args.no_settle:
        settle()  # as gunicorn's post_worker_init and `python app.py` do
    paths = [(name, path or f"/t/{busiest}") for name, path in PAGES]
    paths = [(n, f"/t/{long_id}" if p == "LONG" else p) for n, p in paths if p != "LONG" or long_id]
    fresh = _new_searches()
    pages = [(n, p) for n, p in paths if not args.only or n in args.only]

    anon = app.test_client()
    signed = app.test_client()
    with signed.session_transaction() as sess:
        sess["_user_id"] = ident
        sess["_fresh"] = True

    statements = 0
    sql_ms = 0.0
    started = [0.0]

    def before(*_a, **_k):
        nonlocal statements
        statements += 1
        started[0] = time.perf_counter()

    def after(*_a, **_k):
        nonlocal sql_ms
        sql_ms += (time.perf_counter() - started[0]) * 1000

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
    load = os.getloadavg()[0]
    print(f"{threads} threads, {posts} posts; load average {load:.2f}; {args.rounds} rounds")
    print("semantic second opinion:", app.config.get("SEARCH_SEMANTIC"))
    print(
        f"{'page':22} {'anon p50':>9} {'anon p95':>9} {'member p50':>11} {'member p95':>11}",
        "sql sql_ms  member cpu p50/p95  anon cpu p50/p95",
    )
    for name, path in pages:
        row, cpus = [], []
        for client in (anon, signed):
            client.get(next(fresh) if path == "NEW" else path)  # warm up (fill the cache)
            times, cpu = [], []
            statements, sql_ms = 0, 0.0
            for _ in range(args.rounds):
                url = next(fresh) if path == "NEW" else path
                start, start_cpu = time.perf_counter(), time.process_time()
                resp = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                assert resp.status_code == 200, (url, resp.status_code)
            row.append((statistics.median(times), _pct(times, 0.95)))
            cpus.append((statistics.median(cpu), _pct(cpu, 0.95)))
        per, per_ms = statements / args.rounds, sql_ms / args.rounds
        (a50, a95), (m50, m95) = row
        (ac50, ac95), (mc50, mc95) = cpus
        # CPU time of this process per member request: what a busy shared machine (other
        # processes on the same cores) inflates least; the wall times are the target.
        print(
            f"{name:22} {a50:8.1f}ms {a95:8.1f}ms {m50:10.1f}ms {m95:10.1f}ms",
            f"{per:3.0f} {per_ms:5.1f}  {mc50:5.1f} / {mc95:5.1f}     {ac50:5.1f} / {ac95:5.1f}",
        )
    if args.profile:
        import cProfile

        path = dict(paths)[args.profile_page]
        urls = [next(fresh) if path == "NEW" else path for _ in range(40)]
        cProfile.runctx(
            "for url in urls: signed.get(url)",
            globals(),
            {"signed": signed, "urls": urls},
            args.profile,
        )


if __name__ == "__main__":
    main()
