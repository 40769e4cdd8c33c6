#!/usr/bin/env python3
"""Search speed on a generated corpus, beside plain Whoosh over the same threads.

Generates N threads with ../shared/bench/gen_corpus.py (deterministic, so figures stay
comparable), imports them through the forum's import service (index applied at the
import checkpoints), then reports:

- import throughput (threads/s, index included) and a full ``rebuild`` time;
- query latency p50/p95 per kind (words, phrase, misspelled, filtered, faceted,
  question) through the JSON API (test client): first page of 10, highlighted
  snippets and facet counts included, results loaded from the database. Round 1
  runs every query once in this fresh process (cold: the search engine's postings,
  lengths and columns are read from disk as queries need them) and is reported apart
  from rounds 2-3 (warm); the engine's cache size and the peak RSS are printed too;
- new-post-searchable latency p95 (post through the service, then search finds it;
  the marker word is unique per run, so a reused forum works);
- the same query kinds on a plain Whoosh index (StemmingAnalyzer, default writer,
  MultifieldParser with OrGroup 0.9, one searcher, highlights, `word~` for the
  misspelled kind, groupedby facets for the faceted kind).

With ``--semantic synthetic`` the forum is imported lexically, every visible thread then
gets a random unit vector under the real model's id (the cost of a search does not depend
on the vectors' values, and embedding 100,000 threads takes most of an hour on two cores),
and every query kind is timed again with the semantic second opinion on: the real model
embeds each query, the nearest threads are found and fused. ``--semantic on`` embeds the
threads for real while importing.

usage: python bench/search_speed.py [N] [--workdir DIR] [--procs 2] [--no-plain]
                                    [--semantic off|on|synthetic]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / ".." / "shared" / "bench" / "gen_corpus.py"
sys.path.insert(0, str(ROOT))

KINDS: dict[str, list[dict]] = {
    "words": [
        {"q": q}
        for q in (
            "hair thinning",
            "liver enzymes raised",
            "white count low",
            "rash itching",
            "tired exhausted",
            "pancreatitis pain",
            "mouth ulcers",
            "sunscreen spf",
            "flu vaccine",
            "headache migraine",
            "split dose nausea",
            "tpmt levels",
            "blood tests monthly",
            "joint pain rheumatologist",
            "skin cancer moles",
            "colonoscopy scope",
            "covid booster",
            "pregnancy breastfeeding",
            "alcohol grapefruit",
            "bruising platelets",
        )
    ],
    "phrase": [
        {"q": q}
        for q in (
            '"white count"',
            '"liver enzymes"',
            '"skin cancer"',
            '"side effects"',
            '"split dose"',
            '"mouth ulcers"',
            '"joint pain"',
            '"folic acid"',
            '"blood tests"',
            '"hair thinning"',
            '"kidney transplant" rejection',
            '"low wbc"',
            '"rheumatoid arthritis"',
            '"autoimmune hepatitis"',
            '"flu jab"',
            '"sun cream"',
            '"night sweats"',
            '"white cells"',
            '"liver function"',
            '"dose split"',
        )
    ],
    "misspelled": [
        {"q": q}
        for q in (
            "azathiprine nausia",
            "micophenolate",
            "prednisalone taper",
            "methatrexate",
            "hydroxycloroquine rash",
            "immuran hair",
            "nasea morning",
            "pancreatits",
            "neutrophills low",
            "sunscren",
            "lymphocites",
            "colonoscapy",
            "azathioprene liver",
            "dermatologst moles",
            "gastroenterolgist",
            "mycofenolate switch",
            "rhumatologist",
            "bilirubim",
            "platlets",
            "shingels vaccine",
        )
    ],
    "filtered": [
        {"q": q, "condition": c}
        for q, c in (
            ("rash", "lupus"),
            ("fatigue", "multiple-sclerosis"),
            ("liver", "autoimmune-hepatitis"),
            ("infection", "kidney-transplant"),
            ("diarrhea", "crohns"),
            ("joint pain", "rheumatoid-arthritis"),
            ("nausea", "ulcerative-colitis"),
            ("hair", "lupus"),
            ("tired", "myasthenia-gravis"),
            ("itching", "eczema"),
            ("rejection", "kidney-transplant"),
            ("sun", "lupus"),
            ("scope", "crohns"),
            ("mesalamine", "ulcerative-colitis"),
            ("mri", "multiple-sclerosis"),
            ("methotrexate", "rheumatoid-arthritis"),
            ("budesonide", "crohns"),
            ("eye", "uveitis"),
            ("lungs", "sarcoidosis"),
            ("creatinine", "kidney-transplant"),
        )
    ],
    "faceted": [
        {"q": q, "side_effect": s}
        for q, s in (
            ("morning", "nausea"),
            ("sleep", "fatigue"),
            ("bloods", "low-white-count"),
            ("alt", "raised-liver-enzymes"),
            ("thinning", "hair-loss"),
            ("spots", "rash"),
            ("antibiotics", "infections"),
            ("sunburn", "skin-cancer"),
            ("amylase", "pancreatitis"),
            ("sores", "mouth-ulcers"),
            ("migraine", "headache"),
            ("fever", "flu-like"),
            ("dose", "nausea"),
            ("energy", "fatigue"),
            ("neutrophils", "low-white-count"),
            ("enzymes", "raised-liver-enzymes"),
            ("shedding", "hair-loss"),
            ("skin", "rash"),
            ("flu", "infections"),
            ("spf", "skin-cancer"),
        )
    ],
    "question": [
        {"q": q}
        for q in (
            "how long does aza take to work",
            "is it safe to drink alcohol on azathioprine",
            "can I have the flu vaccine on imuran",
            "what should my wbc be on aza",
            "does azathioprine cause hair loss",
            "should I take it in the morning or evening",
            "has anyone had pancreatitis from aza",
            "why are my liver enzymes high",
            "can I get pregnant while taking azathioprine",
            "how often do you have blood tests",
            "is nausea normal in the first weeks",
            "what sunscreen do you use",
            "did anyone stop because of fatigue",
            "when should I split my dose",
            "is it normal to feel exhausted",
            "what happens if I miss a dose",
            "can I take antibiotics with imuran",
            "does tpmt level matter for dose",
            "how do you cope with mouth ulcers",
            "is hair thinning permanent",
        )
    ],
}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def _rss() -> str:
    """This process's resident memory now: total, private (anon) and file-backed pages
    (the memory-mapped postings packs, shared with every process reading them)."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return ", ".join(f"{k} {v:.0f} MB" for k, v in fields.items())


def _memory() -> str:
    """The search engine's cache and this process's peak resident size."""
    import resource

    try:
        from forum.search import engine
    except ImportError:  # pragma: no cover - older tree
        cache = "no engine"
    else:
        cache = f"{engine.cache.used / 2**20:.1f} MB in {len(engine.cache)} entries"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"engine cache: {cache}; peak RSS {peak:.0f} MB; now {_rss()}"


def generate(n: int, out: Path) -> None:
    if not out.exists():
        subprocess.run([sys.executable, str(GEN), str(n), str(out)], check=True)


def forum_bench(
    corpus: Path,
    workdir: Path,
    procs: int,
    reuse: bool = False,
    no_reindex: bool = False,
    instance: Path | None = None,
    semantic: str = "off",
    new_post: bool = True,
    profile: str | None = None,
    packs: bool | None = None,
) -> dict:
    from forum import create_app
    from forum.extensions import db
    from forum.search import changes, rebuild
    from forum.threads import service
    from forum.transfer import import_lines

    t_start = time.perf_counter()
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance or workdir / "instance"),
            "SEARCH_SYNC_BUILD_MAX": 10**9,  # a changed schema is rebuilt before timing
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SEARCH_SEMANTIC": semantic == "on",
            **({} if packs is None else {"SEARCH_PACKS": packs}),
        }
    )
    out: dict = {"startup": time.perf_counter() - t_start}
    print(f"app start (a changed schema is rebuilt here): {out['startup']:.1f} s", flush=True)
    with app.app_context():
        if instance is not None:  # an existing forum (e.g. bench/bulk_load.py + reindex)
            out["import"] = None
            rebuild.wait_for_rebuild(app, 3600)
            changes.apply_pending(timeout=60)
        elif reuse and (workdir / "import.json").exists():
            out["import"] = tuple(json.loads((workdir / "import.json").read_text()))
            out["import_reused"] = True
            rebuild.wait_for_rebuild(app, 3600)
            changes.apply_pending(timeout=60)
        else:
            lines = corpus.read_text(encoding="utf-8").splitlines()
            start = time.perf_counter()
            report = import_lines(lines)
            changes.apply_pending(timeout=60)
            took = time.perf_counter() - start
            out["import"] = (len(lines), took)
            (workdir / "import.json").write_text(json.dumps(out["import"]))
            print(f"imported {len(lines)} threads in {took:.1f} s ({report!r:.120})", flush=True)

        client = app.test_client()
        if semantic != "off":
            if semantic == "synthetic":
                _synthetic_vectors()
            else:  # an import leaves its threads' vectors pending: embed them all first
                from forum.search import semantic as dense

                st = changes.store()
                took = time.perf_counter()
                done = dense.embed_all_pending(st.root / st.current_name())
                took = time.perf_counter() - took
                print(f"embedded {done} pending thread vectors in {took:.1f} s", flush=True)
            app.config["SEARCH_SEMANTIC"] = False
            out["semantic"] = _time_queries(client, "lexical")
            app.config["SEARCH_SEMANTIC"] = True
            out["semantic_on"] = _time_queries(client, "semantic on", fresh_vectors=True)
            out["semantic_cached"] = _time_queries(client, "semantic on (cached vector)")
        # Round 1 runs every kind once in this fresh process (cold caches: postings,
        # lengths and columns are read from disk as the queries need them); rounds 2-3
        # repeat them warm. Both are reported, so neither hides the other.
        out["cold"] = {kind: [] for kind in KINDS}
        out["queries"] = {kind: [] for kind in KINDS}
        for round_no in range(3):
            for kind, queries in KINDS.items():
                for params in queries:
                    took, _cpu = timed_query(client, params)
                    out["cold" if round_no == 0 else "queries"][kind].append(took)
        out["memory"] = _memory()
        print(out["memory"], flush=True)
        if profile:
            _profile(client, profile)
        for kind in KINDS:
            cold, warm = out["cold"][kind], out["queries"][kind]
            print(
                f"forum {kind}: cold p50 {pct(cold, 50):.1f} p95 {pct(cold, 95):.1f} ms;"
                f" warm p50 {pct(warm, 50):.1f} p95 {pct(warm, 95):.1f} ms",
                flush=True,
            )

        from forum.models import User

        if not new_post:
            out["new_post"] = []
            out["reindex"] = 0.0
            return out
        author = db.session.scalar(db.select(User).limit(1))
        latencies = []
        run = time.time_ns()  # a reused forum keeps the markers of earlier runs
        for n in range(30):
            word = f"qzx{run}n{n}marker"
            t0 = time.perf_counter()
            service.create_thread(author, f"Fresh post {word}", f"Body {word}.", ["lupus"])
            found = client.get("/api/v1/search", query_string={"q": word}).get_json()
            latencies.append((time.perf_counter() - t0) * 1000)
            # Found (with the semantic second opinion, look-alike markers may rank beside it).
            assert f"Fresh post {word}" in [r["title"] for r in found["results"]], word
        out["new_post"] = latencies
        print(f"new post searchable: p50 {pct(latencies, 50):.0f} p95 {pct(latencies, 95):.0f} ms")

        t0 = time.perf_counter()
        if not no_reindex:
            rebuild.rebuild(procs=procs)
        out["reindex"] = time.perf_counter() - t0
        print(f"full reindex (procs={procs}): {out['reindex']:.1f} s", flush=True)
        db.session.remove()
    return out


def timed_query(client, params: dict) -> tuple[float, float]:
    """One search page through the API: (wall ms, process CPU ms); fails on a non-200."""
    t0, c0 = time.perf_counter(), time.process_time()
    resp = client.get("/api/v1/search", query_string={**params, "per_page": 10})
    took = (time.perf_counter() - t0) * 1000
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return took, (time.process_time() - c0) * 1000


def _profile(client, kind: str) -> None:
    """cProfile one more (warm) round of a kind; the top functions by cumulative time."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for params in KINDS[kind]:
        client.get("/api/v1/search", query_string={**params, "per_page": 10})
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def _synthetic_vectors() -> None:
    """Random unit vectors for every visible thread, under the real model's id."""
    import numpy as np

    from forum.extensions import db
    from forum.models import Thread
    from forum.search.changes import _session, store
    from forum.search.semantic.model import model_for
    from forum.search.semantic.store import VectorStore

    model = model_for({})  # the packaged model, whatever the app's switch says now
    visible = Thread.is_deleted.is_(False), Thread.is_hidden.is_(False)
    with _session() as session:
        ids = list(session.scalars(db.select(Thread.id).where(*visible).order_by(Thread.id)))
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((len(ids), model.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    st = store()
    VectorStore(st.root / st.current_name()).write_base(model.id, ids, vecs, [1] * len(ids))
    print(f"synthetic vectors for {len(ids):,} threads ({model.id})", flush=True)


def _time_queries(client, label: str, fresh_vectors: bool = False) -> dict:
    """Every kind, warm (after one round), 2 rounds: {kind: [ms]}. ``fresh_vectors``:
    forget the cached query vectors before each query, so every query is embedded (what
    a query not seen lately costs; the rounds repeat the same queries)."""
    try:
        from forum.search.semantic import clear_query_cache
    except ImportError:  # a forum from before the query cache: nothing to clear

        def clear_query_cache() -> None:
            pass

    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu: list[float] = []  # CPU of the whole process (query-embedding thread included)
    for round_no in range(3):
        for kind, queries in KINDS.items():
            for params in queries:
                if fresh_vectors:
                    clear_query_cache()
                took, cpu_ms = timed_query(client, params)
                if round_no:
                    times[kind].append(took)
                    cpu.append(cpu_ms)
    for kind, ts in times.items():
        print(f"{label} {kind}: warm p50 {pct(ts, 50):.1f} p95 {pct(ts, 95):.1f} ms", flush=True)
    print(f"{label}: process CPU per query p50 {pct(cpu, 50):.1f} p95 {pct(cpu, 95):.1f} ms")
    return times


def plain_bench(corpus: Path, workdir: Path) -> dict:
    from whoosh import fields, index
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.qparser import FuzzyTermPlugin, MultifieldParser, OrGroup
    from whoosh.query import And, Term
    from whoosh.sorting import FieldFacet

    schema = fields.Schema(
        id=fields.ID(stored=True),
        title=fields.TEXT(analyzer=StemmingAnalyzer(), stored=True),
        body=fields.TEXT(analyzer=StemmingAnalyzer(), stored=True),
        replies=fields.TEXT(analyzer=StemmingAnalyzer()),
        conditions=fields.KEYWORD(commas=True, lowercase=True),
        side_effects=fields.KEYWORD(commas=True, lowercase=True),
    )
    from forum import vocabulary

    path = workdir / "plain"
    path.mkdir(parents=True, exist_ok=True)
    ix = index.create_in(str(path), schema)
    t0 = time.perf_counter()
    writer = ix.writer()
    for n, line in enumerate(corpus.read_text(encoding="utf-8").splitlines()):
        t = json.loads(line)
        writer.add_document(
            id=str(n),
            title=t["title"],
            body=t["body"],
            replies="\n".join(r["body"] for r in t["replies"]),
            conditions=",".join(vocabulary.resolve("condition", c) or c for c in t["conditions"]),
            side_effects=",".join(
                vocabulary.resolve("side_effect", s) or s for s in t.get("side_effects", [])
            ),
        )
    writer.commit()
    build = time.perf_counter() - t0
    print(f"plain whoosh build: {build:.1f} s", flush=True)
    parser = MultifieldParser(["title", "body", "replies"], schema, group=OrGroup.factory(0.9))
    parser.add_plugin(FuzzyTermPlugin())
    searcher = ix.searcher()
    out = {"build": build, "queries": {}}
    for kind, queries in KINDS.items():
        times = []
        for _round in range(3):
            for params in queries:
                text = params["q"]
                if kind == "misspelled":
                    text = " ".join(w + "~1" if len(w) >= 5 else w for w in text.split())
                t0 = time.perf_counter()
                q = parser.parse(text)
                kwargs = {}
                if "condition" in params:
                    q = And([q, Term("conditions", params["condition"])])
                if "side_effect" in params:
                    q = And([q, Term("side_effects", params["side_effect"])])
                    kwargs["groupedby"] = {
                        "conditions": FieldFacet("conditions", allow_overlap=True),
                        "side_effects": FieldFacet("side_effects", allow_overlap=True),
                    }
                results = searcher.search(q, limit=10, terms=True, **kwargs)
                for hit in results:
                    hit.highlights("body")
                if kwargs:
                    results.groups("conditions")
                times.append((time.perf_counter() - t0) * 1000)
        out["queries"][kind] = times
        print(f"plain {kind}: p50 {pct(times, 50):.1f} p95 {pct(times, 95):.1f} ms", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--no-plain", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse the workdir's imported forum")
    ap.add_argument("--no-reindex", action="store_true")
    ap.add_argument("--semantic", choices=("off", "on", "synthetic"), default="off")
    ap.add_argument("--plain-only", action="store_true", help="only the plain-Whoosh figures")
    ap.add_argument("--no-new-post", action="store_true", help="leave the forum unchanged")
    ap.add_argument("--profile", metavar="KIND", help="cProfile a warm round of KIND")
    ap.add_argument(
        "--packs",
        choices=("on", "off"),
        default=None,
        help="SEARCH_PACKS: read postings from the memory-mapped packs (on) or decode them",
    )
    ap.add_argument(
        "--instance",
        type=Path,
        default=None,
        help="measure an existing forum instance folder (no import; e.g. bench/out/forum-100000)",
    )
    args = ap.parse_args()
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory()
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / f"corpus-{args.n}.jsonl"
    if args.instance is None or not args.no_plain:
        generate(args.n, corpus)
    if args.plain_only:
        plain_bench(corpus, args.workdir / f"plain-{time.time_ns()}")
        return
    forum = forum_bench(
        corpus,
        args.workdir / "forum",
        args.procs,
        args.reuse,
        args.no_reindex,
        args.instance,
        args.semantic,
        new_post=not args.no_new_post,
        profile=args.profile,
        packs=None if args.packs is None else args.packs == "on",
    )
    plain = None if args.no_plain else plain_bench(corpus, args.workdir / f"plain-{time.time_ns()}")

    print(f"\n## {args.n:,} threads\n")
    if forum["import"] is None:
        print(f"import: not measured (existing instance {args.instance})")
    else:
        n, took = forum["import"]
        reused = forum.get("import_reused")
        when = " (measured by the run that imported it: --reuse)" if reused else ""
        print(f"import: {n / took:.0f} threads/s ({took:.0f} s, index included){when}")
    if not args.no_reindex:
        print(f"full reindex: {forum['reindex']:.0f} s (procs={args.procs})")
    print(f"app start: {forum['startup']:.0f} s (includes a full rebuild when the schema changed)")
    if plain:
        print(f"plain whoosh build: {plain['build']:.0f} s")
    new = forum["new_post"]
    if new:
        print(f"new post searchable: p50 {pct(new, 50):.0f} ms, p95 {pct(new, 95):.0f} ms")
    print(f"{forum['memory']}\n")
    print("Forum: round 1 in a fresh process (cold) and rounds 2-3 (warm), 20 queries a kind.\n")
    print("| kind | cold p50 | cold p95 | warm p50 | warm p95 | plain p50 | plain p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    every, every_cold = [], []
    for kind, times in forum["queries"].items():
        cold = forum["cold"][kind]
        every += times
        every_cold += cold
        ptimes = plain["queries"][kind] if plain else []
        print(
            f"| {kind} | {pct(cold, 50):.0f} ms | {pct(cold, 95):.0f} ms | "
            f"{pct(times, 50):.0f} ms | {pct(times, 95):.0f} ms | "
            f"{pct(ptimes, 50):.0f} ms | {pct(ptimes, 95):.0f} ms |"
        )
    pall = [t for ts in plain["queries"].values() for t in ts] if plain else []
    print(
        f"| all | {pct(every_cold, 50):.0f} ms | {pct(every_cold, 95):.0f} ms | "
        f"{pct(every, 50):.0f} ms | {pct(every, 95):.0f} ms | "
        f"{pct(pall, 50):.0f} ms | {pct(pall, 95):.0f} ms |"
    )
    if "semantic_on" in forum:
        print("\nSemantic second opinion, same process, warm (rounds 2-3), 20 queries a kind")
        print("(semantic: every query embedded; cached: its vector from the query cache):\n")
        print(
            "| kind | lexical p50 | lexical p95 | semantic p50 | semantic p95 | added p50 "
            "| added p95 | cached p50 | cached p95 |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        every = {"semantic": [], "semantic_on": [], "semantic_cached": []}
        for kind in KINDS:
            off, on = forum["semantic"][kind], forum["semantic_on"][kind]
            cached = forum["semantic_cached"][kind]
            for key in every:
                every[key] += forum[key][kind]
            print(
                f"| {kind} | {pct(off, 50):.1f} ms | {pct(off, 95):.1f} ms | "
                f"{pct(on, 50):.1f} ms | {pct(on, 95):.1f} ms | "
                f"{pct(on, 50) - pct(off, 50):.1f} ms | {pct(on, 95) - pct(off, 95):.1f} ms | "
                f"{pct(cached, 50):.1f} ms | {pct(cached, 95):.1f} ms |"
            )
        off, on, cached = every["semantic"], every["semantic_on"], every["semantic_cached"]
        print(
            f"| all | {pct(off, 50):.1f} ms | {pct(off, 95):.1f} ms | "
            f"{pct(on, 50):.1f} ms | {pct(on, 95):.1f} ms | "
            f"{pct(on, 50) - pct(off, 50):.1f} ms | {pct(on, 95) - pct(off, 95):.1f} ms | "
            f"{pct(cached, 50):.1f} ms | {pct(cached, 95):.1f} ms |"
        )
        added = sorted(a - b for a, b in zip(on, off, strict=True))
        print(
            f"\nadded per query (same query, semantic minus lexical): median "
            f"{pct(added, 50):.1f} ms, p95 {pct(added, 95):.1f} ms"
        )
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
