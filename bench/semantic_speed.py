#!/usr/bin/env python3
"""Speed of the semantic second opinion: query-time cost and embedding throughput.

- nearest: the top 200 of N x dim float32 vectors memory-mapped from a generation's base
  .npy plus a small delta - the cost a search adds besides embedding its query - scored
  exactly (every row) and through the sign-bit prefilter (the path from
  ``store.PREFILTER_AT`` rows), with the prefilter's recall@50 against exact scoring.
  Clustered unit vectors (topics around a shared direction, like sentence embeddings):
  speed does not depend on content, recall does. Wall and CPU (thread) time: on a busy
  shared machine the CPU time is the steadier figure.
- query embedding: a short query through the real model (one thread), and the same
  query again from the query cache.
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


def clustered(count: int, dim: int, rng, queries: int = 100):
    """Unit vectors around 300 topics and a shared direction, and queries near topics."""
    centres = rng.standard_normal((300, dim)).astype(np.float32)
    common = rng.standard_normal(dim).astype(np.float32)

    def around(which):
        out = np.empty((len(which), dim), np.float32)
        for start in range(0, len(which), 10_000):
            part = which[start : start + 10_000]
            v = centres[part] + 1.5 * rng.standard_normal((len(part), dim)) + common
            out[start : start + len(part)] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    return around(rng.integers(0, 300, count)), around(rng.integers(0, 300, queries))


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def bench_nearest(count: int, dim: int) -> None:
    import dataclasses

    rng = np.random.default_rng(1)
    vecs, queries = clustered(count, dim, rng)
    with tempfile.TemporaryDirectory() as tmp:
        vs = store.VectorStore(tmp)
        vs.write_base("bench", np.arange(count), vecs, np.arange(1, count + 1))
        del vecs
        vs.put("bench", np.arange(100), np.eye(100, dim, dtype=np.float32), np.arange(1, 101))
        snap = vs.snapshot()
        exact = dataclasses.replace(snap, base_bits=None)
        paths = {"exact": exact} if snap.base_bits is None else {"exact": exact, "prefilter": snap}
        for name, s in paths.items():
            fuse.nearest(s, queries[0])  # page the file in
            walls, cpus = [], []
            for q in queries:
                wall, cpu = _timed(lambda s=s, q=q: fuse.nearest(s, q, 200, 0.2))
                walls.append(wall)
                cpus.append(cpu)
            print(
                f"nearest ({name}) over {count:,} x {dim} float32 (memory-mapped): "
                f"median {statistics.median(walls):.2f} ms, p95 {percentile(walls, 95):.2f} ms"
                f" (CPU median {statistics.median(cpus):.2f} ms)"
            )
        if snap.base_bits is not None:
            recall = [
                len({i for i, _ in fuse.nearest(snap, q)} & {i for i, _ in fuse.nearest(exact, q)})
                / 50
                for q in queries
            ]
            print(
                f"  prefilter recall@50 vs exact: mean {np.mean(recall):.3f}, "
                f"lowest {min(recall):.2f} ({fuse.candidates(count):,} candidates rescored)"
            )


def bench_model(texts: int) -> None:
    from forum.search import semantic

    model = semantic_model.model_for({})
    times, cpus, cached = [], [], []
    for _ in range(20):
        for q in QUERIES:
            semantic.clear_query_cache()
            wall, cpu = _timed(lambda q=q: semantic.query_vector(model, q))
            times.append(wall)
            cpus.append(cpu)
            cached.append(_timed(lambda q=q: semantic.query_vector(model, q))[0])
    print(
        f"query embedding ({model.id}): median {statistics.median(times):.1f} ms, "
        f"p95 {percentile(times, 95):.1f} ms (CPU median {statistics.median(cpus):.1f} ms); "
        f"from the query cache: median {statistics.median(cached) * 1000:.0f} us"
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
