"""Search against a real index: what a person sees after writing, editing, deleting."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forum.extensions import db
from forum.models import SearchChange, Thread
from forum.search import applier, changes
from forum.search.index import read_meta
from forum.services import commit, record_search_change
from forum.threads import service
from tests import factories as f


def api(client, **params):
    resp = client.get("/api/v1/search", query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def titles(client, q, **params):
    return [r["title"] for r in api(client, q=q, **params)["results"]]


@pytest.fixture
def author(app):
    return f.user("asker")


def test_new_thread_is_searchable_at_once(client, author):
    f.thread(author, title="Hair thinning three months in", body="Brush full of hair.")
    assert titles(client, "thinning") == ["Hair thinning three months in"]


def test_reply_text_is_searchable(client, author):
    t = f.thread(author, title="Question about bloods", body="Monthly tests.")
    service.add_reply(f.user(), t, "My rheumatologist checks the lymphocytes too.")
    assert titles(client, "lymphocytes") == ["Question about bloods"]


def test_edit_replaces_old_words(client, author):
    t = f.thread(author, title="Strange taste", body="Metallic taste since the dose went up.")
    service.edit_post(author, t.question, "Bitter taste, now gone.", title="Taste change")
    assert titles(client, "metallic") == []
    assert titles(client, "bitter") == ["Taste change"]


def test_deleted_reply_text_and_deleted_thread_disappear(client, author):
    t = f.thread(author, title="Sunscreen brands", body="Which factor do you use?")
    replier = f.user()
    reply = service.add_reply(replier, t, "Factor fifty mineral cream from the chemist.")
    assert titles(client, "mineral") == ["Sunscreen brands"]
    service.delete_post(replier, reply)
    assert titles(client, "mineral") == []
    service.delete_post(author, t.question)
    assert titles(client, "sunscreen") == []


def test_hidden_thread_disappears_and_returns(client, author):
    t = f.thread(author, title="Holiday insurance", body="Declaring aza on travel cover.")
    t.is_hidden = True
    record_search_change([t.id])
    commit()
    assert titles(client, "insurance") == []
    t.is_hidden = False
    record_search_change([t.id])
    commit()
    assert titles(client, "insurance") == ["Holiday insurance"]


def test_results_come_from_the_database_even_when_the_index_lags(app, client, author):
    t = f.thread(author, title="Pharmacy ran out", body="Shortage of tablets.")
    # Hide without recording a change: the index still has the thread.
    db.session.execute(Thread.__table__.update().values(is_hidden=True))
    db.session.commit()
    data = api(client, q="shortage")
    assert data["results"] == []
    assert t.id


def test_rolled_back_transaction_never_reaches_the_index(app, client, author):
    t = f.thread(author, title="Vitamin D levels", body="Low vitamin D on aza?")
    t.title = "Rolled back title zebra"
    record_search_change([t.id])
    db.session.flush()
    db.session.rollback()
    changes.apply_pending()
    assert titles(client, "zebra") == []
    assert titles(client, "vitamin") == ["Vitamin D levels"]


def test_helpful_count_reaches_index_and_sorts(client, author):
    a = f.thread(author, title="Fatigue tips one", body="Pacing helps fatigue.")
    b = f.thread(author, title="Fatigue tips two", body="Naps help fatigue.")
    helper = f.user()
    reply = service.add_reply(helper, b, "Short walks.")
    service.mark_helpful(author, reply)
    assert titles(client, "fatigue", sort="helpful")[0] == "Fatigue tips two"
    assert titles(client, "fatigue", sort="newest")[0] == "Fatigue tips two"
    assert a.id < b.id


def test_meta_records_last_applied_change(app, author):
    f.thread(author, title="Anything", body="Text.")
    newest = db.session.scalar(select(SearchChange.id).order_by(SearchChange.id.desc()))
    assert applier.wait_for_applier(app)  # the index is written in the background
    meta = read_meta(changes.store().searcher())
    assert meta["applied"] == newest


def test_api_shape(client, author):
    f.thread(
        author,
        title="Night sweats on aza",
        body="Soaked sheets every night.",
        conditions=["crohns"],
        side_effects=["fatigue"],
    )
    data = api(client, q="night sweats", per_page=5)
    assert data["total"] == 1
    (hit,) = data["results"]
    assert set(hit) >= {"id", "title", "url", "snippet", "conditions", "side_effects"}
    assert {"medications", "score"} <= set(hit)
    assert hit["url"].startswith(f"/t/{hit['id']}")
    assert "<mark" in hit["snippet"]
    assert data["facets"]["conditions"] == {"crohns": 1}
    assert data["facets"]["side_effects"] == {"fatigue": 1}
    assert data["facets"]["medications"] == {"azathioprine": 1}
    assert "suggestion" in data


def test_api_rejects_unknown_slug_and_bad_numbers(client):
    resp = client.get("/api/v1/search?q=rash&condition=not-a-condition")
    assert resp.status_code == 400
    assert "not-a-condition" in resp.get_json()["message"]
    assert client.get("/api/v1/search?q=rash&page=abc").status_code == 400
    data = client.get("/api/v1/search?q=rash&per_page=1000").get_json()
    assert data["per_page"] == 100


def test_snippet_is_escaped(client, author):
    f.thread(author, title="Odd characters", body="<script>alert(1)</script> rash on arms")
    html = client.get("/search?q=rash").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "<mark" in html


def test_page_shows_result_details_and_filters(client, author):
    f.thread(author, title="Rash on UC", body="Spots on arms.", conditions=["ulcerative-colitis"])
    f.thread(author, title="Rash with lupus", body="Butterfly rash.", conditions=["lupus"])
    html = client.get("/search?q=rash").get_data(as_text=True)
    assert "2 questions found" in html
    assert "condition=ulcerative-colitis" in html  # facet link keeps the query
    assert "q=rash" in html
    html = client.get("/search?q=rash&condition=lupus").get_data(as_text=True)
    assert "1 question found" in html
    assert "Butterfly" in html and "Spots on arms" not in html


def test_condition_filter_without_words_lists_that_condition(client, author):
    f.thread(author, title="Kidney news", body="Creatinine fine.", conditions=["kidney-transplant"])
    f.thread(author, title="Lupus news", body="All fine.", conditions=["lupus"])
    data = api(client, condition="kidney-transplant")
    assert [r["title"] for r in data["results"]] == ["Kidney news"]


def test_pagination(client, author):
    for n in range(25):
        f.thread(author, title=f"Mouth ulcer story {n}", body="Ulcers again.")
    first = api(client, q="ulcer", per_page=10)
    third = api(client, q="ulcer", per_page=10, page=3)
    assert first["total"] == 25
    assert len(first["results"]) == 10 and len(third["results"]) == 5
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in third["results"]}
    html = client.get("/search?q=ulcer").get_data(as_text=True)
    assert "Page 1 of 2" in html


def test_empty_and_friendly_states(client):
    html = client.get("/search").get_data(as_text=True)
    assert "Type a few words" in html
    html = client.get("/search?q=xylophone").get_data(as_text=True)
    assert "No questions matched" in html


def test_hidden_reply_text_is_not_searchable(client, author):
    t = f.thread(author, title="Eye drops", body="Which drops?")
    reply = service.add_reply(f.user(), t, "Spam text with a casino link.")
    assert titles(client, "casino") == ["Eye drops"]
    reply.is_hidden = True
    record_search_change([t.id])
    commit()
    assert titles(client, "casino") == []
    assert titles(client, "drops") == ["Eye drops"]


def test_tag_change_reaches_facets(client, author):
    t = f.thread(author, title="Mouth sores", body="Sore mouth.", conditions=["lupus"])
    service.edit_post(author, t.question, "Sore mouth.", conditions=["crohns"])
    data = api(client, q="mouth")
    assert data["facets"]["conditions"] == {"crohns": 1}
