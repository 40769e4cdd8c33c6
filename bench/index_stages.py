#!/usr/bin/env python3
"""Where a segment build's CPU goes, per thread: reading the rows, building the documents
(analysis), adding them to the segment writer, and writing the segment (postings, packs).

    FORUM_INSTANCE_PATH=/path/to/instance python bench/index_stages.py [--threads N]

Builds one segment of the forum's visible threads (the first N by id, default all) into a
temporary folder with the rebuild's fast builder, in this one process, and prints the CPU
time of each stage (``time.process_time``). The forum's own index is not touched. Run it
on a copy of an imported forum (bench/import_speed.py leaves one in its work folder),
against two trees in turn to compare them: the figures are CPU, so two runs side by side
on the 2-core machine agree within a few per cent.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("FORUM_SEARCH_SEMANTIC", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="the first N threads (0: all)")
    args = parser.parse_args()
    started = time.process_time()
    from sqlalchemy import select
    from sqlalchemy.orm import Session
    from whoosh import index as whoosh_index

    from app import app
    from forum.extensions import db
    from forum.models import Thread
    from forum.search import documents
    from forum.search.fastwriter import _SegmentBuilder, paused_gc
    from forum.search.schema import build_schema

    print(f"start-up (imports, create_app): {time.process_time() - started:.2f} s CPU")
    with app.app_context(), tempfile.TemporaryDirectory() as folder:
        ids = list(db.session.scalars(select(Thread.id).order_by(Thread.id)))
        ids = ids[: args.threads] if args.threads else ids
        ix = whoosh_index.create_in(folder, build_schema())
        builder = _SegmentBuilder(ix, packs_from=0)
        spent = dict.fromkeys(("load", "documents", "add", "write"), 0.0)
        with paused_gc(), Session(db.engine) as session:
            for start in range(0, len(ids), 250):
                chunk = ids[start : start + 250]
                t0 = time.process_time()
                threads = documents.load_threads(session, chunk)
                visible = [threads[i] for i in chunk if i in threads and threads[i].is_visible]
                t1 = time.process_time()
                docs = documents.thread_documents(visible)
                t2 = time.process_time()
                for doc in docs:
                    builder.add(doc)
                t3 = time.process_time()
                session.expunge_all()
                gc.collect(1)
                spent["load"] += t1 - t0
                spent["documents"] += t2 - t1
                spent["add"] += t3 - t2
            t0 = time.process_time()
            builder.close()
            spent["write"] = time.process_time() - t0
    n = max(len(ids), 1)
    parts = ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in spent.items())
    print(f"{len(ids)} threads, ms of CPU a thread: {parts}; "
          f"total {1000 * sum(spent.values()) / n:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
