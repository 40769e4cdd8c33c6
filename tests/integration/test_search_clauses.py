"""Clause results remembered on a searcher (``forum.search.clauses``) change no outcome.

Searches that share a word share that word's clause: its match mask and, once a second
query has used it, its scores over each segment are remembered on the searcher. Every
query here - the engine tests' varied ones (synonyms, misspellings, phrases, exclusions,
filters, natural questions) and pairs and triples of everyday words asked one after the
other, as members do - must give exactly the hits, scores, total and facet counts it
gives with nothing remembered, on pages of 1, 10 and 20 and sorted by date, both with
the top-k pruning as configured and forced on for every query.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from forum.search import changes, clauses, engine, topk
from tests.integration.test_search_engine import (  # the engine tests' indexed corpus
    FACET_FIELDS,
    QUERIES,
    _query,
    corpus,  # noqa: F401
)

WORDS = "tired hair nausea liver rash pregnancy sun blood infection dose headache".split()
SEARCHES = [
    *QUERIES,
    *((" ".join(pair), {}) for pair in itertools.combinations(WORDS, 2)),
    *((" ".join(three), {}) for three in itertools.combinations(WORDS[:6], 3)),
    ("nausea rash", {"condition": "lupus"}),
    ("rash", {}),
    ("nausea", {}),
]
PAGES = ((1, 0, None), (10, 0, None), (20, 10, None), (10, 0, "created"))


def _outcomes(searcher, queries) -> list:
    found = []
    for query in queries:
        for limit, start, sortedby in PAGES:
            searcher.__dict__.pop("_forum_runs", None)  # the whole-query memory: not this
            out = engine.run(
                searcher,
                query,
                limit=limit,
                start=start,
                sortedby=sortedby,
                facet_fields=FACET_FIELDS,
            )
            found.append((out.total, out.hits, out.facets))
    return found


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("forced", [False, True], ids=["topk as configured", "topk forced"])
def test_remembered_clauses_give_the_outcomes_of_evaluating_each_clause(app, monkeypatch, forced):
    if forced:
        monkeypatch.setattr(topk, "_FEW", 0)
        monkeypatch.setattr(topk, "_PROBE_SHARE", 1.0)
    searcher = changes.store().searcher()
    queries = [q for text, filters in SEARCHES if (q := _query(searcher, text, filters))]
    assert len(queries) > 100

    monkeypatch.setattr(clauses, "BYTES", 0)
    fresh = _outcomes(searcher, queries)
    assert not hasattr(searcher, "_forum_clauses")

    monkeypatch.setattr(clauses, "BYTES", 32 * 2**20)
    first = _outcomes(searcher, queries)  # masks kept; scores kept from a clause's 2nd use
    again = _outcomes(searcher, queries)  # every clause answered from memory
    for n, (want, got, got_again) in enumerate(zip(fresh, first, again, strict=True)):
        assert got == want, (n, queries[n // len(PAGES)])
        assert got_again == want, (n, queries[n // len(PAGES)])

    kept = searcher._forum_clauses._items.values()
    scored = [entry for entry, _size in kept if entry.scored is not None]
    assert len(scored) > 50, "clauses were not answered from memory"


@pytest.mark.usefixtures("corpus")
def test_a_remembered_clause_is_cut_to_the_candidates_as_narrowed_postings_are(app):
    """The nausea clause's remembered scores, cut to some candidates, are the scores the
    narrowed evaluation gives them (same documents, same floats)."""
    searcher = changes.store().searcher()
    query = _query(searcher, "nausea", {})
    ev = engine.check(searcher, query)
    compared = 0
    for seg in engine.segments(searcher):
        cand = np.flatnonzero(topk.match(ev, seg, query))[::3]
        if not len(cand):
            continue
        want_ids, want_scores = topk.exact(ev, seg, query, cand)
        narrowed = topk.Narrowed(seg, cand)
        for _ in range(2):  # the second run remembers the clause's scores
            ev.clauses = clauses.Clauses(searcher, query)
            topk.match(ev, seg, query)
            got = ev.eval(narrowed, query)
        ev.clauses = None
        assert len(got.ids) == len(cand)
        assert got.ids.tolist() == want_ids.tolist()
        assert got.scores.tolist() == want_scores.tolist()
        compared += 1
    assert compared


@pytest.mark.usefixtures("corpus")
def test_search_clause_cache_mb_zero_remembers_no_clause(app):
    """``SEARCH_CLAUSE_CACHE_MB = 0`` switches the memory off; the default keeps it."""
    from forum.search import service

    searcher = changes.store().searcher()
    app.config["SEARCH_CLAUSE_CACHE_MB"] = 0
    with app.test_request_context():
        assert service.search("rash nausea").total
    assert not hasattr(searcher, "_forum_clauses")
    del app.config["SEARCH_CLAUSE_CACHE_MB"]
    with app.test_request_context():
        assert service.search("rash nausea liver").total
    assert len(searcher._forum_clauses)


@pytest.mark.usefixtures("corpus")
def test_clause_memory_never_holds_more_than_its_budget(app, monkeypatch):
    """A clause's scores that do not fit the budget serve the search but are not kept:
    every remembered entry is counted at its real size, within the budget."""
    searcher = changes.store().searcher()
    query = _query(searcher, "nausea", {})
    ev = engine.check(searcher, query)
    seg = max(engine.segments(searcher), key=lambda s: np.count_nonzero(topk.match(ev, s, query)))
    cand = np.flatnonzero(topk.match(ev, seg, query))
    want_ids, want_scores = topk.exact(ev, seg, query, cand[::2])
    monkeypatch.setattr(clauses, "BYTES", seg.n + 200 + 8)  # its mask fits, its scores not
    for _ in range(3):
        ev.clauses = clauses.Clauses(searcher, query)
        topk.match(ev, seg, query)
        ids, scores = topk.exact(ev, seg, query, cand[::2])
        assert (ids.tolist(), scores.tolist()) == (want_ids.tolist(), want_scores.tolist())
    kept = searcher._forum_clauses
    assert len(kept) and kept.used <= kept.max_bytes
    for entry, counted in kept._items.values():
        assert counted == entry.nbytes() + 200
