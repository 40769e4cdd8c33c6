"""Speed against the framework's ceiling: the forum's pages as a share of bare Flask.

In one run, on 127.0.0.1 and under the same gunicorn configuration (gunicorn.conf.py):
(a) a bare Flask "hello world" (bench/hello_app.py) and (b) the forum holding a generated
corpus of N threads (../shared/bench/gen_corpus.py) plus one thread with 30 replies. Each
URL is loaded with Debian's `wrk` for --duration seconds after a warm-up; the table gives
requests/s, p50/p95 latency and the ratio to bare Flask, and the RSS of every worker.
The forum is measured as an anonymous reader sees it (page cache on, the default) and,
for comparison, with the page cache off (every request rendered).

The corpus and the loaded instance are built once into bench/out/ and reused: the corpus
is loaded by bench/bulk_load.py (same rows as `flask forum import`, in bulk) and indexed by
`flask forum reindex`; run with --prepare-only first if you like.

usage: python bench/ceiling.py [--threads 100000] [--duration 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _serve import ROOT, SHARED, Gunicorn, flask, forum_env

OUT = ROOT / "bench" / "out"
LUA = ROOT / "bench" / "wrk_report.lua"
BIG_THREAD_TITLE = "Benchmark thread with thirty replies about azathioprine"
SEARCH_QUERY = "hair loss"


def corpus(n: int) -> Path:
    path = OUT / f"corpus-{n}.jsonl"
    bigger = sorted(OUT.glob("corpus-*.jsonl"), key=lambda p: -int(p.stem.split("-")[1]))
    if not path.exists():
        source = next((p for p in bigger if int(p.stem.split("-")[1]) >= n), None)
        if source:  # the generator is prefix-stable: the first n threads are the n corpus
            with source.open() as src, path.open("w") as dst:
                for i, line in enumerate(src):
                    if i >= n:
                        break
                    dst.write(line)
        else:
            gen = SHARED / "bench" / "gen_corpus.py"
            subprocess.run([sys.executable, str(gen), str(n), str(path)], check=True)
    return path


def big_thread_line() -> str:
    replies = [
        {
            "author": f"bench_replier_{k % 7}",
            "body": f"Reply {k + 1}: what happened to me on aza was a slow start, then it "
            "settled. Blood tests every two weeks at first, then monthly.",
            "created": f"2025-01-01T{10 + k // 60:02d}:{k % 60:02d}:00Z",
        }
        for k in range(30)
    ]
    return json.dumps(
        {
            "title": BIG_THREAD_TITLE,
            "body": "How long before azathioprine started working for you? **Three months** in.",
            "author": "bench_asker",
            "created": "2025-01-01T09:00:00Z",
            "conditions": ["Lupus"],
            "side_effects": ["fatigue"],
            "medications": ["azathioprine"],
            "replies": replies,
        }
    )


def prepare(n: int) -> tuple[Path, int]:
    """The instance folder holding the corpus, imported and indexed once; the big thread id."""
    instance = OUT / f"forum-{n}"
    ready = instance / "bench-ready.json"
    if ready.exists():
        return instance, json.loads(ready.read_text())["big_thread_id"]
    if instance.exists():
        shutil.rmtree(instance)
    instance.mkdir(parents=True)
    started = time.perf_counter()
    extra = OUT / "big-thread.jsonl"
    extra.write_text(big_thread_line() + "\n")
    for path in (extra, corpus(n)):
        print(f"loading {path.name} into {instance} ...", flush=True)
        cmd = [sys.executable, str(ROOT / "bench" / "bulk_load.py"), str(path)]
        subprocess.run(cmd, cwd=ROOT, env=forum_env(instance), check=True)
    imported = time.perf_counter() - started
    print("reindexing ...", flush=True)
    started = time.perf_counter()
    for _attempt in range(3):  # the tree may be mid-edit by a colleague: retry a failed start
        # Lexical only: with the semantic second opinion on, reindex would also embed
        # every thread (~40-100 ms each: hours at 100,000); bench/search_speed.py
        # --semantic measures that part.
        done = flask(instance, "forum", "reindex", timeout=6 * 3600, FORUM_SEARCH_SEMANTIC="false")
        print(done.stdout[-2000:], done.stderr[-2000:], flush=True)
        if done.returncode == 0:
            break
        time.sleep(30)
    else:
        raise SystemExit("reindex failed")
    reindexed = time.perf_counter() - started
    with sqlite3.connect(instance / "forum.db") as conn:
        sql = "SELECT id FROM threads WHERE title = ?"
        big_id = conn.execute(sql, (BIG_THREAD_TITLE,)).fetchone()[0]
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
    ready.write_text(
        json.dumps(
            {
                "big_thread_id": big_id,
                "threads": threads,
                "import_seconds": round(imported),
                "reindex_seconds": round(reindexed),
            }
        )
    )
    return instance, big_id


def wrk(url: str, duration: int, connections: int) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(LUA), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.M)
    data = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def warm(url: str, times: int = 20) -> None:
    for _ in range(times):
        with urllib.request.urlopen(url, timeout=60) as resp:
            resp.read()


def measure(server: Gunicorn, paths: dict[str, str], args) -> dict[str, dict]:
    results = {}
    for label, path in paths.items():
        warm(server.url + path)
        results[label] = wrk(server.url + path, args.duration, args.connections)
        r = results[label]
        print(
            f"  {label:<28} {r['rps']:8.1f} req/s  p50 {r['p50_us'] / 1000:7.1f} ms  "
            f"p95 {r['p95_us'] / 1000:7.1f} ms  errors {r['status_errors'] + r['timeouts']}",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--skip-uncached", action="store_true")
    ap.add_argument(
        "--pages-only",
        action="store_true",
        help="reading pages only, on the loaded database while its index is still building",
    )
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.pages_only:
        instance = OUT / f"forum-{args.threads}"
        with sqlite3.connect(instance / "forum.db") as conn:
            sql = "SELECT id FROM threads WHERE title = ?"
            big_id = conn.execute(sql, (BIG_THREAD_TITLE,)).fetchone()[0]
    else:
        instance, big_id = prepare(args.threads)
    if args.prepare_only:
        return 0
    # Tables added since the instance was built are created once here: 4 workers starting
    # together on an older database race to create them.
    done = flask(instance, "forum", "init-db")
    if done.returncode != 0:
        raise SystemExit(f"init-db failed:\n{done.stdout}\n{done.stderr}")
    log = OUT / "ceiling-gunicorn.log"
    paths = {
        "home": "/",
        "condition page (lupus)": "/conditions/lupus",
        "thread, 30 replies": f"/t/{big_id}",
        "search": "/search?q=" + SEARCH_QUERY.replace(" ", "+"),
    }
    if args.pages_only:
        del paths["search"]
    report: dict = {"threads": args.threads, "workers": args.workers, "when": time.ctime()}
    env = forum_env(instance)
    print(f"bare Flask, {args.workers} workers")
    hello_env = {**env, "PYTHONPATH": str(ROOT / "bench")}
    with Gunicorn("hello_app:app", hello_env, args.workers, log) as hello:
        report["bare"] = measure(hello, {"hello world": "/"}, args)["hello world"]
    variants = [("cached", "true")] + ([] if args.skip_uncached else [("uncached", "false")])
    for name, flag in variants:
        print(f"forum ({name}), {args.threads} threads, {args.workers} workers")
        server = Gunicorn("app:app", {**env, "FORUM_PAGE_CACHE": flag}, args.workers, log)
        with server:
            report[name] = measure(server, paths, args)
            report[f"{name}_rss_mb"] = [round(x, 1) for x in server.worker_rss_mb()]
    print_table(report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (OUT / f"ceiling-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0


def print_table(report: dict) -> None:
    bare = report["bare"]["rps"]
    print(f"\nbare Flask: {bare:.0f} req/s, p95 {report['bare']['p95_us'] / 1000:.1f} ms\n")
    print("| page | mode | req/s | p50 ms | p95 ms | share of bare Flask |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for mode in ("cached", "uncached"):
        for label, r in report.get(mode, {}).items():
            print(
                f"| {label} | {mode} | {r['rps']:.1f} | {r['p50_us'] / 1000:.1f} | "
                f"{r['p95_us'] / 1000:.1f} | {100 * r['rps'] / bare:.1f}% |"
            )
    for mode in ("cached", "uncached"):
        if f"{mode}_rss_mb" in report:
            print(f"\nworker RSS ({mode}): {report[f'{mode}_rss_mb']} MB")


if __name__ == "__main__":
    sys.exit(main())
