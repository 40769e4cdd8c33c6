"""Semantic vectors an import (or a backlog) leaves pending, embedded afterwards.

Embedding a thread costs ~25-45 ms of CPU with the real model, so an import that
embedded every thread inside its index commits ran at ~20 threads/s whatever else was
made fast. Imports and large applies now record the threads as *pending*; the appliers
(or ``flask forum embed-pending``) embed them afterwards. Meanwhile those threads are
found by their words, ``check-index`` does not count them as differences, and
``/healthz`` says how many are waiting. The tiny ONNX model (tests/semantic_models.py)
runs the real loading, storing and fusion code; real database, real index.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sqlalchemy import update

from forum import transfer
from forum.extensions import db
from forum.models import Post, Thread
from forum.search import apply_now, semantic
from forum.search.index import store_for
from forum.search.semantic import store as vector_store
from tests.integration.test_semantic_search import make_app as make_semantic_app
from tests.semantic_models import write_tiny_model

SAME = (("zebra", "penguin"),)  # one vector for both words: only meaning connects them


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx", same=SAME)


def make_app(tmp_path, database_url, model_file, **config):
    return make_semantic_app(
        tmp_path,
        database_url,
        SEARCH_SEMANTIC=True,
        SEARCH_SEMANTIC_MODEL=str(model_file),
        **config,
    )


@pytest.fixture
def app(tmp_path, database_url, tiny_model):
    # Background embedding off: each test says when vectors are computed.
    app = make_app(tmp_path, database_url, tiny_model, SEARCH_SEMANTIC_EMBED_CHUNK=0)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def line(n: int, title: str | None = None, body: str | None = None) -> str:
    return json.dumps(
        {
            "title": title or f"Imported question {n} about walruses",
            "body": body or f"Thread {n}: walrus walrus, has anyone else seen this?",
            "author": f"mover_{n % 3}",
            "created": f"2024-03-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
            "conditions": ["Lupus"],
        }
    )


def vectors(app) -> vector_store.VectorStore:
    st = store_for(app.config["SEARCH_INDEX_DIR"])
    return vector_store.VectorStore(st.root / st.current_name())


def generation(app):
    st = store_for(app.config["SEARCH_INDEX_DIR"])
    return st.root / st.current_name()


def titles(client, q):
    resp = client.get("/api/v1/search", query_string={"q": q})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [r["title"] for r in resp.get_json()["results"]]


def check_index(app):
    return app.test_cli_runner().invoke(args=["forum", "check-index"])


def import_penguins(extra: int = 6):
    lines = [line(n) for n in range(extra)]
    lines.append(line(99, title="Penguin colony notes", body="penguin penguin penguin"))
    return transfer.import_lines(lines)


def test_an_import_leaves_vectors_pending_and_embed_pending_computes_them(app, client):
    report = import_penguins()
    assert report.imported == 7 and not report.skipped
    vs = vectors(app)
    assert sorted(vs.pending().tolist()) == sorted(report.thread_ids)
    assert not (vs.fingerprints() or {})  # nothing embedded inside the import
    # Meanwhile: found by their words, not yet by meaning; the index agrees.
    assert titles(client, "walrus")
    assert "Penguin colony notes" not in titles(client, "zebra")
    assert check_index(app).exit_code == 0, check_index(app).output
    health = client.get("/healthz").get_json()["semantic"]
    assert health["state"] == "on"
    assert "7 threads waiting for their vectors" in health["reason"]

    result = app.test_cli_runner().invoke(args=["forum", "embed-pending"])
    assert result.exit_code == 0, result.output
    assert "Embedded 7 threads" in result.output and "0 still waiting" in result.output
    vs = vectors(app)
    assert not len(vs.pending())
    assert set(vs.fingerprints()) == set(report.thread_ids)
    assert titles(client, "zebra") == ["Penguin colony notes"]
    assert check_index(app).exit_code == 0
    assert "waiting" not in client.get("/healthz").get_json()["semantic"]["reason"]


def test_the_import_command_says_how_many_vectors_are_to_come(app, tmp_path):
    path = tmp_path / "threads.jsonl"
    path.write_text("\n".join(line(n) for n in range(3)) + "\n")
    result = app.test_cli_runner().invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 threads wait for their semantic vectors" in result.output


def test_a_large_apply_defers_and_a_single_new_thread_is_embedded_at_once(app, client):
    from tests import factories as f

    app.config["SEARCH_SEMANTIC_DEFER_AT"] = 2
    f.thread(title="Walrus first", body="walrus")  # the index exists, this one embedded
    apply_now()
    app.config["SEARCH_SYNC"] = False  # let three threads pile up, then apply them at once
    made = [f.thread(title=f"Walrus backlog {n}", body="walrus") for n in range(3)]
    app.config["SEARCH_SYNC"] = True
    apply_now()
    assert sorted(vectors(app).pending().tolist()) == sorted(t.id for t in made)
    one = f.thread(title="Penguin single", body="penguin")
    apply_now()
    assert one.id in (vectors(app).fingerprints() or {})
    assert one.id not in vectors(app).pending().tolist()
    assert titles(client, "zebra") == ["Penguin single"]


def test_a_thread_changed_while_it_was_embedded_stays_pending_for_its_new_text(
    app, client, monkeypatch
):
    report = import_penguins(extra=2)
    penguin = max(report.thread_ids)
    model = semantic.current_model()
    real = type(model).embed

    def embed_then_edit(self, texts):
        out = real(self, texts)
        # A moderator's edit commits while the chunk is being embedded (its change not
        # applied yet): the vector just computed is of the old text.
        db.session.execute(
            update(Thread).where(Thread.id == penguin).values(title="Walrus colony notes")
        )
        db.session.commit()
        return out

    monkeypatch.setattr(type(model), "embed", embed_then_edit)
    done = semantic.embed_pending(generation(app))
    monkeypatch.setattr(type(model), "embed", real)
    assert done == 2  # the two unchanged threads
    vs = vectors(app)
    assert vs.pending().tolist() == [penguin]
    assert penguin not in (vs.fingerprints() or {})
    assert semantic.embed_pending(generation(app)) == 1
    text = semantic.thread_text(db.session.get(Thread, penguin))
    model_id = vectors(app).meta()["model"]
    assert vectors(app).fingerprints()[penguin] == vector_store.fingerprint(model_id, text)


def test_a_pending_thread_deleted_before_it_is_embedded_leaves_the_list(app, client):
    from forum.threads import service

    report = import_penguins(extra=1)
    gone = max(report.thread_ids)
    thread = db.session.get(Thread, gone)
    service.delete_post(thread.author, db.session.get(Post, thread.question.id))
    apply_now()
    assert gone not in vectors(app).pending().tolist()
    assert semantic.embed_all_pending(generation(app)) == 1
    assert not len(vectors(app).pending())
    assert set(vectors(app).fingerprints()) == set(report.thread_ids) - {gone}
    assert check_index(app).exit_code == 0


def test_check_index_still_finds_a_missing_vector_that_is_not_pending(app):
    report = import_penguins(extra=1)
    semantic.embed_all_pending(generation(app))
    vs = vectors(app)
    model_id = vs.meta()["model"]
    lost = min(report.thread_ids)
    vs.remove(model_id, [lost])
    result = check_index(app)
    assert result.exit_code != 0
    assert f"thread {lost} has no vector" in result.output


def test_the_applier_embeds_pending_vectors_in_the_background(tmp_path, database_url, tiny_model):
    app = make_app(tmp_path, database_url, tiny_model, SEARCH_SEMANTIC_EMBED_CHUNK=2)
    with app.app_context():
        try:
            report = import_penguins(extra=4)
            assert len(vectors(app).pending()) == 5
            client = app.test_client()
            # Any request marks a serving process, a health probe too (it answers first).
            assert client.get("/healthz").status_code == 200
            deadline = time.monotonic() + 30
            while len(vectors(app).pending()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not len(vectors(app).pending())
            assert set(vectors(app).fingerprints()) == set(report.thread_ids)
            assert titles(client, "zebra") == ["Penguin colony notes"]
        finally:
            db.session.remove()
            db.engine.dispose()


def test_an_import_with_the_model_runs_its_checkpoints_beside_and_agrees(app, monkeypatch):
    """With the model on, the checkpoints are indexed by the forked process too (it
    defers the vectors, so it never touches onnxruntime), and the index agrees."""
    from forum.search import checkpoints

    monkeypatch.setattr(transfer, "CHECKPOINT_EVERY", 4)
    started = []
    real = checkpoints.beside
    monkeypatch.setattr(checkpoints, "beside", lambda a: started.append(1) or real(a))
    semantic.current_model()  # loaded in this process before the fork, as in a server
    report = transfer.import_lines([line(n) for n in range(20)])
    assert report.imported == 20
    assert started, "no checkpoint was indexed beside the import"
    assert sorted(vectors(app).pending().tolist()) == sorted(report.thread_ids)
    assert check_index(app).exit_code == 0
    assert semantic.embed_all_pending(generation(app)) == 20
    assert check_index(app).exit_code == 0
    assert np.isfinite(np.asarray(vectors(app).snapshot().delta_vecs)).all()


def _run_with_packaged_model(tmp_path, database_url, body: str, timeout: int = 120):
    """Run ``body`` in a fresh Python process, after ``app = create_app(...)`` on an
    instance made here with the packaged model (its id and vector size are known from its
    checksum). Returns (this process's app on that instance, the finished process)."""
    import subprocess
    import sys
    from pathlib import Path

    from forum.search.semantic import model as semantic_model

    packaged = semantic_model.packaged_model_path()
    assert packaged is not None, "the pinned model package is a dependency"
    app = make_app(tmp_path, database_url, packaged)  # the instance and its tables
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    database = f'"SQLALCHEMY_DATABASE_URI": {database_url!r},' if database_url else ""
    script = f"""
from forum import create_app
app = create_app({{"INSTANCE_PATH": {str(tmp_path / "instance")!r}, "SECRET_KEY": "t",
                  "LOAD_DEMO_ON_FIRST_START": False, "SEARCH_SEMANTIC": True,
                  "SEARCH_SEMANTIC_MODEL": {str(packaged)!r}, {database}}})
{body}"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=timeout
    )
    return app, out


def test_an_import_command_never_loads_the_model(tmp_path, database_url):
    """Loading onnxruntime and the model costs ~1-2 s of CPU: a command that only
    records vectors as pending (an import) must not pay it, in a fresh process, with
    the packaged model."""
    app, out = _run_with_packaged_model(
        tmp_path,
        database_url,
        f"""
import sys
from forum import transfer
with app.app_context():
    report = transfer.import_lines({[line(n) for n in range(3)]!r})
    assert report.imported == 3, report
    print("model loaded:", "onnxruntime" in sys.modules)
""",
    )
    assert out.returncode == 0, out.stderr
    assert "model loaded: False" in out.stdout, out.stdout + out.stderr
    with app.app_context():
        assert len(vectors(app).pending()) == 3
        db.session.remove()
        db.engine.dispose()


def test_a_thread_marked_pending_whose_vector_is_current_is_not_embedded_again(app, monkeypatch):
    """An import's fast path marks every thread it writes pending without reading its
    text; the embedder then skips a thread whose vector is already of its text."""
    report = import_penguins(extra=2)
    assert semantic.embed_all_pending(generation(app)) == 3
    before = vectors(app).fingerprints()
    semantic.defer(generation(app), sorted(report.thread_ids), [])
    assert len(vectors(app).pending()) == 3
    model = semantic.current_model()
    embedded = []
    real = type(model).embed
    monkeypatch.setattr(
        type(model), "embed", lambda self, texts: embedded.extend(texts) or real(self, texts)
    )
    assert semantic.embed_pending(generation(app)) == 3
    assert embedded == []
    assert not len(vectors(app).pending())
    assert vectors(app).fingerprints() == before


def test_a_server_process_exiting_while_it_embeds_finishes_the_chunk_first(tmp_path, database_url):
    """A serving process embeds pending vectors in its applier thread, in onnxruntime
    (~1-2 s a chunk with the packaged model). When the process exits meanwhile (a
    gunicorn worker replaced, a server stopped), the chunk must finish before the
    interpreter goes: a thread killed inside onnxruntime aborted the process
    ("terminate called without an active exception", SIGABRT)."""
    marks = tmp_path / "marks"
    _app, out = _run_with_packaged_model(
        tmp_path,
        database_url,
        f"""
import time
from pathlib import Path
from forum import transfer
from forum.search import semantic
marks = Path({str(marks)!r})
with app.app_context():
    assert transfer.import_lines({[line(n) for n in range(40)]!r}).imported == 40
    model = semantic.current_model()  # the process-wide model the applier uses
    embed = model.embed
    def marked(texts):
        with marks.open("a") as out:
            out.write("started\\n")
        vectors = embed(texts)
        with marks.open("a") as out:
            out.write("finished\\n")
        return vectors
    model.embed = marked
assert app.test_client().get("/healthz").status_code == 200  # now a serving process
deadline = time.monotonic() + 60
while not (marks.exists() and "started" in marks.read_text()):
    assert time.monotonic() < deadline, "the applier never started embedding"
    time.sleep(0.005)
""",  # the script ends here, while the applier embeds
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "terminate called" not in out.stderr
    assert marks.read_text().split() == ["started", "finished"]
