"""Building an import's last rows ahead of the index's write lock.

At an import's end its checkpoint process (``checkpoints``) may still be building a
commit of thousands of threads. ``prebuild`` builds the rows after that commit
meanwhile - segments in a folder of their own, beside the generations, without the write
lock - and the final fast commit (``changes._apply_with``) installs them when its rows
are exactly those and every thread is still visible; otherwise it discards them and
builds as usual, so a document is never older than the rows the index says it applied.
They are built elsewhere because a whoosh commit deletes the segment files of its own
folder that its table of contents does not list.

Measured on the shared 2-core machine (bench/import_speed.py, 20,000 generated threads,
this against the tree before it, alternated): 461-465 -> 493-522 threads/s.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from whoosh import index as whoosh_index

from ..models import SearchChange
from .changes import _build_segments, _session, _visible_ids, store
from .index import INDEX_NAME, remove_abandoned
from .schema import build_schema


@dataclass
class Prebuilt:
    """Segments built by ``prebuild`` for the change rows ``after < id <= last``: the
    documents of the visible threads ``ids`` as they were when it read them, in a folder
    of their own until a commit installs them."""

    after: int
    last: int
    ids: set[int]
    folder: Path
    segments: list

    def install(self, dest: str | os.PathLike) -> list:
        """Move the segments' files into the index folder ``dest``; returns them."""
        names = {seg.segment_id() for seg in self.segments}
        for path in self.folder.iterdir():
            if path.name.split(".", 1)[0] in names:
                os.replace(path, Path(dest) / path.name)
        self.discard()
        return self.segments

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def prebuild(after: int, limit: int, procs: int | None = None) -> Prebuilt | None:
    """Build, without the index's write lock, the segments for the change rows after
    ``after`` (at most ``limit``), in a folder beside the generations: an import's end
    uses it while its checkpoint process is still committing the rows up to ``after``
    (``checkpoints.catch_up``), so no core waits. The next fast commit installs them
    when its rows are exactly these and every thread is still visible (else it discards
    them and builds as usual): a document is never older than the rows applied. A
    whoosh commit deletes the unlisted segment files of its own folder, so these are
    built elsewhere. None when nothing is pending."""
    root = store().root
    with _session() as session:
        rows = session.execute(
            select(SearchChange.id, SearchChange.thread_id)
            .where(SearchChange.id > after)
            .order_by(SearchChange.id)
            .limit(max(int(limit), 1))
        ).all()
        if not rows:
            return None
        thread_ids = sorted({r.thread_id for r in rows})
        visible = _visible_ids(session, thread_ids)
    remove_abandoned(root, ".prebuild")  # left by a process killed before its commit
    folder = root / f".prebuild-{os.getpid()}-{time.time_ns()}"
    folder.mkdir(parents=True)
    try:
        ix = whoosh_index.create_in(str(folder), build_schema(), indexname=INDEX_NAME)
        ids = [i for i in thread_ids if i in visible]
        segments = _build_segments(ix, ids, procs) if ids else []
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Prebuilt(after, max(r.id for r in rows), set(ids), folder, segments)
