"""Query understanding against a real index: synonyms, lay words, misspellings,
phrases, exclusion, questions, facets - and any string typed is safe and cheap."""

from __future__ import annotations

import time

import pytest

from forum.search import changes
from forum.search import query as sq
from tests import factories as f


@pytest.fixture
def forum(app):
    a = f.user("poster")
    made = {}

    def t(key, title, body, **kw):
        made[key] = f.thread(a, title=title, body=body, **kw)

    t("hair", "Shedding a lot since month two", "My hairbrush is full, alopecia runs in my family.")
    t("wbc", "Bloods came back odd", "Nurse said my white count dropped to 2.9 so dose halved.")
    t("sick", "Queasy every morning", "I feel queasy after the tablet, splitting the dose helped.")
    t("myco", "Switching to CellCept", "Rheumy suggested cellcept because aza upset my liver.")
    t("lft", "ALT doubled", "My liver enzymes went up after 8 weeks.", conditions=["crohns"])
    t("aza", "How long until it works", "Took about three months for aza to start working for me.")
    t("sun", "Sun cream advice", "Factor 50 every day, even when cloudy, dermatologist said.")
    t("vaccine", "Flu vaccine this autumn", "Had the jab at the pharmacy, no issues.")
    t("bread", "Bread and butter pudding recipe", "Nothing to do with medicine, just dessert.")
    return made


def ids(client, q, **params):
    resp = client.get("/api/v1/search", query_string={"q": q, **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def found(client, q, **params):
    return {r["id"] for r in ids(client, q, **params)["results"]}


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("hair coming out", "hair"),
        ("hair loss", "hair"),
        ("low wbc", "wbc"),
        ("leukopenia", "wbc"),
        ("feel sick", "sick"),
        ("nausea", "sick"),
        ("mycophenolate", "myco"),
        ("MMF", "myco"),
        ("micophenolate", "myco"),
        ("LFTs", "lft"),
        ("raised liver enzymes", "lft"),
        ("imuran", "aza"),
        ("vaccination", "vaccine"),
    ],
)
def test_other_names_find_the_thread(client, forum, q, key):
    assert forum[key].id in found(client, q)


def test_misspelling_finds_and_suggests_a_forum_word(client, forum):
    data = ids(client, "alopicia")
    assert forum["hair"].id in {r["id"] for r in data["results"]}
    data = ids(client, "dermatolgist")
    assert forum["sun"].id in {r["id"] for r in data["results"]}
    assert data["suggestion"] == "dermatologist"


def test_natural_question_ignores_filler(client, forum):
    results = ids(client, "how long before aza starts working?")["results"]
    assert results and results[0]["id"] == forum["aza"].id


def test_quoted_phrase_must_match_exactly(client, forum):
    assert found(client, '"white count"') == {forum["wbc"].id}
    assert found(client, '"count white"') == set()


def test_excluded_word(client, forum):
    with_jab = found(client, "vaccine pharmacy")
    assert forum["vaccine"].id in with_jab
    assert forum["vaccine"].id not in found(client, "vaccine -pharmacy")


def test_tagged_threads_are_boosted_for_a_concept(client, forum):
    a = f.user()
    tagged = f.thread(a, title="Week three update", body="Things are ok.", side_effects=["fatigue"])
    results = ids(client, "exhausted")["results"]
    assert tagged.id in {r["id"] for r in results}


def test_facets_and_filter_keep_the_query(client, forum):
    data = ids(client, "liver")
    assert data["facets"]["conditions"].get("crohns") == 1
    filtered = ids(client, "liver", condition="crohns")
    assert {r["id"] for r in filtered["results"]} == {forum["lft"].id}


def test_title_matches_rank_first(client, forum):
    a = f.user()
    in_body = f.thread(a, title="Week one", body="Mentioned cloudy weather in passing.")
    results = ids(client, "sun cream")["results"]
    assert results[0]["id"] == forum["sun"].id
    assert in_body.id


TORTURE = [
    '"unbalanced quote',
    "((( [[ {{",
    "title:hair body:*",
    "*",
    "?",
    "~",
    "hair~2",
    "a* b* c* d*",
    "'; DROP TABLE threads; --",
    "1 OR 1=1",
    "\x00\x00nul\x00",
    "x" * 10_000,
    " ".join(["word"] * 500),
    " ".join(f"*{chr(97 + i % 26)}*" for i in range(400)),
    "AND OR NOT",
    "-",
    "--",
    '""',
    '"-"',
    "-hair",
    "\u202e\u200b\ufeff",
    "𝔞𝔷𝔞 🙂",
    "<script>alert(1)</script>",
    "%00%27",
    "NOT",
    "hair^1000",
]


@pytest.mark.parametrize("q", TORTURE, ids=[f"torture{n}" for n in range(len(TORTURE))])
def test_any_string_is_safe(client, forum, q):
    for path in ("/search", "/api/v1/search"):
        resp = client.get(path, query_string={"q": q})
        assert resp.status_code == 200, (q, resp.status_code)
    html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html


def test_denial_of_service_strings_stay_cheap(app, client):
    a = f.user()
    words = "hair aza liver rash nausea tired bloods dose week month".split()
    for n in range(200):
        body = " ".join(words[(n + k) % len(words)] + str(n % 7) for k in range(30))
        f.thread(a, title=f"Thread {n} {words[n % 10]}", body=body)
    changes.apply_pending()
    dos = " ".join(f"*{chr(97 + i % 26)}*" for i in range(500))
    parsed = sq.parse(dos)
    assert len(parsed.words) <= sq.MAX_WORDS
    searcher = changes.store().searcher()
    built = sq.build(sq.parse(dos), searcher)
    assert built.size() <= sq.MAX_TERMS
    long = sq.build(sq.parse("azathiprine " * 400), searcher)
    assert long.size() <= sq.MAX_TERMS
    start = time.perf_counter()
    for q in (dos, "x" * 10_000, "azathiprine " * 400, "hair~ " * 100):
        assert client.get("/api/v1/search", query_string={"q": q}).status_code == 200
    assert time.perf_counter() - start < 5.0


def test_long_query_is_truncated_with_a_note(client, forum):
    html = client.get("/search", query_string={"q": "hair " * 300}).get_data(as_text=True)
    assert "only its first words were used" in html
