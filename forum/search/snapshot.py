"""Index snapshots: a new app server starts from a copy of a peer's index, then follows.

A snapshot is one uncompressed ``.tar`` file (stdlib ``tarfile``, so it can be copied
with ``scp``) holding ``manifest.json`` first, then the files of one index generation as
they stood at one whoosh commit: that commit's TOC, the files of its segments and their
postings packs, and the generation's thread vectors (``vectors/``) when it has them.

``create`` takes the generation's whoosh write lock (``MAIN_WRITELOCK``: every commit,
merge and vector write holds it) only long enough to read the TOC, the meta document
(``applied``: the change id the copy is complete up to) and to hard-link those files into a
staging folder in the index root; whoosh never rewrites a segment file, and packs and
vectors are replaced by rename, so the links are a consistent copy while the applier goes
on. Hashing and writing the tar happen after the lock is released. The snapshot also
records a stand-in replica position (``snapshot-<token>``), so the change record after
``applied`` is kept for ``SEARCH_REPLICA_LIVE_SECONDS`` (an hour) while the file travels.

``restore`` refuses - raising ``SnapshotRefused``, installing nothing - unless the format
and the schema/analysis version (``SCHEMA_VERSION``) are this code's, every file is listed
with the right size and sha256, nothing else is in the tar, the changes after ``applied``
are still in the database, and the extracted index opens with that same ``applied``. It
extracts into a fresh, unpublished generation under the rebuild lock and publishes it
with the same atomic switch as a rebuild; the node's position is then the snapshot's and
the change applier takes the rest in its bounded, committed batches.

Manifest (``FORMAT``)::

    {"format": "forum-search-snapshot-1", "schema": SCHEMA_VERSION, "applied": 5120,
     "gaps": 0, "generation": "gen-...", "toc_generation": 41, "created": "...Z",
     "source_replica": "...", "holds_position": "snapshot-...", "semantic_model": null,
     "files": [{"path": "MAIN_xyz.trm", "size": 123, "sha256": "..."}, ...]}
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete

from ..extensions import db
from . import replica, semantic, snapshot_files
from .changes import _session, apply_pending, latest_change_id, store
from .index import (
    INDEX_NAME,
    IndexUnavailable,
    Store,
    check_schema,
    read_meta,
    remove_abandoned,
)
from .rebuild import RebuildLock, _recent_generations, _remove_unpublished, index_ok
from .schema import SCHEMA_VERSION
from .semantic.store import DIR as VECTORS_DIR
from .snapshot_files import FORMAT, SnapshotRefused

log = logging.getLogger(__name__)

# -- creating ------------------------------------------------------------------------------


def create(dest: str | os.PathLike, lock_timeout: float = 60.0) -> dict[str, Any]:
    """Write a snapshot of the index in use to ``dest`` (replaced atomically); returns
    its manifest. Raises SnapshotRefused when there is no usable index here."""
    try:
        apply_pending(timeout=30)  # the copy is as fresh as this node can make it
    except IndexUnavailable as exc:
        raise SnapshotRefused(f"this server has no usable search index: {exc}") from exc
    st = store()
    remove_abandoned(st.root, ".snapshot")
    staging = st.root / f".snapshot-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        try:
            meta, name, toc_gen = _stage(st, staging, lock_timeout)
        except IndexUnavailable as exc:
            raise SnapshotRefused(f"this server has no usable search index: {exc}") from exc
        files = [
            snapshot_files.describe(staging, rel) for rel in snapshot_files.staged_files(staging)
        ]
        holder = f"snapshot-{secrets.token_hex(6)}"
        position = replica.safe_position(int(meta.get("applied", 0)), meta.get("gaps", {}))
        with db.engine.begin() as conn:
            replica.record_position(conn, holder, position)
        manifest = {
            "format": FORMAT,
            "schema": SCHEMA_VERSION,
            "applied": int(meta.get("applied", 0)),
            "gaps": len(meta.get("gaps", {})),
            "generation": name,
            "toc_generation": toc_gen,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source_replica": replica.replica_id(current_app),
            "holds_position": holder,
            "semantic_model": snapshot_files.vectors_model(staging),
            "files": files,
        }
        snapshot_files.write_tar(Path(dest), staging, manifest)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(st: Store, staging: Path, lock_timeout: float) -> tuple[dict, str, int]:
    """Hard-link one commit's files into ``staging`` under the write lock; returns (meta,
    generation name, TOC generation). Retried when a rebuild removed the generation."""
    for _attempt in range(3):
        name = st.current_name()
        if not name:
            raise SnapshotRefused("this server has no search index yet")
        ix = st.open_index(name)
        lock = ix.lock("WRITELOCK")
        try:
            got = _acquire(lock, lock_timeout)
        except FileNotFoundError:
            continue  # a rebuild published another generation and removed this one
        if not got:
            raise SnapshotRefused(f"the index stayed busy (write lock) for {lock_timeout:.0f} s")
        try:
            toc_gen = ix.latest_generation()
            segments = {s.segment_id() for s in ix._segments()}
            searcher = ix.searcher()
            try:
                meta = read_meta(searcher)
            finally:
                searcher.close()
            check_schema(meta)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            _link_generation(st.root / name, staging, toc_gen, segments)
            return meta, name, toc_gen
        except FileNotFoundError:
            continue  # a rebuild published another generation and removed this one
        finally:
            lock.release()
    raise SnapshotRefused("the index kept changing generation: try again")


def _acquire(lock, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not lock.acquire(blocking=False):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _link_generation(folder: Path, staging: Path, toc_gen: int, segments: set[str]) -> None:
    """The TOC of ``toc_gen``, every file of its segments (packs included) and the vectors
    in use. Retired segments, locks and temporary files are left out."""
    from whoosh.index import TOC

    segpattern = TOC._segment_pattern(INDEX_NAME)
    toc = f"_{INDEX_NAME}_{toc_gen}.toc"
    for entry in os.scandir(folder):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        seg = segpattern.match(entry.name)
        if entry.name == toc or (seg and seg.group(1) in segments):
            snapshot_files.link(Path(entry.path), staging / entry.name)
    vectors = folder / VECTORS_DIR
    if not vectors.is_dir():
        return
    (staging / VECTORS_DIR).mkdir()
    for fname in ("META.json", "BASE", "delta.npz", "INCOMPLETE", "pending.npy"):
        if (vectors / fname).is_file():
            snapshot_files.link(vectors / fname, staging / VECTORS_DIR / fname)
    staged_base = staging / VECTORS_DIR / "BASE"
    base = staged_base.read_text().strip() if staged_base.is_file() else ""
    if base.startswith("base-") and "/" not in base and (vectors / base).is_dir():
        (staging / VECTORS_DIR / base).mkdir()
        for entry in os.scandir(vectors / base):
            if entry.is_file() and not entry.name.startswith("."):
                snapshot_files.link(Path(entry.path), staging / VECTORS_DIR / base / entry.name)


# -- restoring -----------------------------------------------------------------------------


def restore(
    src: str | os.PathLike, lock_timeout: float = 60.0, only_if_broken: bool = False
) -> dict[str, Any] | None:
    """Install the snapshot ``src`` as this server's index generation (see the module
    docstring); returns its manifest (None when ``only_if_broken`` and the index was
    fine once the lock was ours). Raises SnapshotRefused, leaving the index in use
    untouched, on any mismatch or damage. Pending changes are left to the applier."""
    st = store()
    try:
        tar = tarfile.open(src, "r:")
    except (OSError, tarfile.TarError) as exc:
        raise SnapshotRefused(f"{src}: not a readable snapshot ({exc})") from exc
    with tar:
        manifest = snapshot_files.read_manifest(tar)
        _check_model(manifest)
        _check_database(manifest)
        lock = RebuildLock(st)
        if not lock.acquire(lock_timeout):
            raise SnapshotRefused("another rebuild or restore is running on this server")
        try:
            if only_if_broken and index_ok():
                return None
            _remove_unpublished(st)
            name = f"gen-{time.time_ns()}-{os.getpid()}"
            folder = st.root / name
            folder.mkdir()
            try:
                snapshot_files.extract(tar, manifest, folder)
                meta = _check_extracted(st, name, manifest)
            except BaseException:
                st._indexes.pop(name, None)
                shutil.rmtree(folder, ignore_errors=True)
                raise
            snapshot_files.fsync_dir(folder)
            st.publish(name)
            st.remove_stale(keep={name, *_recent_generations(st)})
        finally:
            lock.release()
    _take_over_position(manifest, meta)
    return manifest


def _check_model(manifest: dict) -> None:
    """A server with a semantic model needs the snapshot's vectors to come from it."""
    try:
        model = semantic.current_model()
    except semantic.ModelUnavailable:
        return  # lexical search only: vectors in the snapshot are ignored
    if manifest.get("semantic_model") != model.id:
        raise SnapshotRefused(
            f"the snapshot's thread vectors come from model {manifest.get('semantic_model')!r},"
            f" this server uses {model.id!r}: run flask forum reindex instead"
        )


def _check_database(manifest: dict) -> None:
    """The snapshot must be from this database and its follow-up still recorded."""
    applied = int(manifest["applied"])
    newest = latest_change_id()
    if applied > newest:
        raise SnapshotRefused(
            f"the snapshot applied change {applied} but this database's newest change is "
            f"{newest}: it was made from another database"
        )
    with _session() as session:
        try:
            replica.check_not_pruned(session, applied)
        except IndexUnavailable as exc:
            raise SnapshotRefused(
                f"the snapshot is too old: {exc}; make a fresh one (or run flask forum reindex)"
            ) from exc


def _check_extracted(st: Store, name: str, manifest: dict) -> dict:
    try:
        searcher = st.open_index(name).searcher()
        try:
            meta = read_meta(searcher)
        finally:
            searcher.close()
        check_schema(meta)
    except Exception as exc:
        raise SnapshotRefused(f"the restored index does not open: {exc}") from exc
    if int(meta.get("applied", 0)) != int(manifest["applied"]):
        raise SnapshotRefused(
            f"the index applied change {meta.get('applied')}, the manifest says "
            f"{manifest['applied']}"
        )
    return meta


def _take_over_position(manifest: dict, meta: dict) -> None:
    """This replica's position is the snapshot's; the stand-in that kept the change
    record for the journey is no longer needed."""
    position = replica.safe_position(int(meta.get("applied", 0)), meta.get("gaps", {}))
    table = replica.ReplicaPosition.__table__
    with db.engine.begin() as conn:
        replica.record_position(conn, replica.replica_id(current_app), position)
        holder = manifest.get("holds_position")
        if isinstance(holder, str) and holder.startswith("snapshot-"):
            conn.execute(delete(table).where(table.c.replica_id == holder))


def restore_configured(app, lock_timeout: float = 60.0) -> bool:
    """Start-up: when ``SEARCH_SNAPSHOT`` names a file and the index is missing or
    unusable, restore from it. True when the index is usable afterwards through it;
    False (logged) when there is none configured or it was refused: then rebuild."""
    path = app.config.get("SEARCH_SNAPSHOT")
    if not path:
        return False
    try:
        manifest = restore(path, lock_timeout=lock_timeout, only_if_broken=True)
    except SnapshotRefused as exc:
        if index_ok():
            return True  # another worker restored it meanwhile
        log.warning("search snapshot %s not used (%s): rebuilding from the database", path, exc)
        return False
    if manifest is None:
        return True  # another process restored or rebuilt it meanwhile
    log.info("search index restored from %s (complete up to change %s)", path, manifest["applied"])
    return True
