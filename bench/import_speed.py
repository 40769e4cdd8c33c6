#!/usr/bin/env python3
"""Import speed: `flask forum import` of N generated threads into a fresh forum, beside a
plain Whoosh build of the same threads in the same run (the ratio is the robust figure on
a shared, noisy machine).

    python bench/import_speed.py --threads 2000 --runs 3 [--database-url URL] [--no-semantic]
        [--no-reference]

The corpus comes from ../shared/bench/gen_corpus.py (skipped, with the reason, when it is
absent). Each run imports into a new instance folder through the real command (a
subprocess: services, signals, change record, index checkpoints, semantic vectors unless
--no-semantic). ``--database-url`` (a PostgreSQL URL such as FORUM_TEST_DATABASE_URL's)
imports into a new schema of that server instead of SQLite. Prints threads/s and CPU seconds
(the import process and its forked workers) per run, the median, the plain Whoosh build
rate and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"


def corpus(n: int, workdir: Path) -> Path:
    path = workdir / f"corpus-{n}.jsonl"
    if not path.exists():
        if not GEN.exists():
            sys.exit(f"skipped: {GEN} is absent (the shared benchmark corpus generator)")
        subprocess.run([sys.executable, str(GEN), str(n), str(path)], check=True)
    return path


def _schema_url(url: str) -> tuple[str, callable]:
    """A new empty PostgreSQL schema for one run, and a function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    base = make_url(url)
    scoped = base.update_query_dict({"options": f"-csearch_path={name}"})

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()

    return scoped.render_as_string(hide_password=False), drop


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_once(
    path: Path, n: int, workdir: Path, url: str | None, semantic: bool
) -> tuple[float, float]:
    """(threads/s, CPU seconds of the import process and the workers it forked)."""
    instance = workdir / "instance"
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True)
    drop = None
    config = [] if semantic else ["SEARCH_SEMANTIC = False"]
    if url:
        url, drop = _schema_url(url)
        config.append(f"SQLALCHEMY_DATABASE_URI = {url!r}")
    (instance / "config.py").write_text("\n".join(config) + "\n")
    env = dict(os.environ, FORUM_INSTANCE_PATH=str(instance), PYTHONPATH=str(ROOT))
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    try:
        subprocess.run([*flask, "forum", "init-db"], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip
        started, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run([*flask, "forum", "import", str(path)], cwd=ROOT, env=env,
                              capture_output=True, text=True)  # fmt: skip
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
        if done.returncode != 0:
            sys.exit(f"import failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        check = subprocess.run([*flask, "forum", "check-index"], cwd=ROOT, env=env,
                               capture_output=True, text=True)  # fmt: skip
        if check.returncode != 0:
            sys.exit(f"check-index disagrees after the import:\n{check.stdout[-2000:]}")
    finally:
        if drop:
            drop()
    return n / wall, cpu


def plain_whoosh(path: Path, n: int, workdir: Path) -> float:
    """The reference: one Whoosh writer, title + body + replies as text, tags as keywords."""
    from whoosh import fields, index
    from whoosh.analysis import StemmingAnalyzer

    schema = fields.Schema(
        id=fields.ID(stored=True, unique=True),
        title=fields.TEXT(analyzer=StemmingAnalyzer(), stored=True),
        text=fields.TEXT(analyzer=StemmingAnalyzer()),
        conditions=fields.KEYWORD(commas=True, lowercase=True),
        side_effects=fields.KEYWORD(commas=True, lowercase=True),
    )
    folder = workdir / "whoosh"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    started = time.perf_counter()
    ix = index.create_in(str(folder), schema)
    writer = ix.writer()
    with path.open(encoding="utf-8") as fh:
        for n_line, line in enumerate(fh):
            item = json.loads(line)
            writer.add_document(
                id=str(n_line),
                title=item["title"],
                text="\n".join([item["body"], *(r["body"] for r in item.get("replies") or [])]),
                conditions=",".join(item.get("conditions") or []),
                side_effects=",".join(item.get("side_effects") or []),
            )
    writer.commit()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-semantic", action="store_true", help="SEARCH_SEMANTIC = False")
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the plain Whoosh build (100,000 threads: it alone takes ~10 minutes here)",
    )
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="import-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = corpus(args.threads, workdir)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {args.threads} threads, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}, "
          f"semantic {'off' if args.no_semantic else 'on'}")  # fmt: skip
    rates, plain = [], []
    for run in range(args.runs):
        rate, cpu = import_once(
            path, args.threads, workdir, args.database_url, not args.no_semantic
        )
        rates.append(rate)
        line = (f"run {run + 1}: import {rate:.0f} threads/s ({cpu:.1f} s CPU, "
                f"{1000 * cpu / args.threads:.1f} ms a thread)")  # fmt: skip
        if not args.no_reference:
            plain.append(plain_whoosh(path, args.threads, workdir))
            line += f", plain Whoosh {plain[-1]:.0f} threads/s"
        print(f"{line}; load {os.getloadavg()[0]:.1f}")
    med = statistics.median(rates)
    if not plain:
        print(f"median: import {med:.0f} threads/s; load {os.getloadavg()[0]:.1f}")
        return
    ref = statistics.median(plain)
    print(f"median: import {med:.0f} threads/s, plain Whoosh build {ref:.0f} threads/s, "
          f"ratio {med / ref:.2f}; load {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
