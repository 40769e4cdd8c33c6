"""Where the index lives on disk, and this process's searcher and writers.

Layout of ``SEARCH_INDEX_DIR``::

    CURRENT          name of the generation in use (replaced atomically)
    gen-<ns>-<pid>/  one whoosh index per generation (a rebuild makes a new one)
    rebuild.lock     held (flock) by the one process that is rebuilding

A rebuild fills a fresh generation and then points ``CURRENT`` at it, so searches
keep using the old one meanwhile and a rebuild killed half-way leaves only an unused
directory behind (removed by the next rebuild). Every writer uses ``compound=False``
(opening a searcher then costs about a millisecond instead of copying the postings
into memory) and waits for the lock with ``timeout``/``delay`` instead of raising.

Segment files outlive their segment by ``RETIRE_SECONDS``. With ``compound=False`` a
reader opens a segment's column files (stored fields, lengths, facets, sort keys) only
when it first needs them, so a merge in another process that deleted the merged-away
segments' files at once could pull them from under a searcher opened a moment before
(whoosh then fails inside ``stored_fields`` with ``'NoneType' object is not
subscriptable``). Writers from ``Store.writer`` therefore only *retire* such files:
``retired.json`` in the generation records when each segment fell out of use, and a
later commit deletes the files of segments retired long ago - far longer than any
request holds a searcher (gunicorn stops one after 30 s; a held searcher is re-checked
before each reuse). Only
``optimise`` (account erasure: erased words must leave the disk now) deletes at once.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.index import TOC
from whoosh.reading import SegmentReader
from whoosh.searching import Searcher
from whoosh.writing import MERGE_SMALL, SegmentWriter

from .schema import META_ID, SCHEMA_VERSION, build_schema

INDEX_NAME = "MAIN"
RETIRE_SECONDS = 60.0
QUIET_NS = 20_000_000  # longer than the kernel's timestamp tick
RETIRED_FILE = "retired.json"
MERGE_AT_SEGMENTS = 8


class IndexUnavailable(Exception):
    """The index is missing, unreadable or of an older schema: it must be rebuilt."""


class Store:
    """One index root. Cheap to keep per process; safe to use from several threads."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._indexes: dict[str, Any] = {}

    # -- generations -------------------------------------------------------------

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_name(self) -> str | None:
        try:
            name = self.pointer.read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return name if name.startswith("gen-") and "/" not in name else None

    def generations(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name.startswith("gen-"))

    def new_generation(self):
        """A new empty index directory, not yet in use. Returns (name, whoosh index)."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.time_ns()}-{os.getpid()}"
        path = self.root / name
        path.mkdir()
        ix = whoosh_index.create_in(str(path), build_schema(), indexname=INDEX_NAME)
        return name, ix

    def publish(self, name: str) -> None:
        """Point CURRENT at a generation: atomic, and durable before it returns."""
        tmp = self.root / f".CURRENT.{os.getpid()}.{threading.get_ident()}"
        with open(tmp, "w") as fh:
            fh.write(name)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.pointer)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove_stale(self, keep: set[str]) -> None:
        """Delete generations other than the current one and ``keep`` (caller holds
        the rebuild lock, so no other process is filling one of them)."""
        current = self.current_name()
        for name in self.generations():
            if name != current and name not in keep:
                shutil.rmtree(self.root / name, ignore_errors=True)
                self._indexes.pop(name, None)

    # -- opening -----------------------------------------------------------------

    def open_index(self, name: str | None = None):
        """The whoosh index of a generation (the current one by default).

        Raises IndexUnavailable when there is none or it cannot be opened.
        """
        name = name or self.current_name()
        if not name:
            raise IndexUnavailable("no search index yet")
        with self._lock:
            ix = self._indexes.get(name)
            if ix is None:
                try:
                    ix = whoosh_index.open_dir(str(self.root / name), indexname=INDEX_NAME)
                except Exception as exc:  # missing files, bad TOC, unpickling errors
                    raise IndexUnavailable(f"cannot open the search index: {exc!r}") from exc
                self._indexes[name] = ix
            return ix

    def searcher(self) -> Searcher:
        """This thread's searcher on the current generation, reopened when it changed."""
        name = self.current_name()
        held = getattr(self._local, "held", None)
        # Looked at before anything is read, so the searcher is at least this recent.
        mtime, quiet = self._quiet_mtime(name)
        try:
            if held is not None and held[0] == name and self._unchanged(held, mtime):
                searcher = held[1]
            else:
                # Not Searcher.refresh(): whoosh 2.7 reuses segment readers there and
                # misses deletions committed to an old segment (an updated document
                # would show twice). A fresh searcher costs ~1 ms with compound=False.
                if held is not None:
                    _close_quietly(held[1])
                searcher = self.open_index(name).searcher()
        except IndexUnavailable:
            self._local.held = None
            raise
        except Exception as exc:
            self._local.held = None
            self._indexes.pop(name or "", None)
            raise IndexUnavailable(f"cannot read the search index: {exc!r}") from exc
        self._local.held = (name, searcher, mtime, quiet)
        return searcher

    def _quiet_mtime(self, name: str | None) -> tuple[int, bool]:
        """(the generation directory's mtime, whether it had been still for a while)."""
        try:
            mtime = os.stat(self.root / (name or "")).st_mtime_ns
        except OSError:
            return 0, False
        return mtime, time.time_ns() - mtime > QUIET_NS

    @staticmethod
    def _unchanged(held: tuple, mtime: int) -> bool:
        """Every commit adds a TOC file to the directory, so a directory mtime equal to
        the one seen (already old then) when the held searcher was checked means no
        commit since: one stat instead of whoosh's listing of a directory that also holds
        every retired file."""
        if held[3] and mtime == held[2]:
            return True
        return held[1].up_to_date()

    def close(self) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:
            _close_quietly(held[1])
        self._local.held = None

    def writer(
        self, name: str | None = None, timeout: float = 5.0, retire: bool = True
    ) -> SegmentWriter:
        """A writer that waits up to ``timeout`` s for the lock (raises LockError after).

        With ``retire`` (the default) files of segments its commit drops are deleted only
        ``RETIRE_SECONDS`` later; without, at once (whoosh's own behaviour).
        """
        ix = self.open_index(name)
        cls = RetiringWriter if retire else SegmentWriter
        return cls(ix, timeout=timeout, delay=0.05, compound=False)


class RetiringWriter(SegmentWriter):
    """A whoosh writer whose commit retires dropped segment files instead of deleting
    them (see the module docstring)."""

    def _commit_toc(self, segments):
        toc = TOC(self.schema, segments, self.generation)
        toc.write(self.storage, self.indexname)
        retire_files(self.storage, self.indexname, self.generation, segments)


def retire_files(storage, indexname: str, gen: int, segments, now: float | None = None) -> None:
    """Like whoosh's ``clean_files`` (older TOCs go at once: readers never reopen them),
    but a dropped segment's files are deleted only ``RETIRE_SECONDS`` after the commit
    that dropped it. Called by the writer holding the lock, so nobody else edits the
    record meanwhile."""
    now = time.time() if now is None else now
    folder = Path(storage.folder)
    record_path = folder / RETIRED_FILE
    try:
        retired = {str(k): float(v) for k, v in json.loads(record_path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        retired = {}
    current = {s.segment_id() for s in segments}
    tocpattern = TOC._pattern(indexname)
    segpattern = TOC._segment_pattern(indexname)
    still: dict[str, float] = {}
    for filename in list(storage):
        if filename.startswith("."):
            continue
        tocm = tocpattern.match(filename)
        segm = segpattern.match(filename)
        if tocm:
            if int(tocm.group(1)) != gen:
                _delete_quietly(storage, filename)
        elif segm and segm.group(1) not in current:
            seg = segm.group(1)
            since = retired.get(seg, now)
            if now - since >= RETIRE_SECONDS:
                _delete_quietly(storage, filename)
            else:
                still[seg] = since
    if still != retired:
        tmp = folder / f".{RETIRED_FILE}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps(still))
        os.replace(tmp, record_path)


def _delete_quietly(storage, filename: str) -> None:
    try:
        storage.delete_file(filename)
    except OSError:
        pass


def merge_policy(writer, segments):
    """Drop segments whose documents were all deleted (updates of a busy thread leave
    many behind; dropping costs nothing), then merge small ones with whoosh's
    ``MERGE_SMALL`` only once ``MERGE_AT_SEGMENTS`` pile up. Merging rereads every term
    of the merged segments, so it runs every few commits at most, never on each."""
    live = [s for s in segments if s.doc_count() > 0]
    if len(live) + 1 < MERGE_AT_SEGMENTS:  # + 1: the segment this commit writes
        return live
    kept = MERGE_SMALL(writer, live)
    if len(kept) + 1 < 2 * MERGE_AT_SEGMENTS:
        return kept
    # Sizes MERGE_SMALL leaves alone kept piling up: merge the smaller half.
    by_size = sorted(kept, key=lambda s: s.doc_count_all())
    half = len(by_size) // 2
    for seg in by_size[:half]:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    return by_size[half:]


def read_meta(searcher: Searcher) -> dict[str, Any]:
    """The meta document's content: ``applied`` (last change id), ``gaps``, ``schema``."""
    doc = searcher.document(id=META_ID)
    if not doc or "meta" not in doc:
        raise IndexUnavailable("the search index has no meta document")
    meta = json.loads(doc["meta"])
    meta.setdefault("gaps", {})
    return meta


def check_schema(meta: dict[str, Any]) -> None:
    if meta.get("schema") != SCHEMA_VERSION:
        raise IndexUnavailable(
            f"index schema {meta.get('schema')!r} is not {SCHEMA_VERSION!r}: rebuild needed"
        )


def _close_quietly(searcher: Searcher) -> None:
    try:
        searcher.close()
    except Exception:  # noqa: S110 - a searcher on deleted files may fail to close
        pass


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def remove_abandoned(root: Path, prefix: str) -> None:
    """Folders ``<prefix>-<pid>-...`` under ``root`` left by a process that is gone (a
    snapshot's staging, an import's segments built ahead: killed before they finished)."""
    for path in root.glob(f"{prefix}-*"):
        try:
            pid = int(path.name[len(prefix) + 1 :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def store_for(root: str | os.PathLike) -> Store:
    """The process-wide Store of an index root."""
    key = os.path.abspath(root)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store(key)
        return store
