"""The JSON API, /api/v1: shapes, filters, paging, errors, and no emails ever."""

from __future__ import annotations

import re

import pytest

from forum.extensions import db
from forum.threads import service
from tests import factories

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def forum_data():
    asker = factories.user("asker", email="asker-secret@example.org")
    helper = factories.user("helper", email="helper-secret@example.org")
    reader = factories.user("reader")
    crohns = factories.thread(
        asker,
        title="Crohn's and aza",
        conditions=("crohns",),
        side_effects=("nausea",),
        medications=("azathioprine", "allopurinol"),
        replies=[(helper, "It got **better**."), (reader, "Same here.")],
    )
    service.mark_helpful(reader, crohns.replies[0])
    service.mark_resolved(asker, crohns, crohns.replies[0])
    lupus = factories.thread(asker, title="Lupus only", conditions=("lupus",))
    return {"crohns": crohns, "lupus": lupus, "asker": asker, "helper": helper, "reader": reader}


def test_threads_list_shape(client, forum_data):
    response = client.get("/api/v1/threads")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["total"] == 2 and body["page"] == 1 and body["pages"] == 1
    assert body["per_page"] == 20
    crohns = next(t for t in body["data"] if t["title"] == "Crohn's and aza")
    t = forum_data["crohns"]
    assert crohns["id"] == t.id
    assert crohns["url"] == f"http://localhost/t/{t.id}/crohn-s-and-aza"
    assert crohns["conditions"] == ["crohns"]
    assert crohns["side_effects"] == ["nausea"]
    assert sorted(crohns["medications"]) == ["allopurinol", "azathioprine"]
    assert crohns["reply_count"] == 2 and crohns["helpful_count"] == 1
    assert crohns["resolved"] is True
    assert ISO_Z.match(crohns["created"])
    assert crohns["author"] == "asker"
    # The url really is the thread page.
    assert client.get(crohns["url"].removeprefix("http://localhost")).status_code == 200


def test_threads_filters(client, forum_data):
    def titles(query):
        return [t["title"] for t in client.get(f"/api/v1/threads?{query}").get_json()["data"]]

    assert titles("condition=crohns") == ["Crohn's and aza"]
    assert titles("condition=lupus") == ["Lupus only"]
    assert titles("side_effect=nausea") == ["Crohn's and aza"]
    assert titles("medication=allopurinol") == ["Crohn's and aza"]
    assert titles("condition=lupus&medication=allopurinol") == []
    assert client.get("/api/v1/threads?condition=uveitis").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "condition=not-a-condition",
        "side_effect=bogus",
        "medication=bogus",
        "per_page=101",
        "per_page=0",
        "per_page=abc",
        "page=0",
        "page=-1",
        "page=abc",
    ],
)
def test_threads_bad_parameters_are_400_json(client, forum_data, query):
    response = client.get(f"/api/v1/threads?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "message", "status"}
    assert body["status"] == 400 and body["message"]


def test_threads_paging(client):
    author = factories.user()
    for n in range(7):
        factories.thread(author, title=f"Paged {n}")
    first = client.get("/api/v1/threads?per_page=3").get_json()
    assert first["total"] == 7 and first["pages"] == 3 and len(first["data"]) == 3
    third = client.get("/api/v1/threads?per_page=3&page=3").get_json()
    assert len(third["data"]) == 1
    seen = {
        t["id"]
        for p in (1, 2, 3)
        for t in client.get(f"/api/v1/threads?per_page=3&page={p}").get_json()["data"]
    }
    assert len(seen) == 7
    past = client.get("/api/v1/threads?per_page=3&page=9").get_json()
    assert past["data"] == [] and past["total"] == 7
    assert len(client.get("/api/v1/threads?per_page=100").get_json()["data"]) == 7


def test_thread_detail_with_replies(client, forum_data):
    t = forum_data["crohns"]
    body = client.get(f"/api/v1/threads/{t.id}").get_json()["data"]
    assert body["id"] == t.id and body["title"] == "Crohn's and aza"
    assert body["resolved_reply_id"] == t.replies[0].id
    assert [r["id"] for r in body["replies"]] == [p.id for p in t.replies]
    first = body["replies"][0]
    assert first["author"] == "helper"
    assert "<strong>better</strong>" in first["body_html"]
    assert first["helpful_count"] == 1
    assert first["edited"] is None
    assert ISO_Z.match(first["created"])
    assert body["question"]["author"] == "asker"


def test_thread_detail_leaves_out_removed_replies_and_marks_edits(client, forum_data):
    t = forum_data["crohns"]
    service.delete_post(forum_data["reader"], t.replies[1])
    service.edit_post(forum_data["helper"], t.replies[0], "It got better, slowly.")
    body = client.get(f"/api/v1/threads/{t.id}").get_json()["data"]
    assert [r["id"] for r in body["replies"]] == [t.replies[0].id]
    assert ISO_Z.match(body["replies"][0]["edited"])


def test_hidden_question_text_is_not_served(client, forum_data):
    t = forum_data["crohns"]
    t.question.body = "Private words"
    t.question.body_html = "<p>Private words</p>"
    t.question.is_hidden = True
    db.session.commit()
    body = client.get(f"/api/v1/threads/{t.id}").get_json()["data"]
    assert body["question"]["removed"] is True
    assert body["question"]["body_html"] == "" and body["question"]["author"] is None
    assert "Private words" not in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_unknown_hidden_or_deleted_thread_is_404_json(client, forum_data):
    hidden = forum_data["lupus"]
    hidden.is_hidden = True
    db.session.commit()
    for path in ("/api/v1/threads/999999", f"/api/v1/threads/{hidden.id}", "/api/v1/nothing"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_json()
        assert body["status"] == 404 and body["message"]
    assert client.get("/api/v1/threads").get_json()["total"] == 1


def test_vocabulary_endpoints_with_thread_counts(client, forum_data):
    for path, slug, count in (
        ("/api/v1/conditions", "crohns", 1),
        ("/api/v1/side-effects", "nausea", 1),
        ("/api/v1/medications", "azathioprine", 2),
    ):
        data = client.get(path).get_json()["data"]
        term = next(t for t in data if t["slug"] == slug)
        assert term["thread_count"] == count
        assert term["name"] and term["description"]
        assert isinstance(term["synonyms"], list)
    conditions = client.get("/api/v1/conditions").get_json()["data"]
    lupus = next(t for t in conditions if t["slug"] == "lupus")
    assert "sle" in lupus["synonyms"]
    assert next(t for t in conditions if t["slug"] == "uveitis")["thread_count"] == 0


def test_api_never_includes_emails(client, forum_data):
    t = forum_data["crohns"]
    for path in (
        "/api/v1/threads",
        f"/api/v1/threads/{t.id}",
        "/api/v1/conditions",
        "/api/v1/side-effects",
        "/api/v1/medications",
    ):
        text = client.get(path).get_data(as_text=True)
        assert "@example.org" not in text and "secret" not in text, path


def test_api_rejects_writes_with_json(client):
    response = client.post("/api/v1/threads", json={"title": "x"})
    assert response.status_code in (400, 405)
    assert response.get_json()["status"] == response.status_code
