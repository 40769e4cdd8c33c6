#!/usr/bin/env python3
"""Speed of the semantic second opinion: query-time cost and embedding throughput.

- nearest: one brute-force matrix product over N x dim float32 vectors memory-mapped
  from a generation's base .npy (random unit vectors: speed does not depend on content),
  plus a small delta, top 50 - the cost a search adds besides embedding its query.
- query embedding: a short query through the real model (one thread).
- throughput: threads/s embedding title + opening text (about 120 words each, so every
  text fills the 128-token limit: the slow case) with 1 and 2 onnxruntime threads.

usage: python bench/semantic_speed.py [--threads-count 100000] [--texts 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forum.search.semantic import fuse, store  # noqa: E402
from forum.search.semantic import model as semantic_model  # noqa: E402

QUERIES = [
    "always tired since starting",
    "can i drink alcohol",
    "hair falling out after three months",
    "is it safe to have the shingles vaccine while on this",
    "low white blood cell count what does it mean",
]
WORDS = (
    "tired dose blood test liver nurse weeks months tablet nausea rash sun cream "
    "consultant clinic infection cold fever flare colitis crohns lupus arthritis "
    "started stopped increased reduced morning evening food sick worried normal results "
    "hair thinning skin check pregnant vaccine holiday travel pharmacy prescription"
).split()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_nearest(count: int, dim: int, runs: int = 100) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((count, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        vs = store.VectorStore(tmp)
        vs.write_base("bench", np.arange(count), vecs, np.arange(1, count + 1))
        del vecs
        vs.put("bench", np.arange(100), np.eye(100, dim, dtype=np.float32), np.arange(1, 101))
        snap = vs.snapshot()
        queries = rng.standard_normal((runs, dim)).astype(np.float32)
        fuse.nearest(snap, queries[0])  # page the file in
        times = []
        for q in queries:
            start = time.perf_counter()
            fuse.nearest(snap, q / np.linalg.norm(q), min_similarity=0.2)
            times.append((time.perf_counter() - start) * 1000)
    print(
        f"nearest over {count:,} x {dim} float32 (memory-mapped): "
        f"median {statistics.median(times):.1f} ms, p95 {percentile(times, 95):.1f} ms"
    )


def bench_model(texts: int) -> None:
    model = semantic_model.model_for({})
    times = []
    for _ in range(20):
        for q in QUERIES:
            start = time.perf_counter()
            model.embed([q])
            times.append((time.perf_counter() - start) * 1000)
    print(
        f"query embedding ({model.id}): median {statistics.median(times):.1f} ms, "
        f"p95 {percentile(times, 95):.1f} ms"
    )
    rng = np.random.default_rng(2)
    docs = [" ".join(rng.choice(WORDS, 120)) for _ in range(texts)]
    for threads in (1, 2):
        m = semantic_model.model_for({"SEARCH_SEMANTIC_THREADS": threads})
        m.embed(docs[:32])
        start, cpu = time.perf_counter(), time.process_time()
        m.embed(docs)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"embedding throughput, {threads} onnxruntime thread(s): {texts / took:.0f} "
            f"threads/s ({cpu / texts * 1000:.1f} ms of CPU per thread)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads-count", type=int, default=100_000)
    ap.add_argument("--texts", type=int, default=256)
    args = ap.parse_args()
    bench_nearest(10_000, 384)
    bench_nearest(args.threads_count, 384)
    bench_model(args.texts)


if __name__ == "__main__":
    main()
