"""p50/p95 of the main pages for an anonymous visitor and for a signed-in member.

Runs in-process through Flask's test client (no HTTP server), one request at a time,
against a forum already loaded with ``bench/bulk_load.py``. Anonymous reads use the page
cache (PAGE_CACHE on, so after the first miss they are hits); member reads are never cached.
Creates (once) a member ``bench_member`` who follows nothing and has voted on a few replies.

usage: FORUM_INSTANCE_PATH=... python bench/member_pages.py [--rounds 40] [--profile PATH]
"""

from __future__ import annotations

import argparse
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
    ("search", "/search?q=azathioprine+tired"),
]


def _member(db, User):
    user = db.session.scalar(select(User).where(User.name_key == "bench_member"))
    if user is None:
        user = User(display_name="bench_member", name_key="bench_member", email="b@example.org")
        user.set_password("correct horse battery")
        db.session.add(user)
        db.session.commit()
    return user


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--profile", help="write a cProfile of the member condition page here")
    args = ap.parse_args()

    from forum import create_app
    from forum.extensions import db
    from forum.models import Post, Thread, User

    app = create_app({"PAGE_CACHE": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        threads = db.session.scalar(select(func.count()).select_from(Thread))
        busiest = db.session.scalar(select(Thread.id).order_by(Thread.reply_count.desc()).limit(1))
        member = _member(db, User)
        ident = member.get_id()
        posts = db.session.scalar(select(func.count()).select_from(Post))
    paths = [(name, path or f"/t/{busiest}") for name, path in PAGES]

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
    print(
        f"{'page':22} {'anon p50':>9} {'anon p95':>9} {'member p50':>11} {'member p95':>11}",
        "sql sql_ms  member cpu p50/p95",
    )
    for name, path in paths:
        row = []
        for client in (anon, signed):
            client.get(path)  # warm up (and fill the anonymous cache)
            times, cpu = [], []
            statements, sql_ms = 0, 0.0
            for _ in range(args.rounds):
                start, start_cpu = time.perf_counter(), time.process_time()
                resp = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                assert resp.status_code == 200, (path, resp.status_code)
            row.append((statistics.median(times), _pct(times, 0.95)))
        per, per_ms = statements / args.rounds, sql_ms / args.rounds
        (a50, a95), (m50, m95) = row
        # CPU time of this process per member request: what a busy shared machine (other
        # processes on the same cores) inflates least; the wall times are the target.
        print(
            f"{name:22} {a50:8.1f}ms {a95:8.1f}ms {m50:10.1f}ms {m95:10.1f}ms",
            f"{per:3.0f} {per_ms:5.1f}  {statistics.median(cpu):5.1f} / {_pct(cpu, 0.95):5.1f}",
        )
    if args.profile:
        import cProfile

        cProfile.runctx(
            "for _ in range(20): signed.get('/conditions/crohns')",
            globals(),
            {"signed": signed},
            args.profile,
        )


if __name__ == "__main__":
    main()
