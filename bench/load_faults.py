"""The forum under load and faults: gunicorn, 4 workers, SQLite (WAL), all on 127.0.0.1.

Phases (each prints PASS/FAIL lines; the exit code is 1 when any check failed):

1. load    P posters x N posts (a question, then replies) while S clients search: no 5xx,
           exactly P x N posts stored (each carries a unique marker), `flask forum
           check-index` exits 0 within 10 s of the last post, p95 posting latency < 1 s.
2. kill    posters again while a random worker is killed with SIGKILL, repeatedly: every
           post the client saw succeed (302) is stored exactly once, none is stored twice,
           and every stored thread is whole (question, tags, reply count, rendered HTML).
3. index   SIGKILL of `flask forum reindex` half-way, then a deleted and a truncated index
           directory: pages keep rendering, search says it is rebuilding, and the index
           returns to matching the database.
4. lock    a write lock held on the database (BEGIN EXCLUSIVE) for a few seconds, then for
           longer than the busy timeout: posts wait and succeed or get a clear 503, reads
           go on, nothing that succeeded is lost and nothing that failed is stored.

The sizes are flags; `--quick` is the reduced run the test suite uses (< 3 minutes).
usage: python bench/load_faults.py [--quick] [--posters 50 --posts 20 --searchers 20]
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from _serve import ROOT, Gunicorn, flask, forum_env

PASSWORD = "load-test-kettle-rowan"
SEARCH_WORDS = [
    "nausea",
    "hair loss",
    "imuran tired",
    "low white count",
    "azathiprine",
    "liver enzymes",
    '"blood test"',
    "rash -sun",
    "how long before aza works",
    "lupus",
]
QUIET_START = {"FORUM_SEARCH_SYNC_BUILD_MAX": "0"}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Client:
    """One person's browser: its own cookies and connection, no redirects followed."""

    def __init__(self, port: int, timeout: float = 60):
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None):
        """Returns (status, headers, body); raises OSError/HTTPException when the reply is lost."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        for raw in resp.headers.get_all("Set-Cookie") or []:
            name, _, value = raw.split(";", 1)[0].partition("=")
            if value and "1970" not in raw:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        if resp.will_close:
            self.conn.close()
            self.conn = None
        return resp.status, resp.headers, data.decode("utf-8", "replace")

    def csrf(self, path: str = "/login") -> str:
        status, _, html = self.request("GET", path)
        match = CSRF_RE.search(html)
        if status != 200 or not match:
            raise RuntimeError(f"no form on {path} ({status})")
        return match.group(1)

    def sign_in(self, name: str) -> str:
        token = self.csrf("/login")
        form = {"display_name": name, "password": PASSWORD, "csrf_token": token}
        status, headers, _ = self.request("POST", "/login", form)
        if status != 302:
            raise RuntimeError(f"sign-in of {name} answered {status}")
        return self.csrf("/ask")


@dataclass
class Outcome:
    marker: str
    status: int | None  # None: the reply was lost (connection reset by a killed worker)
    seconds: float


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        print(f"{'PASS' if ok else 'FAIL'}  {what}", flush=True)
        if not ok:
            self.failures.append(what)
        return ok


# -- set-up ----------------------------------------------------------------------------


def set_up_instance(instance: Path, people: int, seed_threads: int) -> list[int]:
    """Schema, established accounts (past the new-account limits) and threads to reply to."""
    done = flask(instance, "forum", "init-db")
    if done.returncode != 0:
        raise SystemExit(f"init-db failed:\n{done.stdout}\n{done.stderr}")
    script = f"""
import datetime
from forum import create_app
from forum.extensions import db
from forum.models import User, utcnow
from forum.threads import service
app = create_app()
with app.app_context():
    old = utcnow() - datetime.timedelta(days=60)
    users = []
    for i in range({people}):
        u = User(display_name=f"loader{{i}}", name_key=f"loader{{i}}",
                 email=f"loader{{i}}@example.org", created_at=old)
        u.set_password({PASSWORD!r})
        db.session.add(u)
        users.append(u)
    db.session.commit()
    ids = []
    for i in range({seed_threads}):
        t, _ = service.create_thread(users[i % len(users)], f"Seed question {{i}} about aza",
            "Seed body: blood tests and tiredness.", ["lupus", "crohns"][i % 2:i % 2 + 1])
        ids.append(t.id)
    print(" ".join(map(str, ids)))
"""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=forum_env(instance),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"set-up failed:\n{out.stdout}\n{out.stderr}")
    return [int(x) for x in out.stdout.split()[-seed_threads:]]


# -- posting ---------------------------------------------------------------------------


def post_one(client: Client, token: str, marker: str, n: int, threads: list[int]) -> Outcome:
    body = f"Post {marker} from the load test: what helped me was a lower dose at first."
    if n % 5 == 0:
        form = {
            "title": f"Load question {marker}",
            "body": body,
            "conditions": "lupus",
            "side_effects": "fatigue",
            "csrf_token": token,
            "submit": "Post question",
        }
        path = "/ask"
    else:
        form = {"body": body, "csrf_token": token, "submit": "Post reply"}
        path = f"/t/{random.choice(threads)}/reply"
    started = time.perf_counter()
    try:
        status, headers, _ = client.request("POST", path, form)
    except (OSError, http.client.HTTPException):
        status = None
    return Outcome(marker, status, time.perf_counter() - started)


def sign_in_retrying(client: Client, name: str, tries: int = 20) -> str:
    """Sign in; a reply lost to a killed worker is retried (signing in twice is harmless)."""
    for attempt in range(tries):
        try:
            return client.sign_in(name)
        except (OSError, http.client.HTTPException):
            if attempt == tries - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def run_posters(
    port: int,
    run: str,
    posters: int,
    posts: int,
    threads: list[int],
    first: int,
    think: float = 0.0,
    posting: threading.Event | None = None,
    posted: queue.Queue | None = None,
):
    """Each poster signs in and posts `posts` times, pausing about `think` seconds before
    each post (people read and type); returns every Outcome. One question of every fourth
    poster is put on ``posted`` as (marker, time of the answer) for the freshness probe."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    errors: list[str] = []

    def poster(i: int) -> None:
        client, token = Client(port), None
        try:
            token = sign_in_retrying(client, f"loader{first + i}")
        except Exception as exc:  # noqa: BLE001 - reported as a failure below
            errors.append(f"poster {i}: {exc}")
            return
        mine = []
        for n in range(posts):
            if think:
                time.sleep(random.uniform(0.5 * think, 1.5 * think))
            if posting is not None:
                posting.set()
            mine.append(post_one(client, token, f"m{run}x{i}x{n}", n, threads))
            if posted is not None and i % 4 == 0 and n == 10 and mine[-1].status == 302:
                posted.put((mine[-1].marker, time.perf_counter()))
            if mine[-1].status is None:  # a killed worker: sign in again on a new connection
                client = Client(port)
                token = sign_in_retrying(client, f"loader{first + i}")
        with lock:
            outcomes.extend(mine)

    workers = [threading.Thread(target=poster, args=(i,)) for i in range(posters)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return outcomes, errors


def run_freshness_probe(port: int, posted: queue.Queue, lags: list, probes: int = 3):
    """Other readers (no writes of their own): how long after a question was posted does
    a search for its marker find it? Polls every 0.25 s, for at most 20 s."""

    def probe() -> None:
        client = Client(port)
        while True:
            item = posted.get()
            if item is None:
                return
            marker, at = item
            while True:
                try:
                    status, text = search_page(client, marker)
                except (OSError, http.client.HTTPException):
                    status, text = 0, ""
                waited = time.perf_counter() - at
                # The title in a result (the search box repeats the query itself).
                if status == 200 and f"load question {marker}".lower() in text.lower():
                    lags.append(waited)
                    break
                if waited > 20:
                    lags.append(float("inf"))
                    break
                time.sleep(0.25)

    threads = [threading.Thread(target=probe, daemon=True) for _ in range(probes)]
    for t in threads:
        t.start()
    return threads


def run_searchers(port: int, count: int, stop: threading.Event, think: float = 0.0):
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def searcher() -> None:
        client = Client(port)
        while not stop.is_set():
            if think:
                time.sleep(random.uniform(0.5 * think, 1.5 * think))
            q = urlencode({"q": random.choice(SEARCH_WORDS)})
            try:
                status, _, _ = client.request("GET", f"/search?{q}")
            except (OSError, http.client.HTTPException):
                status = 0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=searcher, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    return statuses, threads


# -- database checks -------------------------------------------------------------------


def stored_markers(db_path: Path, run: str) -> dict[str, int]:
    with sqlite3.connect(db_path, timeout=30) as conn:
        rows = conn.execute(
            "SELECT body FROM posts WHERE body LIKE ?", (f"Post m{run}x%",)
        ).fetchall()
    counts: dict[str, int] = {}
    for (body,) in rows:
        marker = body.split()[1]
        counts[marker] = counts.get(marker, 0) + 1
    return counts


def half_written(db_path: Path) -> list[str]:
    """Threads or posts that are not whole: each query must find nothing."""
    queries = {
        "posts without their thread": "SELECT count(*) FROM posts p "
        "LEFT JOIN threads t ON t.id = p.thread_id WHERE t.id IS NULL",
        "threads without a question": "SELECT count(*) FROM threads t WHERE NOT EXISTS "
        "(SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.is_question)",
        "threads without a condition": "SELECT count(*) FROM threads t WHERE NOT EXISTS "
        "(SELECT 1 FROM thread_tags g WHERE g.thread_id = t.id AND g.kind = 'condition')",
        "reply counts that disagree": "SELECT count(*) FROM threads t WHERE t.reply_count != "
        "(SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND NOT p.is_question)",
        "posts without rendered HTML": "SELECT count(*) FROM posts WHERE body_html = ''",
    }
    bad = []
    with sqlite3.connect(db_path, timeout=30) as conn:
        for what, sql in queries.items():
            n = conn.execute(sql).fetchone()[0]
            if n:
                bad.append(f"{n} {what}")
    return bad


def index_matches_within(instance: Path, seconds: float) -> tuple[bool, float]:
    """Run check-index until it exits 0; returns (ok, seconds from now to the passing run)."""
    started = time.monotonic()
    while True:
        began = time.monotonic() - started
        # As the server: a small broken index is not rebuilt by the checker's own start-up.
        done = flask(instance, "forum", "check-index", timeout=300, **QUIET_START)
        if done.returncode == 0:
            return True, began
        if time.monotonic() - started > seconds:
            print(done.stdout[-1500:], done.stderr[-1500:], flush=True)
            return False, began
        time.sleep(0.5)


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[18]


# -- phases ----------------------------------------------------------------------------


def phase_load(server: Gunicorn, instance: Path, args, threads: list[int], rep: Report) -> None:
    print(f"\n== load: {args.posters} posters x {args.posts} posts, {args.searchers} searching")
    stop = threading.Event()
    statuses, searchers = run_searchers(server.port, args.searchers, stop, args.search_think)
    posted: queue.Queue = queue.Queue()
    lags: list[float] = []
    probes = run_freshness_probe(server.port, posted, lags)
    started = time.perf_counter()
    cpu_before = server.cpu_seconds()
    outcomes, errors = run_posters(
        server.port, "L", args.posters, args.posts, threads, 0, args.think, posted=posted
    )
    elapsed = time.perf_counter() - started
    stop.set()
    for t in searchers:
        t.join(60)
    for _ in probes:
        posted.put(None)
    for t in probes:
        t.join(60)
    server_cpu = server.cpu_seconds() - cpu_before
    searches = sum(statuses.values())
    ok, after = index_matches_within(instance, args.index_seconds)
    posted = [o for o in outcomes if o.status == 302]
    latencies = [o.seconds for o in outcomes]
    wanted = args.posters * args.posts
    stored = stored_markers(instance / "forum.db", "L")
    by_status: dict = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    rep.facts["load"] = {
        "posts": wanted,
        "seconds": round(elapsed, 1),
        "posts_per_second": round(wanted / elapsed, 1),
        "post_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "post_p95_ms": round(1000 * p95(latencies), 1),
        "post_statuses": by_status,
        "search_statuses": statuses,
        "searches_per_second": round(searches / elapsed, 1),
        # Server CPU while posting (all workers; searches included), per post: the number
        # that stays comparable when other work shares the machine.
        "server_cpu_s": round(server_cpu, 1),
        "server_cpu_ms_per_post": round(1000 * server_cpu / wanted, 1),
        "index_matched_after_s": round(after, 1),
        # Seconds until another reader's search found a new question (a sample of them;
        # the poster's own search waits for it instead).
        "searchable_after_p50_s": round(statistics.median(lags), 2) if lags else None,
        "searchable_after_p95_s": round(p95(lags), 2) if lags else None,
    }
    print(json.dumps(rep.facts["load"]), flush=True)
    rep.check(not errors, f"every poster signed in {errors[:3]}")
    rep.check(len(posted) == wanted, f"{len(posted)} of {wanted} posts answered 302")
    rep.check(all(s < 500 for s in statuses), f"no 5xx while searching: {statuses}")
    rep.check(all(s and s < 500 for s in by_status), f"no 5xx while posting: {by_status}")
    rep.check(
        len(stored) == wanted and set(stored.values()) == {1},
        f"exactly {wanted} posts stored, each once (found {sum(stored.values())})",
    )
    rep.check(ok and after <= args.index_seconds, f"check-index passed {after:.1f} s after")
    rep.check(p95(latencies) < args.p95_limit, f"p95 posting latency {p95(latencies):.3f} s < 1 s")


def phase_kill(server: Gunicorn, instance: Path, args, threads: list[int], rep: Report) -> None:
    print(f"\n== kill -9 of workers: {args.kill_posters} posters x {args.kill_posts} posts")
    done = threading.Event()
    posting = threading.Event()
    kills = []

    def killer() -> None:
        posting.wait(600)  # kill while posts are in flight, not while people sign in
        time.sleep(0.5)
        while not done.is_set() and len(kills) < args.kills:
            pids = server.worker_pids()
            if pids:
                pid = random.choice(pids)
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(args.kill_every)

    k = threading.Thread(target=killer)
    k.start()
    outcomes, errors = run_posters(
        server.port, "K", args.kill_posters, args.kill_posts, threads, args.posters, 0, posting
    )
    done.set()
    k.join()
    time.sleep(1)
    stored = stored_markers(instance / "forum.db", "K")
    seen_ok = [o.marker for o in outcomes if o.status == 302]
    lost = [o.marker for o in outcomes if o.status is None]
    rep.facts["kill"] = {
        "kills": len(kills),
        "seen_ok": len(seen_ok),
        "reply_lost": len(lost),
        "refused_503": sum(1 for o in outcomes if o.status == 503),
        "other": sum(1 for o in outcomes if o.status not in (302, 503, None)),
        "stored": sum(stored.values()),
    }
    print(json.dumps(rep.facts["kill"]), flush=True)
    rep.check(len(kills) >= min(args.kills, 2), f"{len(kills)} workers killed mid-posting")
    rep.check(not errors, f"every poster signed in {errors[:3]}")
    rep.check(all(stored.get(m) == 1 for m in seen_ok), "every post seen to succeed is stored")
    rep.check(all(c == 1 for c in stored.values()), "no post is stored twice")
    refused = [o.marker for o in outcomes if o.status == 503]
    others = [o for o in outcomes if o.status not in (302, 503, None)]
    rep.check(not others, f"no error answers but a clear 503: {others[:3]}")
    rep.check(not any(m in stored for m in refused), f"no refused post was stored ({refused})")
    bad = half_written(instance / "forum.db")
    rep.check(not bad, f"nothing half-written {bad}")
    ok, after = index_matches_within(instance, args.index_seconds)
    rep.check(ok, f"index matches the database {after:.1f} s after the kills")


def search_page(client: Client, q: str = "seed question") -> tuple[int, str]:
    """The search page's status and its text (tags removed: matches are highlighted)."""
    status, _, html = client.request("GET", "/search?" + urlencode({"q": q}))
    return status, re.sub(r"<[^>]+>", "", html)


def pages_render(client: Client, thread_id: int) -> list[str]:
    bad = []
    for path in ("/", "/conditions", "/conditions/lupus", f"/t/{thread_id}"):
        status, _, _ = client.request("GET", path)
        if status != 200:
            bad.append(f"{path} -> {status}")
    return bad


def index_root(instance: Path) -> Path:
    return instance / "search-index"


def rebuilt_since(root: Path, since_ns: int) -> bool:
    """Whether the generation in use was built after ``since_ns`` (gen-<time_ns>-<pid>)."""
    try:
        name = (root / "CURRENT").read_text().strip()
        return int(name.split("-")[1]) > since_ns
    except (OSError, IndexError, ValueError):
        return False


def phase_index(server: Gunicorn, instance: Path, args, threads: list[int], rep: Report) -> None:
    print("\n== index faults: kill -9 during reindex, deleted and truncated index")
    client = Client(server.port)
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "forum", "reindex"],
        cwd=ROOT,
        env=forum_env(instance),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it as soon as it has started a new generation (or after a few seconds). The
    # rebuild of this small forum takes a few tenths of a second after that, and its
    # process exits right after (0.1 s): a later kill could land after the end.
    before = set(p.name for p in index_root(instance).glob("gen-*"))
    deadline = time.monotonic() + args.reindex_kill_after
    while time.monotonic() < deadline and proc.poll() is None:
        if set(p.name for p in index_root(instance).glob("gen-*")) - before:
            break
        time.sleep(0.01)
    was_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rep.check(was_running, "reindex was killed while it ran")
    rep.check(not pages_render(client, threads[0]), "pages render after the killed reindex")
    status, html = search_page(client)
    rep.check(status == 200 and "Seed question" in html, f"search still answers ({status})")
    ok, after = index_matches_within(instance, args.index_seconds)
    rep.check(ok, f"index matches the database after the killed reindex ({after:.1f} s)")

    for damage in ("deleted", "truncated"):
        root = index_root(instance)
        damaged_at = time.time_ns()
        # The server's index writers run in the background: a file can vanish (or a
        # temporary folder come and go) under the damage; that is no reason to stop.
        if damage == "deleted":
            for _attempt in range(20):
                try:
                    shutil.rmtree(root)
                    break
                except FileNotFoundError:
                    continue
                except OSError as exc:  # a writer added a file while the folder emptied
                    if exc.errno != errno.ENOTEMPTY:
                        raise
                    continue
        else:
            # os.walk ignores a folder that vanishes while it is listed (rglob raises).
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    if name == "rebuild.lock":
                        continue
                    try:
                        with open(os.path.join(folder, name), "r+b") as fh:
                            fh.truncate(os.fstat(fh.fileno()).st_size // 2)
                    except (FileNotFoundError, IsADirectoryError):
                        continue
        bad = pages_render(client, threads[0])
        rep.check(not bad, f"pages render with the index {damage} {bad}")
        status, html = search_page(client)
        rebuilding = "rebuil" in html.lower()
        # The workers' index appliers notice a broken index within a second and start
        # the rebuild themselves; a small one can be done before this search arrives.
        healed = status == 200 and "Seed question" in html and rebuilt_since(root, damaged_at)
        seen = "rebuilding" if rebuilding else "already rebuilt" if healed else "neither"
        rep.check(
            status in (200, 503) and (rebuilding or healed),
            f"search says it is rebuilding with the index {damage}, or it is rebuilt "
            f"already ({status}, {seen})",
        )
        ok, after = index_matches_within(instance, args.rebuild_seconds)
        rep.check(ok, f"index rebuilt and matching after being {damage} ({after:.1f} s)")
        status, html = search_page(client, "seed question")
        rep.check(status == 200 and "Seed question" in html, "search finds threads again")


def phase_lock(server: Gunicorn, instance: Path, args, threads: list[int], rep: Report) -> None:
    for hold in (args.lock_seconds, args.long_lock_seconds):
        print(f"\n== database write lock held for {hold} s")
        run = f"W{hold}"
        locked = threading.Event()

        def holder(hold=hold, locked=locked) -> None:
            conn = sqlite3.connect(instance / "forum.db", timeout=30, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(hold)
            conn.execute("COMMIT")
            conn.close()

        h = threading.Thread(target=holder)
        h.start()
        locked.wait()
        reader = Client(server.port)
        read_started = time.perf_counter()
        read_status, _, _ = reader.request("GET", f"/t/{threads[0]}")
        read_seconds = time.perf_counter() - read_started
        outcomes, errors = run_posters(server.port, run, args.lock_posters, 2, threads, 0)
        h.join()
        stored = stored_markers(instance / "forum.db", run)
        statuses: dict = {}
        for o in outcomes:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        rep.facts[f"lock_{hold}s"] = {"statuses": statuses, "read_seconds": round(read_seconds, 2)}
        print(json.dumps(rep.facts[f"lock_{hold}s"]), flush=True)
        rep.check(read_status == 200, f"a thread page reads during the lock ({read_status})")
        rep.check(not errors, f"every poster signed in {errors[:3]}")
        rep.check(
            all(s in (302, 503) for s in statuses), f"posts succeed or get a clear 503: {statuses}"
        )
        ok = [o.marker for o in outcomes if o.status == 302]
        refused = [o.marker for o in outcomes if o.status == 503]
        rep.check(all(stored.get(m) == 1 for m in ok), "every accepted post is stored once")
        rep.check(not any(m in stored for m in refused), "no refused post was stored")
        if hold == args.lock_seconds:
            rep.check(len(ok) == len(outcomes), "a short lock: every post waited and succeeded")
    bad = half_written(instance / "forum.db")
    rep.check(not bad, f"nothing half-written {bad}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the reduced run used in CI")
    ap.add_argument("--posters", type=int, default=50)
    ap.add_argument("--posts", type=int, default=20)
    ap.add_argument("--searchers", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kill-posters", type=int, default=10)
    ap.add_argument("--kill-posts", type=int, default=20)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--kill-every", type=float, default=1.0)
    ap.add_argument("--lock-posters", type=int, default=5)
    ap.add_argument("--lock-seconds", type=float, default=4)
    ap.add_argument("--long-lock-seconds", type=float, default=16)
    ap.add_argument("--index-seconds", type=float, default=10)
    ap.add_argument("--rebuild-seconds", type=float, default=120)
    ap.add_argument("--reindex-kill-after", type=float, default=5)
    ap.add_argument("--p95-limit", type=float, default=1.0)
    ap.add_argument("--think", type=float, default=3.0, help="mean pause before a post (s)")
    ap.add_argument("--search-think", type=float, default=1.0, help="between searches (s)")
    ap.add_argument("--phases", default="load,kill,index,lock")
    ap.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.posters, args.posts, args.searchers = 10, 5, 4
        # Posting is quick now (tens of ms): enough posts, and kills close enough together,
        # that several kills land while posts are still in flight.
        args.kill_posters, args.kill_posts, args.kills = 6, 20, 4
        args.kill_every = min(args.kill_every, 0.3)
        args.lock_posters = 3
    tmp = Path(tempfile.mkdtemp(prefix="forum-load-"))
    instance = tmp / "instance"
    rep = Report()
    run_id = uuid.uuid4().hex[:6]
    print(f"instance {instance} (run {run_id})", flush=True)
    people = args.posters + args.kill_posters
    threads = set_up_instance(instance, people, seed_threads=10)
    # A broken index is rebuilt in the background (as on a large forum), so the search page
    # can be seen saying so; small forums rebuild inline and never show the message.
    env = forum_env(instance, **QUIET_START)
    server = Gunicorn("app:app", env, args.workers, tmp / "gunicorn.log")
    phases = {"load": phase_load, "kill": phase_kill, "index": phase_index, "lock": phase_lock}
    try:
        server.start()
        for name in args.phases.split(","):
            phases[name](server, instance, args, threads, rep)
    finally:
        server.stop()
        log = (tmp / "gunicorn.log").read_text(errors="replace")
        tracebacks = log.count("Traceback")
        if tracebacks:
            print(f"\n{tracebacks} tracebacks in the server log; the last:\n{log[-3000:]}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n" + json.dumps(rep.facts, indent=2))
    print(f"\n{len(rep.failures)} failed: {rep.failures}" if rep.failures else "\nall passed")
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
