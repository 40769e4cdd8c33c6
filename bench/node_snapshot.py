#!/usr/bin/env python3
"""A new app server: ready from a peer's index snapshot vs a full reindex (issue 16).

    nice python bench/node_snapshot.py INSTANCE --workdir DIR [--new-threads 200]
        [--repeat 3] [--reindex-repeat 1] [--procs 2] [--check]

INSTANCE is a forum's instance folder (forum.db beside it; a COPY: the bench reindexes it
and posts threads into it). Node A is INSTANCE; each new node is a fresh instance folder
under DIR on the same database. Every step runs as its own ``flask`` process, as an
operator would run it, and is timed by its wall clock (process start included):

1. ``flask forum search-snapshot create`` on A (A must have an index);
2. ``--new-threads`` threads posted on A after the snapshot (what a node must catch up);
3. ``flask forum search-snapshot restore`` on a fresh node: verified, installed, and the
   threads of step 2 applied: the node is ready when it exits;
4. a fresh node started with ``FORUM_SEARCH_SNAPSHOT``: seconds until its index is
   usable and caught up (``--check`` then runs check-index there);
5. last (the slow step), ``--reindex-repeat`` times ``flask forum reindex --procs N`` on
   A: what a new node costs without a snapshot (its rebuild reads the same database and
   writes the same index).

Prints each repetition, medians, sizes, the ratio reindex / ready, and the load average.
Semantic vectors are off (``FORUM_SEARCH_SEMANTIC=false``), as in the other index benches.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

POST = """
import sys
from sqlalchemy import select
from forum import create_app
from forum.extensions import db
from forum.models import User
from forum.threads import service
app = create_app()
with app.app_context():
    author = db.session.scalars(select(User).order_by(User.id).limit(1)).first()
    for n in range(int(sys.argv[1])):
        service.create_thread(author, f"Snapshot bench late thread {sys.argv[2]} {n}",
            "Posted on node A after its snapshot was taken.", ["crohns"], [], ["azathioprine"])
"""

FIRST_START = """
import time
from forum import create_app
from forum.search import changes, rebuild
started = time.perf_counter()
app = create_app()
with app.app_context():
    while True:
        try:
            if rebuild.index_ok():
                applied, newest, gaps = changes.pending_state()
                if applied >= newest and not gaps:
                    break
                changes.apply_pending(timeout=60)
                continue
        except Exception:
            pass
        time.sleep(0.2)
print(f"READY {time.perf_counter() - started:.2f}")
"""


def env_for(instance: Path, db_uri: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env.update(
        PYTHONPATH=str(ROOT),
        FORUM_INSTANCE_PATH=str(instance),
        FORUM_SQLALCHEMY_DATABASE_URI=db_uri,
        FORUM_SEARCH_SEMANTIC="false",
        FORUM_LOAD_DEMO_ON_FIRST_START="false",
        FORUM_SCHEMA_AUTO_UPGRADE="false",
        FORUM_SECRET_KEY="bench",
        FORUM_SEARCH_FOLLOW="false",
        **extra,
    )
    return env


def run(env: dict, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


def flask(env: dict, *args: str) -> tuple[float, str]:
    return run(env, sys.executable, "-m", "flask", "--app", "app", "forum", *args)


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--new-threads", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reindex-repeat", type=int, default=1)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows in a log as it goes
    a = args.instance.resolve()
    db_uri = f"sqlite:///{a / 'forum.db'}"
    args.workdir.mkdir(parents=True, exist_ok=True)
    env_a = env_for(a, db_uri)
    print(f"load average at start: {load()}")

    def index_size() -> str:
        current = (a / "search-index" / "CURRENT").read_text().strip()
        return f"{size_mb(a / 'search-index' / current):.0f} MB"

    print(f"index of A: {index_size()}")
    create, restore, first = [], [], []
    for n in range(args.repeat):
        tar = args.workdir / f"snap-{n}.tar"
        took, out = flask(env_a, "search-snapshot", "create", str(tar))
        create.append(took)
        print(f"create {n + 1}: {took:.1f} s  ({out.strip()})  tar {size_mb(tar):.0f} MB")
        run(env_a, sys.executable, "-c", POST, str(args.new_threads), str(n))
        node = args.workdir / f"node-{n}"
        shutil.rmtree(node, ignore_errors=True)
        node.mkdir()
        took, out = flask(env_for(node, db_uri), "search-snapshot", "restore", str(tar))
        restore.append(took)
        print(f"restore+catch-up {n + 1}: {took:.1f} s  ({' '.join(out.split())})")
        fresh = args.workdir / f"first-{n}"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        env_first = env_for(fresh, db_uri, FORUM_SEARCH_SNAPSHOT=str(tar))
        _took, out = run(env_first, sys.executable, "-c", FIRST_START)
        first.append(float(re.search(r"READY ([0-9.]+)", out).group(1)))
        print(f"first start with FORUM_SEARCH_SNAPSHOT {n + 1}: ready in {first[-1]:.1f} s")
        if args.check and n == 0:
            took, out = flask(env_for(fresh, db_uri), "check-index")
            print(f"check-index on the new node: {out.strip().splitlines()[-1]} ({took:.0f} s)")
        shutil.rmtree(node, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
        tar.unlink()

    med = statistics.median
    print(
        f"medians: create {med(create):.1f} s, restore+catch-up of {args.new_threads} "
        f"threads {med(restore):.1f} s, first start ready {med(first):.1f} s "
        f"(load average now {load()})",
    )
    reindex = []
    for n in range(args.reindex_repeat):  # last: the most expensive step
        took, out = flask(env_a, "reindex", "--procs", str(args.procs))
        reindex.append(took)
        print(f"reindex {n + 1}: {took:.1f} s  ({out.strip().splitlines()[-1]})")
    if reindex:
        print(
            f"median reindex {med(reindex):.1f} s ({index_size()}); reindex / restore+catch-up "
            f"= {med(reindex) / med(restore):.1f}x, reindex / first start = "
            f"{med(reindex) / med(first):.1f}x"
        )
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
