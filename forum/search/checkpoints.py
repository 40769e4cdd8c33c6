"""An import's index work beside the import: its checkpoints built in a forked process.

At an import checkpoint the imported rows are committed and their changes recorded, so
the index may take them a little later. ``beside`` forks one process (at most one per
import process) that applies what is pending with the fast segment builder in one
process (``changes.apply_bulk_commit``: new segments and the applied id in one index
commit, as the foreground does), commit after commit, until told to stop (or idle for
``IDLE_EXIT`` seconds); meanwhile the import goes on parsing and storing the next
batches on the other core. A checkpoint that finds that process still working starts
nothing and waits for nothing: its rows stay pending for it. At the import's end
``catch_up`` stops and waits for the process, then applies the rest in the foreground
(in the builder's worker processes when that is large), so the import still returns
with an index that agrees with the database.

Safety is the change record's: the process commits each segment with its applied id in
one whoosh commit, so when it fails or is killed (it dies with the import:
``PR_SET_PDEATHSIG``) its rows are still pending and the final apply, the applier or a
reindex takes them; an index that disagrees is never left silently. The process gets
its own database connections (the engine's pool is disposed in it, the parent's
connections left alone), on SQLite (WAL: it reads while the import writes) and
PostgreSQL alike. Forked from a process whose other threads may be inside the database
library, it could wait for ever on a lock it inherited: it marks a shared clock once
connected and after each commit, and ``catch_up`` kills it when it was not connected
within ``SEARCH_WORKER_READY_S`` or silent for ``SEARCH_WORKER_STALL_S`` (``build``'s
limits); its rows are then applied here. ``SEARCH_IMPORT_BESIDE = False`` keeps every
checkpoint in the foreground, as before. Thread vectors (the semantic model) are never
computed here: the checkpoints record them as pending (``semantic.write(defer=True)``)
and the forum's appliers embed them afterwards (``semantic.embed_pending``).

Why: on two cores the import stored threads at ~1 ms of CPU each and waited at each
checkpoint while the segment was built (~4-5 ms a thread); now the two overlap.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, current_app

from ..extensions import db
from . import ahead, analysis, build, changes

log = logging.getLogger(__name__)

FIRST_COMMIT = 250  # change rows in the process's first index commit
IDLE = 0.2  # seconds between looks at the change record when nothing was pending
SETTLE = 0.5  # seconds to let rows pile up after a commit that caught up
IDLE_EXIT = 10.0  # seconds with nothing pending after which the process ends by itself
UNKNOWN = -1  # the process's claim while it reads the rows of its next commit
CLAIM_WAIT = 2.0  # seconds catch_up waits to learn the process's claim
_lock = threading.Lock()
# "beside": (the forked process, its stop event, its clock, its claim: the change id its
# commit in progress applies up to, UNKNOWN while it reads them)
_running: dict[str, tuple] = {}


def enabled() -> bool:
    """``SEARCH_IMPORT_BESIDE`` (default on). With a semantic model too: the checkpoints
    record the threads' vectors as pending rather than embedding them (onnxruntime is not
    safe to use in a forked process, and the process never loads it)."""
    return bool(current_app.config.get("SEARCH_IMPORT_BESIDE", True))


def beside(app: Flask) -> bool:
    """Start the process that applies the pending changes while the import goes on,
    unless it is running. Returns True when one was started."""
    import multiprocessing

    with _lock:
        if "beside" in _running:
            proc = _running["beside"][0]
            if proc.is_alive():
                return False
            _reap(proc)
        ctx = multiprocessing.get_context("fork")
        analysis.prepare()  # inherited by this process and the import's later workers
        stop = ctx.Event()
        clock = ctx.Value("d", 0.0)  # time.monotonic() of its last sign of life; 0: none yet
        claim = ctx.Value("q", UNKNOWN)
        proc = ctx.Process(
            target=_apply_beside,
            args=(app, os.getpid(), stop, clock, claim),
            name="search-import",
            daemon=True,
        )
        proc.start()
        _running["beside"] = (proc, stop, clock, claim)
        return True


def catch_up(limit: int, timeout: float = 60.0) -> int:
    """Stop the process (it finishes the commit it is building) and wait for it, then
    apply what is still pending in the foreground; returns the rows applied here.

    While the process finishes its commit, the rows after it are built here already
    (``ahead.prebuild``: segments in a folder of their own, without the write lock),
    so neither core waits for the other; the final commit installs them."""
    prebuilt = None
    with _lock:
        if "beside" in _running:
            proc, stop, clock, claim = _running.pop("beside")
            with claim.get_lock():  # the process starts no commit after this
                stop.set()
            after = _claim_of(proc, claim)
            if after is not None:
                try:
                    prebuilt = ahead.prebuild(after, limit)
                except Exception:
                    log.exception("building the import's last rows ahead failed")
            ready_s, stall_s = build._limits()
            started = time.monotonic()
            while proc.is_alive():
                proc.join(1.0)
                now, last = time.monotonic(), clock.value
                if (not last and now - started > ready_s) or (last and now - last > stall_s):
                    log.error("search import process %s stuck: stopped", proc.name)
                    proc.kill()
            _reap(proc)
        return changes.apply_pending_bulk(limit, timeout=timeout, prebuilt=prebuilt)


def _claim_of(proc, claim) -> int | None:
    """The change id the process's last commit applies up to, once it is known; None
    when the process has ended (nothing to overlap) or does not say in time."""
    deadline = time.monotonic() + CLAIM_WAIT
    while proc.is_alive() and time.monotonic() < deadline:
        value = claim.value
        if value != UNKNOWN:
            return value
        time.sleep(0.005)
    return None


def _reap(proc) -> None:
    proc.join()
    _running.pop("beside", None)
    if proc.exitcode != 0:  # its rows are still pending: the next apply takes them
        log.error("search import process %s ended with exit code %s", proc.name, proc.exitcode)


def _apply_beside(app: Flask, parent: int, stop, clock, claim) -> None:
    """In the forked process: commit after commit of pending rows until told to stop;
    each commit takes up to half as many again as were applied before (250, 250, 250,
    375, ...), so a long import gets a few segments of growing size and the last one is
    not long to wait for at the import's end."""
    build._die_with_parent(parent)
    db.engine.dispose(close=False)  # the parent's pooled connections stay its own
    with app.app_context():
        _connected(clock)
        applied, step, idle = 0, FIRST_COMMIT, 0.0

        def claimed(up_to: int) -> None:
            claim.value = up_to

        while os.getppid() == parent and idle < IDLE_EXIT:
            with claim.get_lock():
                if stop.is_set():
                    break
                claim.value = UNKNOWN
            # procs=1: the import uses the other core
            done = changes.apply_bulk_commit(step, timeout=1.0, procs=1, claimed=claimed)
            clock.value = time.monotonic()
            applied += done
            idle = idle + IDLE if done == 0 else 0.0
            if done < step:
                stop.wait(IDLE if done == 0 else SETTLE)
            step = max(step, applied // 2)


def _connected(clock) -> None:
    """Connect to the database once, then mark the clock: a process stuck on a lock
    inherited at the fork never does."""
    with db.engine.connect():
        pass
    clock.value = time.monotonic()
