#!/usr/bin/env python3
"""Search quality on a judged collection: nDCG@10, recall@10 and MRR per query type.

Imports the collection (default ../shared/search-eval, or $SEARCH_EVAL_DIR) into a fresh
instance through the import service, with no demo threads (``LOAD_DEMO_ON_FIRST_START``
off), so the forum ranks the judged threads alone; any result outside the judged set is
counted and printed. It asks the JSON API (/api/v1/search, via the test client) each query
with its condition filter, and prints the forum's figures beside a plain-Whoosh baseline
built in the same run (StemmingAnalyzer on title/body/replies, MultifieldParser with an
OR group of 0.9, as the collection's README describes).

Honest measuring: the queries are split into two fixed halves by query number parity,
odd = "dev" (look at these while developing), even = "held-out" (only report them). Each
half is printed per query type; a change that lifts only the dev half is fitting.

usage: python bench/search_quality.py [--eval-dir DIR] [--per-query] [--semantic on|off]
                                      [--rrf-k K]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = Path(os.environ.get("SEARCH_EVAL_DIR") or ROOT / ".." / "shared" / "search-eval")
HALVES = ("dev", "held-out")
sys.path.insert(0, str(ROOT))


def load(eval_dir: Path) -> tuple[list[str], list[dict]]:
    lines = (eval_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(x) for x in (eval_dir / "queries.jsonl").read_text().splitlines() if x]
    return [x for x in lines if x.strip()], queries


def metrics(ranked: list[str], relevant: dict[str, int]) -> tuple[float, float, float]:
    top = ranked[:10]
    dcg = sum(relevant.get(t, 0) / math.log2(r + 2) for r, t in enumerate(top))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    found = sum(1 for t in top if relevant.get(t, 0) >= 1)
    recall = found / max(1, sum(1 for g in relevant.values() if g >= 1))
    mrr = next((1 / (r + 1) for r, t in enumerate(top) if relevant.get(t, 0) >= 1), 0.0)
    return (dcg / idcg if idcg else 0.0), recall, mrr


def half(qid: str) -> str:
    """The fixed half of a query: odd query numbers are "dev", even are "held-out"."""
    digits = "".join(ch for ch in qid if ch.isdigit())
    return "dev" if digits and int(digits) % 2 else "held-out"


def forum_system(lines: list[str], instance: Path, config: dict | None = None):
    """Import through the forum's own services; return a ranker over the JSON API."""
    from forum import create_app, vocabulary
    from forum.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            **(config or {}),
        }
    )
    ctx = app.app_context()
    ctx.push()
    _import(lines)
    from forum.search import apply_now

    apply_now()
    _embed_pending()
    client = app.test_client()

    def rank(query: dict) -> list[str]:
        params = {"q": query["query"], "per_page": 10}
        if query.get("condition"):
            params["condition"] = vocabulary.resolve("condition", query["condition"])
        resp = client.get("/api/v1/search", query_string=params)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [r["title"] for r in resp.get_json()["results"]]

    def close():
        db.session.remove()
        ctx.pop()

    return rank, close


def _embed_pending() -> None:
    """The import records its threads' semantic vectors as pending (a running forum
    embeds them in the background): compute them now, before any query."""
    try:
        from forum.search import semantic
        from forum.search.changes import store
    except ImportError:
        return
    if not hasattr(semantic, "embed_all_pending"):  # a forum from before deferred vectors
        return
    st = store()
    name = st.current_name()
    if name:
        semantic.embed_all_pending(st.root / name)


def _import(lines: list[str]) -> None:
    try:
        from forum.transfer import import_lines
    except ImportError:  # the importer is not there yet: call the service directly
        import_lines = None
    if import_lines is not None:
        report = import_lines(lines)
        problems = getattr(report, "errors", None) or getattr(report, "skipped", None)
        if problems:
            print(f"import problems: {problems}", file=sys.stderr)
        return
    from datetime import datetime

    from forum.extensions import db
    from forum.models import User
    from forum.threads.service import create_thread

    users: dict[str, User] = {}

    def user(name: str) -> User:
        if name not in users:
            u = User(display_name=name[:40], name_key=name.lower()[:40])
            db.session.add(u)
            db.session.flush()
            users[name] = u
        return users[name]

    def when(s):
        return datetime.fromisoformat(s.replace("Z", "")) if s else None

    for line in lines:
        t = json.loads(line)
        replies = [(user(r["author"]), r["body"], when(r.get("created"))) for r in t["replies"]]
        create_thread(
            user(t["author"]),
            t["title"],
            t["body"],
            t["conditions"],
            t.get("side_effects", []),
            t.get("medications", []),
            created=when(t.get("created")),
            replies=replies,
        )


def baseline_system(lines: list[str], directory: Path):
    """Plain Whoosh as the collection's README describes (whoosh-or)."""
    from whoosh import fields, index
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.qparser import MultifieldParser, OrGroup
    from whoosh.query import And, Term

    schema = fields.Schema(
        title=fields.TEXT(analyzer=StemmingAnalyzer(), stored=True),
        body=fields.TEXT(analyzer=StemmingAnalyzer()),
        replies=fields.TEXT(analyzer=StemmingAnalyzer()),
        conditions=fields.KEYWORD(commas=True, lowercase=True),
    )
    ix = index.create_in(str(directory), schema)
    writer = ix.writer()
    for line in lines:
        t = json.loads(line)
        writer.add_document(
            title=t["title"],
            body=t["body"],
            replies="\n".join(r["body"] for r in t["replies"]),
            conditions=",".join(c.lower() for c in t["conditions"]),
        )
    writer.commit()
    parser = MultifieldParser(["title", "body", "replies"], schema, group=OrGroup.factory(0.9))
    searcher = ix.searcher()

    def rank(query: dict) -> list[str]:
        q = parser.parse(query["query"])
        if query.get("condition"):
            q = And([q, Term("conditions", query["condition"].lower())])
        return [hit["title"] for hit in searcher.search(q, limit=10)]

    return rank, searcher.close


def _means(ms: list[tuple[float, float, float]]) -> tuple:
    return tuple(sum(v[i] for v in ms) / len(ms) for i in range(3)) + (len(ms),)


def evaluate(
    eval_dir: Path = DEFAULT_EVAL, systems=("forum", "plain-whoosh"), config: dict | None = None
) -> dict:
    """{system: {type: (nDCG, recall, MRR, n)}, "halves": {system: {half: {type: ...}}},
    "per_query": {system: {qid: (nDCG, R, MRR, query, top 3)}},
    "outside": {system: results (of all top 10s) that are not judged-collection threads}}."""
    lines, queries = load(Path(eval_dir))
    titles = {json.loads(line)["title"] for line in lines}
    out: dict = {"per_query": {}, "halves": {}, "outside": {}}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        makers = {
            "forum": lambda: forum_system(lines, Path(tmp) / "instance", config),
            "plain-whoosh": lambda: baseline_system(lines, _mkdir(Path(tmp) / "plain")),
        }
        for name in systems:
            rank, close = makers[name]()
            try:
                per_type = defaultdict(list)
                per_half = {h: defaultdict(list) for h in HALVES}
                per_query = {}
                outside = 0
                for query in queries:
                    ranked = rank(query)
                    outside += sum(1 for t in ranked[:10] if t not in titles)
                    m = metrics(ranked, query["relevant"])
                    for table in (per_type, per_half[half(query["qid"])]):
                        table[query["type"]].append(m)
                        table["all"].append(m)
                    per_query[query["qid"]] = (*m, query["query"], ranked[:3])
                out[name] = {t: _means(ms) for t, ms in per_type.items()}
                out["halves"][name] = {
                    h: {t: _means(ms) for t, ms in table.items()} for h, table in per_half.items()
                }
                out["per_query"][name] = per_query
                out["outside"][name] = outside
            finally:
                close()
    return out


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


ORDER = ["lexical", "mismatch", "misspelled", "condition", "question", "all"]


def _types(table: dict) -> list[str]:
    return [t for t in ORDER if t in table] + sorted(set(table) - set(ORDER))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    ap.add_argument("--per-query", action="store_true", help="print every query's figures")
    ap.add_argument(
        "--semantic", choices=("on", "off"), default="on", help="the semantic second opinion"
    )
    ap.add_argument("--rrf-k", type=int, default=60, help="reciprocal rank fusion's k")
    args = ap.parse_args()
    if not (args.eval_dir / "corpus.jsonl").exists():
        sys.exit(f"no judged collection at {args.eval_dir} (use --eval-dir or SEARCH_EVAL_DIR)")
    config = {"SEARCH_SEMANTIC": args.semantic == "on", "SEARCH_SEMANTIC_RRF_K": args.rrf_k}
    result = evaluate(args.eval_dir, config=config)
    if args.semantic == "on":
        from forum.search.semantic.model import ModelUnavailable, model_for

        try:
            print(f"semantic second opinion: on, model {model_for(config).id}, k={args.rrf_k}")
        except ModelUnavailable as exc:
            print(f"semantic second opinion: OFF ({exc})")
    else:
        print("semantic second opinion: off")
    print("| system | half | type | n | nDCG@10 | R@10 | MRR |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for system in ("plain-whoosh", "forum"):
        for name, table in [("both", result[system]), *result["halves"][system].items()]:
            for t in _types(table):
                ndcg, rec, mrr, n = table[t]
                label = f"**{t}**" if t == "all" else t
                print(f"| {system} | {name} | {label} | {n} | {ndcg:.3f} | {rec:.3f} | {mrr:.3f} |")
    for system in ("plain-whoosh", "forum"):
        print(f"{system}: {result['outside'][system]} top-10 results outside the judged set")
    if args.per_query:
        for name in HALVES:
            print(f"\nper query, {name} half (forum, plain Whoosh in brackets):")
            for qid, (ndcg, rec, _mrr, text, top) in result["per_query"]["forum"].items():
                if half(qid) != name:
                    continue
                base = result["per_query"]["plain-whoosh"][qid][0]
                print(f"{qid} nDCG {ndcg:.2f} (plain {base:.2f}) R {rec:.2f} {text!r} -> {top}")


if __name__ == "__main__":
    main()
