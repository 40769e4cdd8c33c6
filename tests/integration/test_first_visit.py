"""A warm first visit (issue 14): joining signs in and goes back to what you were doing,
the reply you started is kept, and the forms say plainly what happened."""

from __future__ import annotations

from sqlalchemy import select

from forum.extensions import db
from forum.notifications.models import Draft
from tests import factories
from tests.conftest import csrf_from


def join(client, page_html, name="new_nell", **extra):
    data = {
        "display_name": name,
        "email": f"{name}@example.org",
        "password": "blue kettle morning",
        "csrf_token": csrf_from(page_html),
        **extra,
    }
    return client.post("/register", data=data)


def test_joining_from_the_ask_link_lands_on_the_ask_form_signed_in(client):
    login = client.get("/ask")  # signed out: sent to sign in, with next
    assert login.status_code == 302 and "next=%2Fask" in login.headers["Location"]
    sign_in_page = client.get(login.headers["Location"]).get_data(as_text=True)
    assert 'href="/register?next=/ask"' in sign_in_page
    page = client.get("/register?next=/ask").get_data(as_text=True)
    assert 'name="next" value="/ask"' in page
    resp = join(client, page, next="/ask")
    assert resp.status_code == 302 and resp.headers["Location"] == "/ask"
    ask = client.get("/ask")
    html = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "Post question" in html
    assert "your account is ready and you are signed in. You can ask your question now." in html


def test_joining_never_follows_next_off_the_site(client):
    page = client.get("/register").get_data(as_text=True)
    resp = join(client, page, next="//evil.example/steal")
    assert resp.headers["Location"] == "/"


def test_a_reply_started_signed_out_is_kept_through_joining(client):
    t = factories.thread(title="Sun cream on aza?")
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert 'action="/join/reply"' in html and "Join to post your reply" in html
    assert "csrf_token" not in html  # the reader's page sets no session: still cacheable
    carried = client.post(
        "/join/reply", data={"reply_thread": str(t.id), "reply_body": "Factor 50, every day."}
    )
    page = carried.get_data(as_text=True)
    assert carried.status_code == 200 and "Your reply is kept" in page
    assert 'value="Factor 50, every day."' in page
    resp = join(
        client,
        page,
        next=f"/t/{t.id}#reply-heading",
        reply_thread=str(t.id),
        reply_body="Factor 50, every day.",
    )
    assert resp.headers["Location"] == f"/t/{t.id}#reply-heading"
    thread_page = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Your reply is below, not posted yet" in thread_page
    assert "Factor 50, every day.</textarea>" in thread_page
    assert db.session.scalar(select(Draft.body)) == "Factor 50, every day."


def test_empty_ask_form_shows_every_error_and_no_preview(client, auth):
    factories.user("sunny_days")
    auth.login("sunny_days")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    resp = client.post("/ask", data={"csrf_token": token, "submit": "Post question"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Preview (not posted yet)" not in html and "(no title yet)" not in html
    for message in ("give your question a title", "write something first", "at least one"):
        assert message in html.lower()
    preview = client.post("/ask", data={"csrf_token": token, "preview": "Preview"})
    html = preview.get_data(as_text=True)
    assert "Preview (not posted yet)" not in html
    assert "Write your question to see a preview." in html


def test_first_preview_does_not_claim_a_draft_was_restored(client, auth):
    factories.user("sunny_days")
    auth.login("sunny_days")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    html = client.post(
        "/ask", data={"csrf_token": token, "title": "Hair", "body": "Thinning?", "preview": "1"}
    ).get_data(as_text=True)
    assert "Preview (not posted yet)" in html
    assert "Your saved draft was restored" not in html
    assert "Your saved draft was restored" in client.get("/ask").get_data(as_text=True)


def test_empty_tab_text_names_the_tab_and_feed_link_is_plain(client):
    factories.thread(title="Answered", conditions=("ulcerative-colitis",), replies=[])
    html = client.get("/conditions/ulcerative-colitis?tab=unanswered").get_data(as_text=True)
    assert "No questions tagged" not in html  # it has one, and it is unanswered
    t = factories.thread(
        title="Has a reply",
        conditions=("crohns",),
        replies=[(factories.user(), "Yes.")],
    )
    assert t.reply_count == 1
    html = client.get("/conditions/crohns?tab=unanswered").get_data(as_text=True)
    assert "nothing is waiting on the Unanswered tab" in html
    assert "No questions tagged" not in html
    assert "Follow by RSS" in html and "Atom feed" not in html
