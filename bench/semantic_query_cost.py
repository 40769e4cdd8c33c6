#!/usr/bin/env python3
"""What the semantic second opinion adds to a search, measured query by query.

Every query of bench/search_speed.py's kinds runs three times in a row in one process:
lexical (semantic off), semantic with the query embedded in a worker thread while the
lexical search runs (the default), and semantic with the query embedded before it
(``SEARCH_SEMANTIC_OVERLAP = False``); the cached query vectors and neighbours are
cleared before each, so every semantic search embeds its query and looks for its
nearest threads. A fourth mode, ``repeat``, runs the query again right after the
threaded one without clearing them: what a repeated query (paging, the same words
from someone else) costs. Interleaving puts the three under the same
load, which on a busy shared machine matters more than anything measured. The searcher's
remembered evaluations (``engine.run`` keeps a searcher's last outcomes) are forgotten
before each query too: otherwise the inline mode reused the threaded mode's lexical top
50 just before it and looked ~5 ms cheaper than it is. Round 1 warms the caches;
rounds 2-3 are reported: per-mode wall p50/p95 and process CPU (the embedding thread
included), the added wall time per query (semantic minus lexical, the same query), and
per kind the semantic p95.

``--min-similarity -1`` lets every one of the 200 nearest threads through the floor:
random synthetic vectors are hardly ever 0.2 similar to a query, so by default the
fusing (and, with filters, looking the neighbours up in the index) is nearly free,
where real vectors give a query its full 200 neighbours.

The forum must have thread vectors (``bench/search_speed.py --semantic synthetic`` writes
random ones; ``flask forum reindex`` with the model real ones).

usage: python bench/semantic_query_cost.py INSTANCE [--rounds N] [--min-similarity F]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_speed import KINDS, pct, timed_query  # noqa: E402

MODES = ("lexical", "overlap", "repeat", "inline")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-similarity", type=float, default=None)
    args = ap.parse_args()

    from forum import create_app
    from forum.search.changes import store

    try:
        from forum.search.semantic import clear_query_cache
    except ImportError:  # a forum from before the query cache

        def clear_query_cache() -> None:
            pass

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(args.instance),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SEARCH_SEMANTIC": True,
        }
    )
    if args.min_similarity is not None:
        app.config["SEARCH_SEMANTIC_MIN_SIMILARITY"] = args.min_similarity
    wall = {m: {k: [] for k in KINDS} for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    with app.app_context():
        client = app.test_client()
        for round_no in range(args.rounds):
            for kind, queries in KINDS.items():
                for params in queries:
                    for mode in MODES:
                        app.config["SEARCH_SEMANTIC"] = mode != "lexical"
                        app.config["SEARCH_SEMANTIC_OVERLAP"] = mode != "inline"
                        if mode != "repeat":
                            clear_query_cache()
                        store().searcher().__dict__.pop("_forum_runs", None)
                        took, cpu_ms = timed_query(client, params)
                        if round_no:
                            wall[mode][kind].append(took)
                            cpu[mode].append(cpu_ms)
    every = {m: [t for k in KINDS for t in wall[m][k]] for m in MODES}
    for mode in MODES:
        print(
            f"{mode}: wall p50 {pct(every[mode], 50):.1f} p95 {pct(every[mode], 95):.1f} ms; "
            f"process CPU p50 {pct(cpu[mode], 50):.1f} ms"
        )
    for mode in MODES[1:]:
        added = sorted(a - b for a, b in zip(every[mode], every["lexical"], strict=True))
        print(f"added ({mode}) per query: median {pct(added, 50):.1f}, p95 {pct(added, 95):.1f} ms")
        added_cpu = sorted(a - b for a, b in zip(cpu[mode], cpu["lexical"], strict=True))
        print(
            f"added CPU ({mode}) per query: median {pct(added_cpu, 50):.1f}, "
            f"p95 {pct(added_cpu, 95):.1f} ms"
        )
    print("per kind, p50 / p95 (lexical | semantic):")
    for kind in KINDS:
        lex, sem = wall["lexical"][kind], wall["overlap"][kind]
        print(
            f"  {kind}: {pct(lex, 50):.1f} / {pct(lex, 95):.1f} ms | "
            f"{pct(sem, 50):.1f} / {pct(sem, 95):.1f} ms"
        )


if __name__ == "__main__":
    main()
