"""The semantic second opinion inside the forum, on a tiny ONNX model made here (the
real model's tests are in test_semantic_model.py): vectors follow the change record,
reindex and check-index cover them, the fused ranking is deterministic, /healthz says
whether it is on, and search stays lexical without the model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from forum import create_app
from forum.extensions import db
from forum.search import apply_now, changes, engine, semantic, threadids
from forum.search.index import store_for
from forum.search.semantic import model as semantic_model
from forum.search.semantic import store as vector_store
from forum.services import commit, record_search_change
from forum.threads import service
from tests import factories as f
from tests import pgtools
from tests.semantic_models import write_tiny_model

# The tiny model takes "zebra" and "penguin" for one word; the lexical search does not.
SAME = (("zebra", "penguin"),)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx", same=SAME)


def make_app(tmp_path, database_url, **config):
    if database_url:
        pgtools.write_instance_config(tmp_path / "instance", database_url)
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            **({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}),
            **config,
        }
    )


@pytest.fixture
def app(tmp_path, database_url, tiny_model):
    app = make_app(
        tmp_path, database_url, SEARCH_SEMANTIC=True, SEARCH_SEMANTIC_MODEL=str(tiny_model)
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def titles(client, q, **params):
    resp = client.get("/api/v1/search", query_string={"q": q, **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [r["title"] for r in resp.get_json()["results"]]


def vectors(app) -> vector_store.VectorStore:
    st = store_for(app.config["SEARCH_INDEX_DIR"])
    return vector_store.VectorStore(st.root / st.current_name())


def test_a_thread_found_only_by_meaning_joins_the_results(app, client):
    f.thread(title="Penguin question", body="My penguin keeps me awake at night.")
    f.thread(title="Walrus question", body="Nothing to do with the others.")
    assert titles(client, "zebra") == ["Penguin question"]


def test_dense_neighbours_respect_the_filters(app, client):
    f.thread(title="Penguin in lupus", body="penguin", conditions=("lupus",))
    f.thread(title="Penguin in crohns", body="penguin", conditions=("crohns",))
    assert titles(client, "zebra", condition="crohns") == ["Penguin in crohns"]


def test_filtered_neighbours_follow_edits_hides_and_deletes_across_segments(app, client):
    # Each apply writes a segment; an edit leaves the old document deleted in its old
    # segment. The filter keeps exactly the visible neighbours with that condition.
    author = f.user()
    made = {}
    for n, condition in enumerate(("lupus", "crohns") * 3):
        made[n] = f.thread(
            author, title=f"Penguin {condition} {n}", body="penguin", conditions=(condition,)
        )
        apply_now()
    service.edit_post(author, made[1].question, "penguin again", title="Penguin crohns edited")
    made[4].is_hidden = True
    record_search_change([made[4].id])
    commit()
    service.delete_post(author, made[5].question)
    apply_now()
    assert sorted(titles(client, "zebra", condition="crohns")) == [
        "Penguin crohns 3",
        "Penguin crohns edited",
    ]
    assert sorted(titles(client, "zebra", condition="lupus")) == [
        "Penguin lupus 0",
        "Penguin lupus 2",
    ]


def test_the_thread_id_column_agrees_with_the_stored_ids_after_changes(app, client):
    author = f.user()
    threads = [f.thread(author, title=f"Walrus {n}", body="walrus") for n in range(4)]
    apply_now()
    service.edit_post(author, threads[0].question, "walrus edited", title="Walrus edited")
    threads[1].is_hidden = True
    record_search_change([threads[1].id])
    commit()
    service.delete_post(author, threads[2].question)
    apply_now()
    searcher = changes.store().searcher()
    segs = engine.segments(searcher)
    assert len(segs) > 1  # the edit's new document is in a later segment
    column = threadids.column(segs)
    live = {}
    for docnum in searcher.reader().all_doc_ids():  # every document not deleted
        stored = searcher.stored_fields(docnum)["id"]
        expected = int(stored) if stored.isdigit() else threadids.NO_THREAD
        assert column[docnum] == expected
        if expected != threadids.NO_THREAD:
            live[expected] = live.get(expected, 0) + 1
    assert live == {threads[0].id: 1, threads[3].id: 1}
    assert sorted(titles(client, "walrus")) == ["Walrus 3", "Walrus edited"]


def test_new_thread_gets_a_vector_and_hidden_or_deleted_ones_lose_it(app, client):
    author = f.user()
    hidden = f.thread(author, title="Penguin to hide", body="penguin penguin")
    gone = f.thread(author, title="Penguin to delete", body="penguin")
    kept = f.thread(author, title="Penguin to keep", body="penguin walks")
    apply_now()
    assert {hidden.id, gone.id, kept.id} <= set(vectors(app).fingerprints())
    hidden.is_hidden = True
    record_search_change([hidden.id])
    commit()
    service.delete_post(author, gone.question)
    apply_now()
    assert set(vectors(app).fingerprints()) == {kept.id}
    assert titles(client, "zebra") == ["Penguin to keep"]


def test_an_edited_opening_post_gets_a_new_vector_and_a_reply_keeps_it(app, client):
    author = f.user()
    t = f.thread(author, title="Walrus", body="walrus")
    apply_now()
    before = vectors(app).fingerprints()[t.id]
    service.add_reply(f.user(), t, "penguin penguin penguin")  # replies are not embedded
    apply_now()
    assert vectors(app).fingerprints()[t.id] == before
    assert titles(client, "zebra") == []
    service.edit_post(author, t.question, "penguin", title="Penguin after all")
    apply_now()
    assert vectors(app).fingerprints()[t.id] != before
    assert titles(client, "zebra") == ["Penguin after all"]


def test_reindex_rebuilds_and_check_index_finds_missing_or_stale_vectors(app, client):
    runner = app.test_cli_runner()
    a = f.thread(title="Penguin one", body="penguin")
    b = f.thread(title="Penguin two", body="penguin again")
    apply_now()
    assert runner.invoke(args=["forum", "check-index"]).exit_code == 0
    vs = vectors(app)
    model = vs.meta()["model"]
    vs.remove(model, [a.id])
    vs.put(model, [b.id], np.ones((1, vs.meta()["dim"]), np.float32), [12345])
    result = runner.invoke(args=["forum", "check-index"])
    assert result.exit_code != 0
    assert f"thread {a.id} has no vector" in result.output
    assert f"thread {b.id} has a stale vector" in result.output
    assert runner.invoke(args=["forum", "reindex"]).exit_code == 0
    assert set(vectors(app).fingerprints()) == {a.id, b.id}
    assert runner.invoke(args=["forum", "check-index"]).exit_code == 0


def test_the_same_query_gives_the_same_order_ties_by_thread_id(app, client):
    made = [f.thread(title="Penguin twin", body="penguin and zebra") for _ in range(4)]
    f.thread(title="Zebra crossing", body="zebra")
    first = client.get("/api/v1/search", query_string={"q": "zebra penguin"}).get_json()
    again = client.get("/api/v1/search", query_string={"q": "zebra penguin"}).get_json()
    ids = [r["id"] for r in first["results"]]
    assert ids == [r["id"] for r in again["results"]]
    twins = [i for i in ids if i in {t.id for t in made}]
    assert twins == sorted(twins) and len(twins) == 4


def test_a_model_without_int8_weights_embeds_queries_with_its_own_graph(tiny_model):
    assert semantic_model.query_graph.rewrite(tiny_model.read_bytes()) is None
    model = semantic_model.load(tiny_model)
    assert model.query_session is None
    assert np.array_equal(model.embed_query("zebra"), model.embed(["zebra"])[0])


def test_healthz_says_semantic_search_is_on(app, client):
    f.thread(title="Penguin", body="penguin")
    body = client.get("/healthz").get_json()
    assert body["semantic"]["state"] == "on"
    assert "queries through the model's graph" in body["semantic"]["reason"]  # tiny: no int8
    assert body["status"] == "ok"


def test_without_the_model_search_is_lexical_and_healthz_says_why(tmp_path, database_url):
    app = make_app(
        tmp_path, database_url, SEARCH_SEMANTIC=True, SEARCH_SEMANTIC_MODEL=str(tmp_path / "no")
    )
    with app.app_context():
        client = app.test_client()
        f.thread(title="Penguin question", body="penguin")
        f.thread(title="Zebra question", body="zebra")
        assert titles(client, "zebra") == ["Zebra question"]
        body = client.get("/healthz").get_json()
        assert body["semantic"]["state"] == "off"
        assert "not found" in body["semantic"]["reason"]
        assert body["status"] == "ok"
        assert app.test_cli_runner().invoke(args=["forum", "check-index"]).exit_code == 0
        db.session.remove()
        db.engine.dispose()


def test_a_failing_query_embedding_leaves_search_lexical_not_an_error(app, client, monkeypatch):
    f.thread(title="Penguin question", body="My penguin keeps me awake at night.")
    f.thread(title="Zebra question", body="zebra")

    def broken(self, text):
        raise RuntimeError("the model failed")

    apply_now()  # the threads' vectors are written before the model breaks
    semantic.clear_query_cache()
    monkeypatch.setattr(semantic_model.Model, "embed_query", broken)
    assert titles(client, "zebra") == ["Zebra question"]


def test_a_repeated_query_reuses_its_vector(app, client, monkeypatch):
    f.thread(title="Penguin question", body="My penguin keeps me awake at night.")
    f.thread(title="Zebra question", body="zebra")
    semantic.clear_query_cache()
    first = titles(client, "zebra")
    assert "Penguin question" in first

    def broken(self, text):
        raise RuntimeError("embedded again")

    monkeypatch.setattr(semantic_model.Model, "embed_query", broken)
    assert titles(client, "zebra") == first
    assert titles(client, "zebra", page=1) == first


def test_a_repeated_query_reuses_its_neighbours_until_the_vectors_change(app, client, monkeypatch):
    f.thread(title="Penguin question", body="My penguin keeps me awake at night.")
    f.thread(title="Zebra question", body="zebra")
    semantic.clear_query_cache()
    first = titles(client, "zebra")
    assert "Penguin question" in first
    looked = []
    real = semantic.nearest
    monkeypatch.setattr(semantic, "nearest", lambda *a, **k: looked.append(1) or real(*a, **k))
    assert titles(client, "zebra") == first
    assert titles(client, "zebra", page=1) == first
    assert looked == []  # neither search looked for the neighbours again
    f.thread(title="Penguin colony", body="penguin penguin")  # found only by meaning
    apply_now()
    assert "Penguin colony" in titles(client, "zebra")  # new vectors: looked again
    assert looked == [1]


def test_an_embedding_later_than_the_wait_leaves_the_search_lexical(app, client, monkeypatch):
    f.thread(title="Penguin question", body="My penguin keeps me awake at night.")
    f.thread(title="Zebra question", body="zebra")
    apply_now()
    semantic.clear_query_cache()
    release = threading.Event()
    real = semantic_model.Model.embed_query

    def held(self, text):
        release.wait(10)  # until the search has answered without it
        return real(self, text)

    monkeypatch.setattr(semantic_model.Model, "embed_query", held)
    app.config["SEARCH_SEMANTIC_OVERLAP"] = True  # embedded in a thread, waited for 0.05 s
    app.config["SEARCH_SEMANTIC_WAIT"] = 0.05
    try:
        assert titles(client, "zebra") == ["Zebra question"]
    finally:
        release.set()


def test_embedding_the_query_inline_or_in_a_thread_ranks_the_same(app, client):
    for n in range(6):
        f.thread(title=f"Penguin {n}", body="penguin and zebra" if n % 2 else "zebra")
    semantic.clear_query_cache()
    app.config["SEARCH_SEMANTIC_OVERLAP"] = True
    threaded = client.get("/api/v1/search", query_string={"q": "zebra penguin"}).get_json()
    app.config["SEARCH_SEMANTIC_OVERLAP"] = False
    semantic.clear_query_cache()
    inline = client.get("/api/v1/search", query_string={"q": "zebra penguin"}).get_json()
    assert [r["id"] for r in inline["results"]] == [r["id"] for r in threaded["results"]]


def test_a_filtered_search_ranks_the_same_inline_in_a_thread_or_repeated(app, client):
    for n in range(8):
        condition = ("lupus",) if n % 3 else ("crohns",)
        f.thread(title=f"Penguin {n}", body="penguin" if n % 2 else "zebra", conditions=condition)
    query = {"q": "zebra", "condition": "lupus"}
    orders = []
    for overlap, clear in ((True, True), (False, True), (True, False)):
        app.config["SEARCH_SEMANTIC_OVERLAP"] = overlap
        if clear:
            semantic.clear_query_cache()
        results = client.get("/api/v1/search", query_string=query).get_json()["results"]
        orders.append([r["title"] for r in results])
    assert orders[0] == orders[1] == orders[2]
    assert "Penguin 1" in orders[0] and "Penguin 3" not in orders[0]  # crohns: filtered out
