"""A new node starts from a peer's index snapshot, then follows (issue 16, "nodes that
catch up gracefully"): node A writes a checksummed snapshot, more threads are posted on
A, node B (its own instance folder, the same database) restores it and, once caught up,
finds old and new threads while check-index agrees. A damaged, cut-short or foreign
snapshot is refused and B's index stays exactly as it was."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from forum import create_app
from forum.extensions import db
from forum.search import apply_now, changes
from forum.search.index import IndexUnavailable
from forum.search.replica import ReplicaPosition
from tests import factories as f
from tests.integration.test_search_faults import config, titles


def node(app, tmp_path: Path, name: str, **extra):
    """Another app server: its own instance folder and index, node A's database."""
    return create_app(
        config(
            str(tmp_path / name),
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            **extra,
        )
    )


def cli(other, *args: str):
    """``flask forum ...`` on ``other`` (its own context: A's is pushed by the fixture)."""
    with other.app_context():
        return other.test_cli_runner().invoke(args=["forum", *args])


def close(other) -> None:
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def refused_restore(other, tar) -> str:
    """``search-snapshot restore`` on ``other`` fails and leaves its index as it was;
    returns what the command said."""
    with other.app_context():
        # A new node may still be applying the changes it found at start in its applier
        # thread: let that write finish, so "as it was" compares settled indexes.
        try:
            changes.apply_pending(timeout=10)
        except IndexUnavailable:
            pass  # no index at all yet: nothing is being written to it
    before = index_state(other)
    result = cli(other, "search-snapshot", "restore", str(tar))
    assert result.exit_code != 0
    assert index_state(other) == before
    return result.output


def index_state(other) -> tuple[str, list[str], dict[str, int]]:
    """(CURRENT, the generations, every file of the current one with its size)."""
    root = Path(other.config["SEARCH_INDEX_DIR"])
    if not (root / "CURRENT").exists():
        return "", sorted(p.name for p in root.glob("gen-*")), {}
    current = (root / "CURRENT").read_text()
    files = {
        str(p.relative_to(root)): p.stat().st_size
        for p in (root / current).rglob("*")
        if p.is_file()
    }
    return current, sorted(p.name for p in root.glob("gen-*")), files


def holders() -> list[str]:
    rows = db.session.scalars(select(ReplicaPosition.replica_id)).all()
    return [r for r in rows if r.startswith("snapshot-")]


@pytest.fixture
def snapshot_of_a(app, tmp_path):
    """Node A with three threads, a snapshot of its index, then two more threads."""
    author = f.user()
    for n in range(3):
        f.thread(author, title=f"Kestrel early {n}", body="Hair thinning on azathioprine.")
    apply_now()
    path = tmp_path / "a-snapshot.tar"
    result = cli(app, "search-snapshot", "create", str(path))
    assert result.exit_code == 0, result.output
    assert "complete up to change" in result.output
    for n in range(2):
        f.thread(author, title=f"Kestrel late {n}", body="Posted after the snapshot.")
    apply_now()
    return path


def test_manifest_lists_every_file_with_its_checksum(app, snapshot_of_a):
    with tarfile.open(snapshot_of_a) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert names[0] == "manifest.json"
    assert sorted(names[1:]) == sorted(item["path"] for item in manifest["files"])
    assert manifest["format"] == "forum-search-snapshot-1"
    assert any(name.endswith(".toc") for name in names)
    assert all(len(item["sha256"]) == 64 and item["size"] >= 0 for item in manifest["files"])
    assert manifest["applied"] < changes.latest_change_id()  # the late threads came after
    assert holders() == [manifest["holds_position"]]  # the record is kept for the journey


def test_new_node_restores_a_snapshot_and_catches_up(app, tmp_path, snapshot_of_a):
    # As on a large forum, B begins rebuilding in the background at start: the restore
    # stops that rebuild and takes its place.
    b = node(app, tmp_path, "b", SEARCH_SYNC_BUILD_MAX=0)
    try:
        before = index_state(b)[0]
        result = cli(b, "search-snapshot", "restore", str(snapshot_of_a))
        assert result.exit_code == 0, result.output
        assert "the index is ready" in result.output
        assert index_state(b)[0] != before
        with b.app_context():
            assert holders() == []  # B's own position replaces the snapshot's stand-in
        found = titles(b.test_client(), "kestrel")
        assert found == {f"Kestrel early {n}" for n in range(3)} | {
            f"Kestrel late {n}" for n in range(2)
        }
        check = cli(b, "check-index")
        assert check.exit_code == 0, check.output
    finally:
        close(b)


def test_first_start_restores_from_the_configured_snapshot(app, tmp_path, snapshot_of_a):
    b = node(app, tmp_path, "b", SEARCH_SNAPSHOT=str(snapshot_of_a))
    try:
        with b.app_context():
            assert holders() == []  # restored, not rebuilt
        assert titles(b.test_client(), "late") == {"Kestrel late 0", "Kestrel late 1"}
        check = cli(b, "check-index")
        assert check.exit_code == 0, check.output
    finally:
        close(b)


def _flip_a_byte(src: Path, dest: Path) -> None:
    data = bytearray(src.read_bytes())
    with tarfile.open(src) as tar:
        member = max(tar.getmembers()[1:], key=lambda m: m.size)
    data[member.offset_data + member.size // 2] ^= 0x01
    dest.write_bytes(bytes(data))


def _cut_short(src: Path, dest: Path) -> None:
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) * 2 // 3])


def _other_schema(src: Path, dest: Path) -> None:
    _rewrite(src, dest, lambda m: {**m, "schema": "forum-search-9-0123456789"})


def _extra_member(src: Path, dest: Path) -> None:
    _rewrite(src, dest, lambda m: m, extra=("../../escape.txt", b"outside"))


def _rewrite(src: Path, dest: Path, change, extra=None) -> None:
    with tarfile.open(src) as old, tarfile.open(dest, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()
            if member.name == "manifest.json":
                data = json.dumps(change(json.loads(data))).encode()
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
        if extra:
            info = tarfile.TarInfo(extra[0])
            info.size = len(extra[1])
            new.addfile(info, io.BytesIO(extra[1]))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_flip_a_byte, "checksum mismatch"),
        (_cut_short, "cut short"),
        (_other_schema, "index schema"),
        (_extra_member, "unexpected member"),
    ],
)
def test_a_bad_snapshot_is_refused_and_the_index_untouched(
    app, tmp_path, snapshot_of_a, damage, message
):
    bad = tmp_path / "bad.tar"
    damage(snapshot_of_a, bad)
    b = node(app, tmp_path, "b")
    try:
        output = refused_restore(b, bad)
        assert "snapshot refused, nothing installed" in output
        assert message in output
        assert not (tmp_path / "escape.txt").exists()
        assert titles(b.test_client(), "kestrel")  # B still searches with its own index
        # At start-up a refused snapshot falls back to the index (or a rebuild).
        c = node(app, tmp_path, "c", SEARCH_SNAPSHOT=str(bad))
        try:
            assert len(titles(c.test_client(), "kestrel")) == 5
        finally:
            close(c)
    finally:
        close(b)


def test_a_snapshot_from_another_database_is_refused(app, tmp_path, snapshot_of_a):
    other = create_app(config(str(tmp_path / "other")))  # its own SQLite database
    try:
        output = refused_restore(other, snapshot_of_a)
        assert "another database" in output or "newest change" in output
    finally:
        close(other)
    assert os.path.exists(snapshot_of_a)


def test_a_snapshot_whose_follow_up_was_pruned_is_refused(app, tmp_path, snapshot_of_a):
    pruned = cli(app, "prune-changes", "--max-age", "0")  # whatever the snapshot holds
    assert pruned.exit_code == 0, pruned.output
    b = node(app, tmp_path, "b")
    try:
        assert "too old" in refused_restore(b, snapshot_of_a)
    finally:
        close(b)
