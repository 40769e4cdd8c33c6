"""The vectorised search engine against whoosh itself, on a real index.

The demo forum and the judged search-eval collection are imported through the import
service, some threads are edited and one deleted (so older segments carry deletions),
and then, for a few dozen varied queries built exactly as the search page builds them,
``engine.run`` must give whoosh's exhaustive ranking (``searcher.search(limit=None)``),
score for score to 1e-4, the exact total, the facet counts whoosh's postings give, and
the order of whoosh's sorted search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forum.demo import load_demo
from forum.search import (
    apply_now,
    blocks,
    changes,
    engine,
    packs,
    segment,
    service,
    spelling,
    topk,
)
from forum.search.query import parse
from forum.search.segment import write_packs
from forum.search.service import FILTER_FIELDS, Results
from forum.threads import service as threads
from forum.transfer import import_lines
from tests import factories as f
from tests import shared_data

ROOT = Path(__file__).resolve().parents[2]
EVAL_CORPUS = shared_data.search_eval_dir() / "corpus.jsonl"
FACET_FIELDS = tuple(FILTER_FIELDS.values())

QUERIES: list[tuple[str, dict[str, str]]] = [
    # plain words and synonyms
    ("rash", {}),
    ("hair thinning", {}),
    ("hair coming out", {}),
    ("low wbc", {}),
    ("white count dropped", {}),
    ("feel sick", {}),
    ("imuran", {}),
    ("mmf", {}),
    ("liver enzymes raised", {}),
    ("tired", {}),
    ("azathioprine", {}),
    ("aza", {}),
    ("night sweats", {}),
    ("cold sores", {}),
    ("tonsillitis", {}),
    ("stomach flu", {}),
    ("arthralgia", {}),
    # misspellings
    ("azathiprine nausia", {}),
    ("micophenolate", {}),
    ("nuetrophils low", {}),
    ("immunosupressed warts", {}),
    ("ulcerative colitus flare", {}),
    # phrases, alone and with words, and exclusion
    ('"night sweats"', {}),
    ('"flu jab"', {}),
    ('"blood tests" monthly', {}),
    ('"side effects"', {}),
    ('"white count" "liver"', {}),
    ('"no such phrase anywhere"', {}),
    ('"night sweats" "cold sores"', {}),
    ('"side effects" hair -"thinning"', {}),
    (
        "rash itch hair loss tired nausea liver enzymes white count flu jab sun cream "
        "tattoo covid vaccine antibiotics pregnancy alcohol blood tests dose split",
        {},
    ),
    ("rash -itchy", {}),
    ('infection -"chest"', {}),
    ("-pregnancy vaccine", {}),
    # natural questions and filler
    ("how long does aza take to work", {}),
    ("can I get a tattoo while on azathioprine", {}),
    ("does azathioprine interact with antibiotics", {}),
    ("what is it", {}),
    # concepts as one term: light words, question phrasing, drug classes and members
    ("always really tired", {}),
    ("how long does a rash last", {}),
    ("any side effects of the dose", {}),
    ("biologics", {}),
    ("steroids taper", {}),
    ("anti-tnf humira", {}),
    ("ppi with aza", {}),
    ("adalimumav", {}),
    # filters: alone, with words, several
    ("", {"condition": "lupus"}),
    ("", {"side_effect": "nausea", "medication": "azathioprine"}),
    ("rash", {"condition": "lupus"}),
    ("infection", {"condition": "kidney-transplant"}),
    ("joint pain", {"condition": "rheumatoid-arthritis"}),
    ("fatigue", {"side_effect": "fatigue"}),
    ("bloods", {"side_effect": "low-white-count", "condition": "crohns"}),
    ("", {"tpmt": "normal"}),
    ("tired", {"outcome": "stopped"}),
]


def _expected_facets(searcher, docs: set[int]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for fieldname in FACET_FIELDS:
        found = counts.setdefault(fieldname, {})
        for value in searcher.lexicon(fieldname):
            n = sum(1 for d in searcher.postings(fieldname, value).all_ids() if d in docs)
            if n:
                found[value.decode()] = n
    return counts


def _assert_same_ranking(got, expected, k):
    """Same scores position by position, and every returned document carries its own
    whoosh score: the order can differ only between documents of equal score."""
    want = sorted(expected, key=lambda ds: (-ds[1], ds[0]))[:k]
    assert len(got) == len(want)
    for (_gd, gs), (_wd, ws) in zip(got, want, strict=True):
        assert gs == pytest.approx(ws, abs=1e-4)
    own = dict(expected)
    assert len({d for d, _s in got}) == len(got)
    for docnum, score in got:
        assert docnum in own
        assert score == pytest.approx(own[docnum], abs=1e-4)


@pytest.fixture
def corpus(app):
    report = load_demo()
    assert report is not None
    # The judged collection, when it is beside the checkout, adds variety; the queries
    # below have matches without it too (a fresh clone runs these tests in full).
    if shared_data.available(EVAL_CORPUS):
        lines = [x for x in EVAL_CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]
        import_lines(lines)
    apply_now()
    # Edits and a deletion leave deleted documents in the older segments.
    from forum.extensions import db
    from forum.models import Thread

    ids = db.session.scalars(db.select(Thread.id).order_by(Thread.id).limit(6)).all()
    for thread_id in ids[:4]:
        t = db.session.get(Thread, thread_id)
        threads.edit_post(t.question.author, t.question, t.question.body + " Rash update.")
    gone = db.session.get(Thread, ids[4])
    threads.delete_post(gone.question.author, gone.question)
    f.thread(f.user("late_poster"), title="Rash and night sweats", body="Itchy rash at night.")
    f.thread(
        f.user("new_kidney"),
        title="Chest infection a year after my transplant",
        body="Third infection this winter on aza and tacrolimus; is that usual?",
        conditions=("kidney-transplant",),
    )
    apply_now()
    return {"deleted": ids[4]}


def test_engine_matches_whoosh_on_a_real_index(app, corpus):
    searcher = changes.store().searcher()
    engine.cache.clear()
    _compare_with_whoosh(searcher, corpus)


def test_facet_counts_without_bitmaps_are_the_same(app, corpus, monkeypatch):
    """Facet values too many for per-value bitmaps are counted with a bincount instead."""
    monkeypatch.setattr(segment, "FACET_BITS_MAX", 0)
    engine.cache.clear()
    _compare_with_whoosh(changes.store().searcher(), corpus)


def test_a_search_repeated_on_one_searcher_is_remembered_and_a_copy(app, corpus):
    searcher = changes.store().searcher()
    query = _query(searcher, "aza")
    first = engine.run(searcher, query, limit=10, facet_fields=FACET_FIELDS)
    total = first.total
    first.hits.clear()
    first.facets.clear()
    again = engine.run(searcher, query, limit=10, facet_fields=FACET_FIELDS)
    assert len(searcher._forum_runs) == 1
    assert again.hits and again.facets[FACET_FIELDS[0]]
    assert again.total == total


def test_engine_reads_postings_packs_with_the_same_results(app, corpus, monkeypatch):
    """Every segment gets a postings pack (every list packed, however short); searches
    then read the lists from the packs and still give whoosh's ranking, totals and
    facets. Phrases read their positions from the packs too: whoosh's posting values
    are never decoded. A damaged pack is ignored (the lists are decoded from whoosh
    again)."""
    monkeypatch.setattr(packs, "MIN_POSTINGS", 1)
    searcher = changes.store().searcher()
    storage = engine.segments(searcher)[0].reader.storage()
    assert write_packs(storage, searcher.schema, _whoosh_segments(searcher))
    packs.forget()
    fmt = searcher.schema["content"].format
    for seg in engine.segments(searcher):
        pack = seg.pack()
        assert pack is not None and pack.has_positions
        for word in (b"rash", b"night", b"sweat", b"aza", b"the"):
            if ("content", word) in seg.reader:
                ids, _weights = pack.postings("content", word)
                assert np.array_equal(ids, seg._decode("content", word).ids)
                every = np.arange(len(ids))
                owner, pos = pack.positions("content", word, every[::-1])  # any order
                m = seg._raw_matcher("content", word)
                want = []
                while m.is_active():
                    want.append(fmt.decode_positions(m.value()))
                    m.next()
                got: list[list[int]] = [[] for _ in ids]
                for o, p in zip(owner.tolist(), pos.tolist(), strict=True):
                    got[len(ids) - 1 - o].append(p)
                assert got == want, word
    engine.cache.clear()
    _compare_with_whoosh(searcher, corpus)
    assert not [key for key in engine.cache._items if key[0] == "v"], "values decoded"

    # A pack cut short is not read: the search decodes whoosh's own postings.
    folder = Path(storage.folder)
    for path in folder.glob("*.fpk"):
        path.write_bytes(path.read_bytes()[:-5])
    packs.forget()
    assert all(seg.pack() is None for seg in engine.segments(searcher))
    out = engine.run(searcher, _query(searcher, "rash"), limit=10)
    assert out.total and out.hits


def test_top_k_scores_only_candidates_yet_ranks_like_whoosh(app, corpus, monkeypatch):
    """MaxScore (``topk``) sets aside the matches that cannot reach the page: forced on
    for every query here (even small ones), pages of 1, 3 and 10 are whoosh's ranking,
    and for some queries far fewer documents were scored than matched."""
    monkeypatch.setattr(topk, "_FEW", 0)
    monkeypatch.setattr(topk, "_PROBE_SHARE", 1.0)
    scored, matched = [], []
    real = topk.candidates

    def spy(ev, seg, q, visible, k):
        cand = real(ev, seg, q, visible, k)
        scored.append(len(cand))
        matched.append(int(np.count_nonzero(visible)))
        return cand

    monkeypatch.setattr(topk, "candidates", spy)
    searcher = changes.store().searcher()
    pruned = 0
    for text, filters in QUERIES:
        query = _query(searcher, text, filters)
        if query is None:
            continue
        expected = [(h.docnum, h.score) for h in searcher.search(query, limit=None)]
        for k in (1, 3, 10):
            scored.clear()
            matched.clear()
            out = engine.run(searcher, query, limit=k, facet_fields=FACET_FIELDS)
            assert out.total == len(expected), text
            _assert_same_ranking(out.hits, expected, k)
            pruned += sum(scored) < sum(matched) // 2
    assert pruned >= 8


def test_term_bounds_remembered_on_a_searcher_rank_as_bounds_read_afresh(app, corpus, monkeypatch):
    """Each term's upper bound is remembered on the searcher (``topk._term_bound``: a
    searcher never changes), so later searches sharing a word skip reading it: pages of
    1 and 10 for every query are the same whether the bounds were remembered by earlier
    queries or read afresh, and a remembered bound is the one read afresh."""
    monkeypatch.setattr(topk, "_FEW", 0)
    monkeypatch.setattr(topk, "_PROBE_SHARE", 1.0)
    searcher = changes.store().searcher()
    compared = 0
    for text, filters in QUERIES:
        query = _query(searcher, text, filters)
        if query is None:
            continue
        for k in (1, 10):
            searcher.__dict__.pop("_forum_runs", None)
            kept = searcher.__dict__.pop("_forum_bounds", {})
            fresh = engine.run(searcher, query, limit=k, facet_fields=FACET_FIELDS)
            searcher.__dict__.pop("_forum_runs", None)
            searcher._forum_bounds = {**kept, **searcher.__dict__.get("_forum_bounds", {})}
            again = engine.run(searcher, query, limit=k, facet_fields=FACET_FIELDS)
            assert (again.total, again.hits, again.facets) == (
                fresh.total,
                fresh.hits,
                fresh.facets,
            ), text
            compared += 1
    bounds = searcher._forum_bounds
    assert compared > 40 and len(bounds) > 50
    ev = engine.check(searcher, _query(searcher, "rash"))
    by_key = {seg.key: seg for seg in engine.segments(searcher)}
    for (seg_key, fieldname, text), bound in list(bounds.items())[:200]:
        assert topk._read_bound(ev, by_key[seg_key], fieldname, text) == bound


def test_pack_index_command_packs_an_existing_index(app, client, corpus, monkeypatch):
    """An index built before packs existed gets them from `flask forum pack-index`
    (segments of PACK_MIN_DOCS documents or more), and searches give the same page."""
    from forum.search import rebuild

    monkeypatch.setattr(rebuild, "PACK_MIN_DOCS", 1)
    monkeypatch.setattr(packs, "RETRY_SECONDS", 0.0)
    before = [_api(client, q=q) for q in ("rash", '"night sweats"', "aza")]
    result = app.test_cli_runner().invoke(args=["forum", "pack-index"])
    assert result.exit_code == 0, result.output
    assert "postings pack(s)" in result.output
    searcher = changes.store().searcher()
    assert all(seg.pack() is not None for seg in engine.segments(searcher))
    engine.cache.clear()
    assert [_api(client, q=q) for q in ("rash", '"night sweats"', "aza")] == before
    again = app.test_cli_runner().invoke(args=["forum", "pack-index"])
    assert "Wrote 0 postings pack(s)" in again.output

    # A pack written before packs held positions is written again, with them.
    # The packs of the segments in use (a segment merged away keeps its files for a
    # while, so the folder may hold packs nobody reads).
    ix = changes.store().open_index()
    paths = [packs.pack_path(ix.storage.folder, s.segment_id()) for s in ix._segments()]
    assert paths and all(p.exists() for p in paths)
    searcher = changes.store().searcher()
    for path in paths:
        _strip_positions(path)
    packs.forget()
    assert not any(seg.pack().has_positions for seg in engine.segments(searcher))
    engine.cache.clear()
    assert [_api(client, q=q) for q in ("rash", '"night sweats"', "aza")] == before
    third = app.test_cli_runner().invoke(args=["forum", "pack-index"])
    assert f"Wrote {len(paths)} postings pack(s)" in third.output
    packs.forget()
    assert all(seg.pack().has_positions for seg in engine.segments(searcher))
    assert [_api(client, q=q) for q in ("rash", '"night sweats"', "aza")] == before


def _strip_positions(path: Path) -> None:
    """Rewrite a pack as packs were written before they held positions: the same
    arrays, a header without ``pos`` and entries of four items."""
    import json

    raw = path.read_bytes()
    end = len(raw) - len(packs.MAGIC)
    size = int.from_bytes(raw[end - 8 : end], "little")
    header = json.loads(raw[end - 8 - size : end - 8])
    del header["pos"]
    for terms in header["terms"].values():
        for term, entry in terms.items():
            terms[term] = entry[:4]
    new = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(raw[: end - 8 - size] + new + len(new).to_bytes(8, "little") + packs.MAGIC)


def _whoosh_segments(searcher):
    reader = searcher.reader()
    leaves = [reader] if reader.is_atomic() else [r for r, _o in reader.leaf_readers()]
    return [leaf.segment() for leaf in leaves]


def _query(searcher, text: str, filters: dict[str, str] | None = None):
    filters = filters or {}
    res = Results(q=text, filters={kind: filters.get(kind) for kind in FILTER_FIELDS})
    query, _built = service._whoosh_query(parse(text), res, searcher)
    return query


def _compare_with_whoosh(searcher, corpus):
    leaves = searcher.reader().leaf_readers() if not searcher.reader().is_atomic() else []
    assert any(r.has_deletions() for r, _o in leaves), "the corpus should carry deletions"
    compared = 0
    for text, filters in QUERIES:
        query = _query(searcher, text, filters)
        if query is None:
            continue
        expected = [(h.docnum, h.score) for h in searcher.search(query, limit=None)]
        for _cold_then_cached in (1, 2):
            searcher.__dict__.pop("_forum_runs", None)  # evaluate, not the remembered outcome
            out = engine.run(searcher, query, limit=30, facet_fields=FACET_FIELDS)
            assert out.total == len(expected), text
            _assert_same_ranking(out.hits, expected, 30)
            docs = {d for d, _s in expected}
            assert out.facets == _expected_facets(searcher, docs), text
        ids = {searcher.stored_fields(d)["id"] for d, _s in out.hits}
        assert "__meta__" not in ids and str(corpus["deleted"]) not in ids
        for column in ("created", "helpful_count"):
            got = engine.run(searcher, query, limit=15, sortedby=column)
            want = searcher.search(query, limit=15, sortedby=column, reverse=True)
            keys = searcher.reader().column_reader(column)
            assert [keys[d] for d, _s in got.hits] == [keys[h.docnum] for h in want], text
        compared += 1
    assert compared >= 40

    # Pages continue where the previous page ended.
    query = _query(searcher, "aza")
    whole = engine.run(searcher, query, limit=40).hits
    assert len(whole) == 40
    pages = [engine.run(searcher, query, limit=10 * p, start=10 * (p - 1)).hits for p in (1, 2)]
    pages += [engine.run(searcher, query, limit=40, start=20).hits]
    assert pages[0] + pages[1] + pages[2] == whole


def test_unsupported_queries_are_declined_before_any_work(app):
    from whoosh import query as wq

    f.thread(f.user(), title="Rash and night sweats", body="Itchy rash.")
    searcher = changes.store().searcher()
    for query in (
        wq.Prefix("content", "rash"),
        wq.Or([wq.Term("content", "rash"), wq.Term("content", "itch")], scale=0.9),
        wq.Phrase("content", ["night", "sweat"], slop=3),
        wq.And([wq.Term("content", "rash"), wq.Every()]),
    ):
        with pytest.raises(engine.Unsupported):
            engine.run(searcher, query, limit=10)


def _api(client, **params):
    resp = client.get("/api/v1/search", query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    return [r["id"] for r in data["results"]], data["total"], data["facets"]


def test_search_falls_back_to_whoosh_with_the_same_results(app, client, corpus, monkeypatch):
    cases = [
        {"q": "rash"},
        {"q": "hair coming out", "per_page": 5, "page": 2},
        {"q": '"night sweats"'},
        {"q": "infection", "condition": "kidney-transplant"},
        {"q": "", "condition": "lupus"},
        {"q": "rash -itchy", "sort": "newest"},
    ]
    with_engine = [_api(client, **params) for params in cases]
    assert all(total for _ids, total, _facets in with_engine)

    def decline(*_args, **_kwargs):
        raise engine.Unsupported("declined for the test")

    monkeypatch.setattr(engine, "run", decline)
    with_whoosh = [_api(client, **params) for params in cases]
    assert with_whoosh == with_engine


def test_positions_and_spelling_candidates_match_whoosh(app, corpus):
    """Phrase checks read positions with a batched decoder, and misspellings draw
    candidates from cached word tables: both must give what whoosh's own code gives."""
    from whoosh.support.levenshtein import damerau_levenshtein

    searcher = changes.store().searcher()
    fmt = searcher.schema["content"].format
    checked = 0
    for seg in engine.segments(searcher):
        for word in (b"blood", b"rash", b"night", b"sweat", b"aza", b"dose", b"the"):
            if ("content", word) not in seg.reader:
                continue
            post = seg.postings("content", word)
            owner, pos = seg.positions("content", word, np.arange(len(post.ids)))
            got: list[list[int]] = [[] for _ in post.ids]
            for o, p in zip(owner.tolist(), pos.tolist(), strict=True):
                got[o].append(p)
            m = seg._raw_matcher("content", word)
            want = []
            while m.is_active():
                want.append(fmt.decode_positions(m.value()))
                m.next()
            assert got == want, word
            checked += len(want)
    assert checked > 100

    reader = searcher.reader()
    spell = searcher.schema["content"].spelling_fieldname("content")
    words = {
        searcher.schema[spell].from_bytes(b)
        for leaf, _o in (reader.leaf_readers() if not reader.is_atomic() else [(reader, 0)])
        for b in leaf.lexicon(spell)
    }
    for typo in ("azathiprine", "nausia", "micophenolate", "tonsilitis", "sweets", "rsh"):
        maxdist = 1 if len(typo) <= 7 else 2
        want = sorted(
            w
            for w in words
            if w[:1] == typo[:1] and damerau_levenshtein(w, typo, limit=maxdist) <= maxdist
        )
        assert spelling.terms_within(reader, "content", typo, maxdist, prefix=1) == want, typo


def test_block_parser_reads_ids_and_weights_like_unpickling(app, corpus, monkeypatch):
    """Long posting lists skip unpickling their values; every block must still give
    the ids and weights whoosh's own reading gives (forced here for short lists too)."""
    monkeypatch.setattr(blocks, "FAST_BLOCKS", 1)
    searcher = changes.store().searcher()
    checked = 0
    for seg in engine.segments(searcher):
        for fieldname in ("title", "content", "names", "concepts", "conditions", "tpmt", "id"):
            for tbytes in seg.reader.lexicon(fieldname):
                fast = seg._decode(fieldname, tbytes)
                slow, _values = seg._decode(fieldname, tbytes, with_values=True)
                assert np.array_equal(fast.ids, slow.ids), (fieldname, tbytes)
                for post in (fast, slow):
                    if post.weights is None:
                        post.weights = np.ones(len(post.ids), np.float32)
                assert np.array_equal(fast.weights, slow.weights), (fieldname, tbytes)
                checked += 1
    assert checked > 2000


def _pack_resident_kb() -> int:
    """Resident kB of this process's mappings of postings packs (/proc/self/smaps)."""
    total, in_pack = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                in_pack = line.rstrip().removesuffix(" (deleted)").endswith(f".{packs.EXT}")
            elif in_pack and first == "Rss:":
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc (Linux)")
def test_a_search_leaves_no_pack_pages_resident(app, client, corpus, monkeypatch):
    """Pages a search reads from the memory-mapped packs count towards the worker's
    resident size; after the search they are handed back (they stay in the page cache),
    so a worker does not grow towards the packs' size. Switched off, they stay."""
    monkeypatch.setattr(packs, "MIN_POSTINGS", 1)
    assert _api(client, q="rash")[1]  # the index as the search page sees it, changes applied
    searcher = changes.store().searcher()
    storage = engine.segments(searcher)[0].reader.storage()
    assert write_packs(storage, searcher.schema, _whoosh_segments(searcher))
    packs.forget()
    engine.cache.clear()
    app.config["SEARCH_PACK_RELEASE"] = False
    kept = _api(client, q='"night sweats" rash tired')
    assert kept[1] and _pack_resident_kb() > 0
    app.config["SEARCH_PACK_RELEASE"] = True
    assert _api(client, q="aza tired")[1]
    assert _pack_resident_kb() == 0
