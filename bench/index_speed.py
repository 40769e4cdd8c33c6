#!/usr/bin/env python3
"""Indexing speed: a full rebuild of an existing forum, and import throughput.

    # rebuild the index of a forum (instance folder with forum.db), then check it
    python bench/index_speed.py reindex INSTANCE [--procs N] [--check]

    # import the first LINES threads of a corpus into a fresh instance in WORKDIR
    python bench/index_speed.py import CORPUS.jsonl --lines 2000 --workdir DIR [--check]

Both print wall and CPU seconds, threads per second and a linear extrapolation to
100,000 threads (an estimate: a larger index costs a little more per thread, as whoosh
merges longer posting lists). Run with ``nice -n 5`` on a shared machine; the CPU
seconds of this process and its workers show how much of the wall time was waiting.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _report(what: str, count: int, wall: float, cpu: float) -> None:
    rate = count / wall if wall else 0.0
    print(
        f"{what}: {count} threads in {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({rate:.0f} threads/s; 100,000 threads ~ {100_000 / rate / 60:.1f} min at this rate)"
        if rate
        else f"{what}: nothing to do"
    )


def _check() -> None:
    from forum.search.rebuild import check_index

    started = time.perf_counter()
    problems = check_index()
    print(f"check-index: {len(problems)} difference(s) in {time.perf_counter() - started:.1f} s")
    for line in problems[:10]:
        print("  " + line)
    if problems:
        sys.exit(1)


def reindex(args) -> None:
    os.environ["FORUM_INSTANCE_PATH"] = str(Path(args.instance).resolve())
    from forum import create_app
    from forum.search import build, changes, rebuild

    app = create_app()
    with app.app_context():
        count = rebuild._visible_count()
        procs = args.procs
        procs = build.procs_for(count, procs)
        print(f"{count} visible threads, {procs} process(es)")
        cpu0, started = _cpu(), time.perf_counter()
        name = rebuild.rebuild(procs=procs)
        wall, cpu = time.perf_counter() - started, _cpu() - cpu0
        _report(f"reindex ({name})", count, wall, cpu)
        print(f"segments: {len(changes.store().open_index()._segments())}")
        if args.check:
            _check()


def import_corpus(args) -> None:
    workdir = Path(args.workdir).resolve()
    instance = workdir / "instance"
    if instance.exists():
        shutil.rmtree(instance)
    instance.mkdir(parents=True)
    os.environ["FORUM_INSTANCE_PATH"] = str(instance)
    from forum import create_app

    app = create_app({"LOAD_DEMO_ON_FIRST_START": False})
    lines = []
    with open(args.corpus, "rb") as fh:
        for line in fh:
            lines.append(line)
            if len(lines) >= args.lines:
                break
    with app.app_context():
        from forum import transfer

        cpu0, started = _cpu(), time.perf_counter()
        report = transfer.import_lines(lines)
        wall, cpu = time.perf_counter() - started, _cpu() - cpu0
        print(
            f"imported {report.imported}, already present {report.already_present}, "
            f"skipped {len(report.skipped)}, warnings {len(report.warnings)}, "
            f"accounts {report.accounts_created}"
        )
        _report("import (index included)", report.imported, wall, cpu)
        if args.check:
            _check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reindex")
    r.add_argument("instance")
    r.add_argument("--procs", type=int, default=None)
    r.add_argument("--check", action="store_true")
    i = sub.add_parser("import")
    i.add_argument("corpus")
    i.add_argument("--lines", type=int, default=2000)
    i.add_argument("--workdir", required=True)
    i.add_argument("--check", action="store_true")
    args = parser.parse_args()
    reindex(args) if args.cmd == "reindex" else import_corpus(args)


if __name__ == "__main__":
    main()
