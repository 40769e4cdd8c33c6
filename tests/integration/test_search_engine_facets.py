"""What the engine adds on the page and in the API: experience-report facets and
filters (TPMT, outcome, moved to), the "recently active" sort, exact totals and facet
counts, and snippets that mark content words rather than filler."""

from __future__ import annotations

import re

import pytest

from forum.experiences import service as experiences
from forum.threads import service as threads
from tests import factories as f


def api(client, **params):
    resp = client.get("/api/v1/search", query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def report(user, thread, **values):
    data = {"tpmt": None, "outcome": None, "moved_to": None, "steps": [], "side_effects": []}
    data.update(values, thread_id=thread.id)
    experiences.save_report(user, "lupus", data)


@pytest.fixture
def forum(app):
    made = {}
    for name, tpmt, outcome, moved in (
        ("ada", "intermediate", "stopped", "biologic"),
        ("bea", "normal", "still_taking", None),
        ("cal", "normal", "dose_reduced", None),
    ):
        user = f.user(name)
        made[name] = f.thread(
            user,
            title=f"Pancytopenia scare ({name})",
            body="My counts dropped and the pancytopenia scare meant a pause.",
            conditions=["lupus"],
        )
        values = {"tpmt": tpmt, "outcome": outcome}
        if outcome == "stopped":
            values.update(stop_reason="blood_results", moved_to=moved)
        report(user, made[name], **values)
    made["plain"] = f.thread(
        f.user("dee"),
        title="Pancytopenia question",
        body="Does pancytopenia come back?",
        conditions=["crohns"],
    )
    return made


def test_api_counts_experience_facets_and_filters_by_them(client, forum):
    data = api(client, q="pancytopenia")
    assert data["total"] == 4
    facets = data["facets"]
    assert set(facets) >= {"conditions", "side_effects", "medications"}
    assert facets["tpmt"] == {"normal": 2, "intermediate": 1}
    assert facets["outcome"] == {"dose_reduced": 1, "still_taking": 1, "stopped": 1}
    assert facets["moved_to"] == {"biologic": 1}
    assert facets["conditions"] == {"lupus": 3, "crohns": 1}
    assert facets["medications"] == {"azathioprine": 4}

    narrowed = api(client, q="pancytopenia", tpmt="normal")
    assert narrowed["total"] == 2
    assert {r["id"] for r in narrowed["results"]} == {forum["bea"].id, forum["cal"].id}
    assert narrowed["facets"]["tpmt"] == {"normal": 2}

    only = api(client, outcome="stopped")  # a filter alone, no words
    assert [r["id"] for r in only["results"]] == [forum["ada"].id]
    both = api(client, q="pancytopenia", moved_to="biologic", tpmt="normal")
    assert both["total"] == 0 and both["results"] == []


def test_unknown_experience_value_is_a_clear_400(client, forum):
    for param in ("tpmt", "outcome", "moved_to"):
        resp = client.get("/api/v1/search", query_string={"q": "scare", param: "sometimes"})
        assert resp.status_code == 400, param
        assert "sometimes" in resp.get_data(as_text=True)
    page = client.get("/search", query_string={"q": "scare", "tpmt": "<b>x</b>"})
    assert page.status_code == 400
    assert "<b>x</b>" not in page.get_data(as_text=True)


def test_page_offers_experience_facets_with_labels_and_keeps_the_query(client, forum):
    page = client.get("/search?q=pancytopenia").get_data(as_text=True)
    assert "TPMT result" in page and "Moved on to" in page
    link = re.search(r'<a href="([^"]*tpmt=normal[^"]*)">normal</a>', page)
    assert link, "the TPMT facet links to the filtered search"
    assert "q=pancytopenia" in link.group(1)
    assert ">a biologic</a>" in page  # the experiences package's label, not the slug

    chosen = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "2 questions found" in chosen
    assert "TPMT result: normal" in chosen  # the filter, in words, with a remove link
    assert "Pancytopenia scare (ada)" not in chosen


def test_recently_active_sort_follows_the_latest_reply(client, forum):
    threads.add_reply(f.user("late"), forum["ada"], "Pancytopenia again this week for me.")
    newest = [r["id"] for r in api(client, q="pancytopenia", sort="newest")["results"]]
    active = [r["id"] for r in api(client, q="pancytopenia", sort="activity")["results"]]
    assert newest[0] == forum["plain"].id
    assert active[0] == forum["ada"].id
    assert sorted(newest) == sorted(active)
    page = client.get("/search?q=pancytopenia&sort=activity").get_data(as_text=True)
    assert 'aria-current="page">Recently active<' in page


def test_snippets_mark_content_words_not_filler_from_synonyms(client, app):
    f.thread(
        f.user("erin"),
        title="Brush full every morning",
        body="My hair is coming out in clumps and my parting is wider.",
    )
    hit = api(client, q="hair loss")["results"][0]
    marked = re.findall(r"<mark>([^<]+)</mark>", hit["snippet"])
    assert "hair" in [m.lower() for m in marked]
    assert not {m.lower() for m in marked} & {"my", "out", "is", "in"}
