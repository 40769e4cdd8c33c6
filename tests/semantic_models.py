"""A tiny ONNX sentence model for tests: each token's vector is a fixed random row, so a
sentence's (mean-pooled) vector is a bag of its words. Same inputs and output as the real
model, so the real loading, pooling, storing and fusion code runs on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB_SIZE = 30522  # the shipped WordPiece vocabulary
DIM = 16


def write_tiny_model(
    path: Path, dim: int = DIM, seed: int = 7, same: tuple[tuple[str, str], ...] = ()
) -> Path:
    """Write the model to ``path`` and return it (needs the ``onnx`` test dependency).
    Each pair of words in ``same`` (whole words of the vocabulary) gets one vector: the
    model takes them for synonyms, which the lexical search does not know."""
    from onnx import TensorProto, helper, numpy_helper, save

    from forum.search.semantic.model import VOCAB

    table = np.random.default_rng(seed).standard_normal((VOCAB_SIZE, dim)).astype(np.float32)
    table[:104] *= 0.01  # [PAD] [UNK] [CLS] [SEP] [MASK] and unused: near zero
    ids = {w: i for i, w in enumerate(VOCAB.read_text(encoding="utf-8").splitlines())}
    for a, b in same:
        table[ids[b]] = table[ids[a]]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "tiny-sentence-model",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    save(model, str(path))
    return path
