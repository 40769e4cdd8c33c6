"""Thread vectors as derived data: what the change applier, a rebuild, the embedder and
``check-index`` do with them (the query side is in ``__init__``).

A writer holding a generation's index write lock brings its vectors in line with the
threads it writes (``write``): embedded at once for a few threads, or recorded as
*pending* for an import's batch or a backlog, which ``embed_pending`` computes
afterwards (the appliers of serving processes, a chunk a round; ``flask forum
embed-pending``). A rebuild embeds every thread (``fill_ids``) or, for an import's or a
background rebuild, publishes them all pending (``defer_ids``). ``problems`` compares
them with the database, pending threads excepted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from flask import current_app
from sqlalchemy.orm import Session
from whoosh.filedb.filestore import FileStorage

from ...extensions import db
from ..documents import load_threads, question_text
from ..index import INDEX_NAME
from .model import Model, ModelUnavailable, model_dim_for, model_for, model_id_for
from .store import VectorStore, fingerprint

CHUNK = 256  # threads loaded from the database at a time


def thread_text(thread) -> str:
    """What a thread's vector is made from: its title and opening post."""
    return f"{thread.title}\n{question_text(thread)}".strip()


def current_model() -> Model:
    """The configured model (raises ModelUnavailable, with the reason)."""
    return model_for(current_app.config)


def current_model_dim() -> int:
    """The configured model's vector size (without loading the packaged model)."""
    return model_dim_for(current_app.config)


def current_model_id() -> str:
    """The configured model's id without loading it (raises ModelUnavailable)."""
    return model_id_for(current_app.config)


def prepare() -> None:
    """Load the model now (once per process) if there is one: callers do this before
    taking the index write lock, so no writer waits for a model to load."""
    try:
        current_model()
    except ModelUnavailable:
        pass


def write(
    generation: str | Path, visible: list, removed: Iterable[int], defer: bool = False
) -> None:
    """Bring the vectors of ``generation`` in line with these threads: called by the
    change applier while it holds that generation's write lock, before it commits.

    ``defer``: record the threads whose vector is missing or stale as *pending* instead
    of embedding them now (an import's batches, a backlog: ~25-45 ms of CPU a thread
    would otherwise hold the write lock and cap an import near 20 threads/s);
    ``embed_pending`` computes them afterwards, and searches meanwhile rank those
    threads lexically only. A deferring writer never loads the model (it needs only the
    model's id, from the file's checksum): it may run in a forked process."""
    vs = VectorStore(generation)
    removed = list(removed)
    try:
        model = None if defer else current_model()
        model_id = current_model_id() if defer else model.id
    except ModelUnavailable as exc:
        if visible or removed:
            vs.mark_incomplete(f"a change was applied without the model: {exc}")
        return
    if vs.meta() is None:
        if visible or removed:  # a generation built without the model: a rebuild fixes it
            vs.dir.mkdir(parents=True, exist_ok=True)
            if model is not None:
                vs.write_base(model.id, [], np.zeros((0, model.dim), np.float32), [])
            vs.mark_incomplete("the index was built without the model")
        return
    have = vs.fingerprints() or {}
    texts = {t.id: thread_text(t) for t in visible}
    fps = {i: fingerprint(model_id, text) for i, text in texts.items()}
    changed = [i for i in sorted(texts) if have.get(i) != fps[i]]
    gone = [i for i in removed if i in have]
    if changed and model is None:
        vs.update_pending(add=changed, discard=[*(i for i in texts if i not in changed), *removed])
    else:
        if changed:
            vecs = model.embed([texts[i] for i in changed])
            vs.put(model.id, changed, vecs, [fps[i] for i in changed])
        vs.update_pending(discard=[*texts, *removed])  # current now, or gone
    if gone:
        vs.remove(model_id, gone)


def defer(generation: str | Path, visible_ids: list[int], removed: Iterable[int]) -> None:
    """``write(defer=True)`` from ids alone (an import's fast path loads no rows): the
    visible threads become pending - ``embed_pending`` skips those whose vector is
    already of their text - and the vectors of ``removed`` go."""
    vs = VectorStore(generation)
    removed = list(removed)
    try:
        model_id = current_model_id()
    except ModelUnavailable as exc:
        if visible_ids or removed:
            vs.mark_incomplete(f"a change was applied without the model: {exc}")
        return
    if vs.meta() is None:
        if visible_ids or removed:  # a generation built without the model
            vs.dir.mkdir(parents=True, exist_ok=True)
            vs.mark_incomplete("the index was built without the model")
        return
    vs.update_pending(add=visible_ids, discard=removed)
    if removed:
        have = vs.fingerprints() or {}
        gone = [i for i in removed if i in have]
        if gone:
            vs.remove(model_id, gone)


def pending_count(generation: str | Path | None) -> int:
    """Threads of ``generation`` waiting for their vector (0 without vectors)."""
    return 0 if generation is None else len(VectorStore(generation).pending())


def embed_pending(generation: str | Path, limit: int = 64, lock_timeout: float = 5.0) -> int:
    """Compute up to ``limit`` of the pending vectors of ``generation``; returns how many
    threads left the pending list (embedded, or no longer visible). 0 when nothing is
    pending, there is no model, or another process is embedding them now.

    The threads are embedded without the index's write lock (a chunk takes seconds),
    then written while holding it briefly: a thread changed meanwhile (its text no
    longer the one embedded) stays pending for the next round."""
    vs = VectorStore(generation)
    if not len(vs.pending()):
        return 0
    try:
        model = current_model()
    except ModelUnavailable:
        return 0  # search is lexical; a rebuild with the model writes every vector
    with _exclusive(vs.dir / ".embedding.lock") as mine:
        if not mine:
            return 0
        ids = [int(i) for i in vs.pending()[: max(int(limit), 1)]]
        seen = _visible_texts(ids)
        have = vs.fingerprints() or {}
        # Marked pending by an import's fast path while its vector is already of this text:
        # nothing to embed.
        current = {i for i, t in seen.items() if have.get(i) == fingerprint(model.id, t)}
        texts = {i: t for i, t in seen.items() if i not in current}
        order = sorted(texts)
        vecs = model.embed([texts[i] for i in order]) if order else None
        lock = FileStorage(str(generation)).lock(f"{INDEX_NAME}_WRITELOCK")  # whoosh's
        deadline = time.monotonic() + lock_timeout
        while not lock.acquire(blocking=False):
            if time.monotonic() > deadline:
                return 0  # the applier is busy: the next round takes them
            time.sleep(0.05)
        try:
            now = _visible_texts(ids)  # what is committed now, under the write lock
            still = set(vs.pending().tolist())
            keep = [n for n, i in enumerate(order) if i in still and now.get(i) == texts[i]]
            if keep and vecs is not None:
                done = [order[n] for n in keep]
                vs.put(
                    model.id,
                    done,
                    vecs[keep],
                    [fingerprint(model.id, texts[i]) for i in done],
                )
            else:
                done = []
            gone = [i for i in ids if i not in now]
            same = [i for i in sorted(current) if i in still and now.get(i) == seen[i]]
            vs.update_pending(discard=[*done, *gone, *same])
            return len(done) + len(gone) + len(same)
        finally:
            lock.release()


def embed_all_pending(generation: str | Path, progress=None) -> int:
    """``embed_pending`` until nothing is pending (or no progress is made: no model,
    another process embedding); returns the threads that left the list."""
    total = 0
    while True:
        done = embed_pending(generation, limit=CHUNK)
        total += done
        if progress:
            progress(total)
        if not done:
            return total


def _visible_texts(ids: list[int]) -> dict[int, str]:
    """thread id -> ``thread_text`` of those of ``ids`` that are visible now."""
    with Session(db.engine) as session:
        threads = load_threads(session, ids)
        return {i: thread_text(t) for i, t in threads.items() if t.is_visible}


@contextlib.contextmanager
def _exclusive(path: Path):
    """Yield True while this process holds the flock on ``path``, False when another does."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fill(generation: str | Path, chunks: Iterable[list], progress=None) -> bool:
    """Embed every visible thread of a new generation (``chunks``: lists of threads).
    Returns False, writing nothing, when there is no model (search stays lexical). The
    model is loaded only when there is a thread to embed (an empty forum's first index
    costs no onnxruntime session)."""
    try:
        model_id, dim = current_model_id(), current_model_dim()
    except ModelUnavailable:
        return False
    ids: list[int] = []
    fps: list[int] = []
    parts: list[np.ndarray] = [np.zeros((0, dim), np.float32)]
    for chunk in chunks:
        if not chunk:
            continue
        model = current_model()
        texts = [thread_text(t) for t in chunk]
        parts.append(model.embed(texts))
        ids.extend(t.id for t in chunk)
        fps.extend(fingerprint(model_id, text) for text in texts)
        if progress:
            progress(len(ids))
    VectorStore(generation).write_base(model_id, ids, np.concatenate(parts), fps)
    return True


def defer_ids(generation: str | Path, ids: list[int]) -> bool:
    """A new generation's vectors all pending: an empty base under the model's id, and
    ``ids`` for ``embed_pending`` to compute. False, writing nothing, without a model."""
    try:
        model_id, dim = current_model_id(), current_model_dim()
    except ModelUnavailable:
        return False
    vs = VectorStore(generation)
    vs.write_base(model_id, [], np.zeros((0, dim), np.float32), [])
    vs.update_pending(add=ids)
    return True


def _chunks(session: Session, ids: list[int]):
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        threads = load_threads(session, part)
        yield [threads[i] for i in part if i in threads]
        session.expunge_all()


def fill_ids(generation: str | Path, ids: list[int]) -> bool:
    """``fill`` with the threads ``ids`` read from the database (a rebuild's snapshot:
    changes after it reach the vectors through the change record, like the index)."""
    with Session(db.engine) as session:
        return fill(generation, _chunks(session, list(ids)))


def problems_ids(generation: str | Path, ids: list[int]) -> list[str]:
    """``problems`` for the visible threads ``ids``, read from the database."""
    with Session(db.engine) as session:
        return problems(generation, (t for chunk in _chunks(session, list(ids)) for t in chunk))


def problems(generation: str | Path, threads: Iterable) -> list[str]:
    """Differences between the vectors and the visible ``threads`` (none without a
    model: then search is lexical and there is nothing to compare)."""
    try:
        model_id = current_model_id()
    except ModelUnavailable:
        return []
    vs = VectorStore(generation)
    meta = vs.meta()
    if meta is None:
        return ["the index has no thread vectors (built without the model)"]
    if meta.get("model") != model_id:
        return [f"thread vectors come from model {meta.get('model')}, not {model_id}"]
    found: list[str] = []
    if vs.incomplete():
        found.append("thread vectors are incomplete: a change was applied without the model")
    have = vs.fingerprints() or {}
    waiting = set(vs.pending().tolist())  # recorded, not yet embedded: not a difference
    for thread in threads:
        if thread.id in waiting:
            have.pop(thread.id, None)
            continue
        fp = have.pop(thread.id, None)
        if fp is None:
            found.append(f"thread {thread.id} has no vector")
        elif fp != fingerprint(model_id, thread_text(thread)):
            found.append(f"thread {thread.id} has a stale vector")
    found.extend(f"thread {i} has a vector but is not visible" for i in sorted(have))
    return found
