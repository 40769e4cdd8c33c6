"""Drafts: kept on the server, restored after logging out and back in, saved on
preview, discarded when the question or reply is posted."""

from __future__ import annotations

import re

from forum.extensions import db
from forum.models import Thread
from forum.notifications.models import Draft
from tests import factories
from tests.conftest import csrf_from


def _ask_page(client) -> str:
    response = client.get("/ask")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _textarea(html: str, name: str = "body") -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', html, re.S)
    assert match, f"no {name} textarea"
    return match.group(1)


def test_save_draft_button_keeps_a_question_across_logout(app, client, auth):
    factories.user("writer")
    auth.login("writer")
    html = _ask_page(client)
    assert 'formaction="/drafts/save"' in html
    response = client.post(
        "/drafts/save",
        data={
            "csrf_token": csrf_from(html),
            "draft_kind": "ask",
            "title": "Half-written: rash after starting aza",
            "body": "It started in week three and",
            "conditions": ["lupus"],
            "side_effects": ["rash"],
        },
        follow_redirects=True,
    )
    assert "Draft saved" in response.get_data(as_text=True)
    auth.logout()
    assert "Half-written" not in _page_or_login(client)

    auth.login("writer")
    html = _ask_page(client)
    assert 'value="Half-written: rash after starting aza"' in html
    assert _textarea(html) == "It started in week three and"
    assert re.search(r'name="conditions" value="lupus"[^>]*checked', html)
    assert re.search(r'name="side_effects" value="rash"[^>]*checked', html)
    assert "Your saved draft was restored." in html


def _page_or_login(client) -> str:
    return client.get("/ask", follow_redirects=True).get_data(as_text=True)


def test_preview_saves_and_posting_discards_the_question_draft(app, client, auth):
    factories.user("writer")
    auth.login("writer")
    form = {
        "csrf_token": csrf_from(_ask_page(client)),
        "title": "Does aza cause tiredness?",
        "body": "I feel tired since I started.",
        "conditions": ["crohns-disease"],
    }
    response = client.post("/ask", data={**form, "preview": "Preview"})
    assert response.status_code == 200
    assert db.session.query(Draft).filter_by(scope="ask").one().title == form["title"]

    response = client.post("/ask", data={**form, "submit": "Post question"})
    assert response.status_code == 302
    assert db.session.query(Thread).filter_by(title=form["title"]).count() == 1
    assert db.session.query(Draft).count() == 0
    html = _ask_page(client)
    assert "Does aza cause tiredness?" not in html and "Your saved draft" not in html


def test_autosaved_reply_draft_survives_logout_and_goes_when_posted(app, client, auth):
    thread = factories.thread(factories.user("asker"), title="Sore throat")
    factories.user("writer")
    auth.login("writer")
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert re.search(r'<script src="/static/js/drafts\.js[^"]*" defer></script>', page)
    token = csrf_from(page)
    response = client.post(
        "/drafts/save",
        data={
            "csrf_token": token,
            "draft_kind": "reply",
            "thread_id": thread.id,
            "body": "I had that too, my GP",
            "autosave": "1",
        },
    )
    assert response.status_code == 204
    auth.logout()
    auth.login("writer")
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert _textarea(page) == "I had that too, my GP"

    response = client.post(
        f"/t/{thread.id}/reply",
        data={"csrf_token": csrf_from(page), "body": "I had that too, my GP checked my bloods."},
    )
    assert response.status_code == 302
    assert db.session.query(Draft).count() == 0
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert _textarea(page) == ""


def test_reply_preview_saves_a_draft(app, client, auth):
    thread = factories.thread()
    factories.user("writer")
    auth.login("writer")
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    client.post(
        f"/t/{thread.id}/reply",
        data={
            "csrf_token": csrf_from(page),
            "body": "Checking how this looks",
            "preview": "Preview",
        },
    )
    draft = db.session.query(Draft).one()
    assert (draft.kind, draft.thread_id, draft.body) == (
        "reply",
        thread.id,
        "Checking how this looks",
    )


def test_drafts_are_private_to_their_writer(app, client, auth):
    factories.user("writer")
    factories.user("other")
    auth.login("writer")
    client.post(
        "/drafts/save",
        data={
            "csrf_token": csrf_from(_ask_page(client)),
            "draft_kind": "ask",
            "title": "Private thoughts",
            "autosave": "1",
        },
    )
    auth.logout()
    auth.login("other")
    assert "Private thoughts" not in _ask_page(client)


def test_saving_needs_sign_in_and_a_csrf_token(app, client, auth):
    anonymous = app.test_client()
    anonymous.get("/")
    response = anonymous.post("/drafts/save", data={"draft_kind": "ask", "title": "x"})
    assert response.status_code in (400, 401)
    factories.user("writer")
    auth.login("writer")
    response = client.post(
        "/drafts/save", data={"draft_kind": "ask", "title": "x", "autosave": "1"}
    )
    assert response.status_code == 400
    token = csrf_from(_ask_page(client))
    response = client.post("/drafts/save", data={"csrf_token": token, "draft_kind": "poem"})
    assert response.status_code == 400
    assert db.session.query(Draft).count() == 0


def test_emptying_the_form_removes_the_draft(app, client, auth):
    factories.user("writer")
    auth.login("writer")
    token = csrf_from(_ask_page(client))
    client.post(
        "/drafts/save",
        data={"csrf_token": token, "draft_kind": "ask", "title": "Something", "autosave": "1"},
    )
    assert db.session.query(Draft).count() == 1
    client.post(
        "/drafts/save",
        data={"csrf_token": token, "draft_kind": "ask", "title": "", "body": "", "autosave": "1"},
    )
    assert db.session.query(Draft).count() == 0
