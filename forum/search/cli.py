"""``flask forum reindex``, ``check-index``, ``optimise-index``, ``pack-index`` and
``search-snapshot create|restore``, ``embed-pending``."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app

from ..cli import forum_cli
from . import build, rebuild, semantic, snapshot
from .changes import apply_pending, latest_change_id, store


@forum_cli.command("reindex")
@click.option(
    "--procs",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Indexing processes [default: 2 on two cores or more, 1 for a small forum].",
)
def reindex(procs: int | None) -> None:
    """Rebuild the search index into a fresh directory and switch to it atomically.

    Searches keep using the old index meanwhile. Killed half-way, the old index stays
    in use and the next rebuild removes the unfinished directory.
    """
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label="Indexing threads")
            bar.__enter__()
        bar.update(done - bar.pos)

    app = current_app._get_current_object()
    if rebuild.rebuilding_here(app):
        # Opening the forum found the index missing or outdated and began rebuilding
        # it from the database already: a second rebuild would only repeat that one.
        click.echo("The index was missing or outdated, so a rebuild began at start; waiting...")
        started = time.perf_counter()
        rebuild.wait_for_rebuild(app, None)
        if rebuild.index_ok():
            took = time.perf_counter() - started
            click.echo(f"Search index rebuilt ({store().current_name()}) in {took:.0f} s.")
            return
    count = rebuild._visible_count()
    procs = build.procs_for(count, procs)
    plural = "process" if procs == 1 else "processes"
    click.echo(f"Rebuilding the search index ({count} threads, {procs} {plural})...")
    started = time.perf_counter()
    name = rebuild.rebuild(progress=progress, procs=procs)
    if bar is not None:
        bar.__exit__(None, None, None)
    click.echo(f"Search index rebuilt ({name}) in {time.perf_counter() - started:.0f} s.")


@forum_cli.command("check-index")
def check_index() -> None:
    """Compare the search index with the database; exit 1 on any difference."""
    problems = rebuild.check_index()
    for line in problems[:200]:
        click.echo(line)
    if len(problems) > 200:
        click.echo(f"... and {len(problems) - 200} more")
    if problems:
        click.echo(f"{len(problems)} difference(s) between the search index and the database.")
        raise SystemExit(1)
    click.echo("The search index matches the database.")


@forum_cli.command("embed-pending")
def embed_pending() -> None:
    """Compute now the semantic vectors an import left pending (a running forum does
    it in the background; until then those threads are found by their words only)."""
    st = store()
    name = st.current_name()
    if not name:
        click.echo("There is no search index yet.")
        return
    generation = st.root / name
    waiting = semantic.pending_count(generation)
    try:
        semantic.current_model()
    except semantic.ModelUnavailable as exc:
        click.echo(f"{waiting} threads wait for vectors, but there is no model: {exc}.")
        raise SystemExit(1 if waiting else 0) from None
    started = time.perf_counter()
    done = semantic.embed_all_pending(generation)
    left = semantic.pending_count(generation)
    took = time.perf_counter() - started
    click.echo(f"Embedded {done} threads in {took:.0f} s; {left} still waiting.")
    if left:  # another process is embedding them, or the write lock stayed busy
        raise SystemExit(1)


@forum_cli.command("optimise-index")
def optimise_index() -> None:
    """Merge the index into one segment so deleted text is gone from disk."""
    rebuild.optimise()
    click.echo("Search index optimised.")


@forum_cli.command("pack-index")
def pack_index() -> None:
    """Write the postings packs that segments of the index in use lack (an index built
    before packs existed); searches read long posting lists from them."""
    started = time.perf_counter()
    written = rebuild.write_missing_packs()
    took = time.perf_counter() - started
    click.echo(f"Wrote {written} postings pack(s) in {took:.0f} s.")


@forum_cli.group("search-snapshot")
def search_snapshot() -> None:
    """Start a new app server from a peer's search index (docs/deploy.md, "Adding a node")."""


@search_snapshot.command("create")
@click.argument("dest", type=click.Path(dir_okay=False, writable=True))
def snapshot_create(dest: str) -> None:
    """Write a checksummed copy of this server's search index to DEST (a .tar file)."""
    started = time.perf_counter()
    try:
        manifest = snapshot.create(dest)
    except snapshot.SnapshotRefused as exc:
        raise click.ClickException(str(exc)) from exc
    size = sum(f["size"] for f in manifest["files"])
    click.echo(
        f"Snapshot {dest}: {len(manifest['files'])} files, {size / 1e6:.1f} MB, complete up "
        f"to change {manifest['applied']}, in {time.perf_counter() - started:.1f} s."
    )


@search_snapshot.command("restore")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--catch-up/--no-catch-up",
    default=True,
    help="Apply the changes recorded since the snapshot now [default], in batches.",
)
def snapshot_restore(src: str, catch_up: bool) -> None:
    """Verify the snapshot SRC and install it as this server's search index; then apply
    the changes recorded since. Refused (exit 1, nothing installed) on any mismatch."""
    started = time.perf_counter()
    # Opening the forum may have begun rebuilding a missing index: the snapshot replaces it.
    rebuild.cancel_background_rebuild(current_app._get_current_object())
    try:
        manifest = snapshot.restore(src)
    except snapshot.SnapshotRefused as exc:
        raise click.ClickException(f"snapshot refused, nothing installed: {exc}") from exc
    restored = time.perf_counter() - started
    click.echo(
        f"Restored {store().current_name()} from {src} (complete up to change "
        f"{manifest['applied']}) in {restored:.1f} s."
    )
    if not catch_up:
        return
    behind = max(latest_change_id() - manifest["applied"], 0)
    applied = apply_pending(timeout=60)
    click.echo(
        f"Applied {applied} change(s) recorded since ({behind} behind) in "
        f"{time.perf_counter() - started - restored:.1f} s; the index is ready."
    )


def init_app(app: Flask) -> None:
    """The commands live on the shared ``forum`` group (registered by forum.cli)."""
