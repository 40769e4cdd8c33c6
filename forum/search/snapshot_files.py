"""The snapshot file: one uncompressed tar, ``manifest.json`` first (format, schema, the
change id it is complete up to, every file with its size and sha256), then the files of
one index generation. Writing, reading and checking it, with no knowledge of the index or
the database; ``snapshot`` takes and installs generations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from .schema import SCHEMA_VERSION
from .semantic.store import DIR as VECTORS_DIR

FORMAT = "forum-search-snapshot-1"
MANIFEST = "manifest.json"
CHUNK = 1 << 20


class SnapshotRefused(Exception):
    """The snapshot cannot be used here (the message says why); nothing was installed."""


def link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        shutil.copy2(src, dst)  # a filesystem without hard links


def staged_files(staging: Path) -> list[str]:
    return sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())


def describe(staging: Path, rel: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(staging / rel, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"path": rel, "size": size, "sha256": digest.hexdigest()}


def vectors_model(staging: Path) -> str | None:
    try:
        return json.loads((staging / VECTORS_DIR / "META.json").read_text()).get("model")
    except (OSError, ValueError, AttributeError):
        return None


def write_tar(dest: Path, staging: Path, manifest: dict) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            for item in manifest["files"]:
                tar.add(staging / item["path"], arcname=item["path"], recursive=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isfile():
            raise SnapshotRefused(f"the tar does not start with {MANIFEST}: not a snapshot")
        manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise SnapshotRefused(f"the manifest cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotRefused(
            f"snapshot format {manifest.get('format') if isinstance(manifest, dict) else None!r}"
            f" is not {FORMAT!r}"
        )
    if manifest.get("schema") != SCHEMA_VERSION:
        raise SnapshotRefused(
            f"the snapshot's index schema {manifest.get('schema')!r} is not this code's "
            f"{SCHEMA_VERSION!r}: make a snapshot on a server running this version, or "
            "run flask forum reindex"
        )
    files = manifest.get("files")
    if not isinstance(files, list) or not files or not isinstance(manifest.get("applied"), int):
        raise SnapshotRefused("the manifest has no file list or no applied change id")
    return manifest


def safe_path(rel: object) -> bool:
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel:
        return False
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return False
    return len(parts) == 1 or (parts[0] == VECTORS_DIR and len(parts) <= 3)


def extract(tar: tarfile.TarFile, manifest: dict, folder: Path) -> None:
    """Stream every member into ``folder``, checking it against the manifest."""
    wanted: dict[str, dict] = {}
    for item in manifest["files"]:
        if not isinstance(item, dict) or not safe_path(item.get("path")):
            raise SnapshotRefused(f"the manifest names an unsafe path: {item!r}")
        wanted[item["path"]] = item
    seen: set[str] = set()
    try:
        while (member := tar.next()) is not None:  # after the manifest, in order
            item = wanted.get(member.name)
            if item is None or member.name in seen or not member.isfile():
                raise SnapshotRefused(f"unexpected member in the snapshot: {member.name!r}")
            seen.add(member.name)
            extract_one(tar, member, item, folder / member.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SnapshotRefused(f"the snapshot is damaged or cut short: {exc}") from exc
    missing = sorted(set(wanted) - seen)
    if missing:
        raise SnapshotRefused(
            f"the snapshot is cut short: {len(missing)} file(s) missing, first {missing[0]}"
        )


def extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, item: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    source = tar.extractfile(member)
    with open(path, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size != item.get("size") or digest.hexdigest() != item.get("sha256"):
        raise SnapshotRefused(
            f"checksum mismatch for {member.name}: the snapshot is damaged "
            f"({size} bytes, expected {item.get('size')})"
        )


def fsync_dir(folder: Path) -> None:
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
