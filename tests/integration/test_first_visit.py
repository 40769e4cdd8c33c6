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


def sign_in(client, page_html, next, thread_id, reply_body, password="correct horse battery"):
    """Submit the sign-in form shown carrying a reply (its hidden fields included)."""
    data = {
        "display_name": "sunny_days",
        "password": password,
        "csrf_token": csrf_from(page_html),
        "reply_thread": str(thread_id),
        "reply_body": reply_body,
    }
    return client.post(f"/login?next={next}", data=data)


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


def test_a_reply_started_signed_out_is_kept_through_signing_in(client):
    factories.user("sunny_days")  # a member who wrote before signing in
    t = factories.thread(title="Sun cream on aza?")
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert 'formaction="/signin/reply"' in html and "Sign in to post it" in html
    carried = client.post(
        "/signin/reply", data={"reply_thread": str(t.id), "reply_body": "SPF 50 & a hat."}
    )
    page = carried.get_data(as_text=True)
    assert carried.status_code == 200 and "Your reply is kept" in page
    assert 'value="SPF 50 &amp; a hat."' in page and "<h1>Sign in</h1>" in page
    resp = sign_in(client, page, f"/t/{t.id}%23reply-heading", t.id, "SPF 50 & a hat.")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{t.id}#reply-heading"
    thread_page = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Welcome back, sunny_days. Your reply is below, not posted yet" in thread_page
    assert "SPF 50 &amp; a hat.</textarea>" in thread_page


def test_a_wrong_password_keeps_the_carried_reply(client):
    factories.user("sunny_days")
    t = factories.thread(title="Sun cream on aza?")
    page = client.post(
        "/signin/reply", data={"reply_thread": str(t.id), "reply_body": "Long sleeves help."}
    ).get_data(as_text=True)
    again = sign_in(
        client, page, f"/t/{t.id}", t.id, "Long sleeves help.", password="wrong wrong wrong"
    )
    assert again.status_code == 400
    assert 'value="Long sleeves help."' in again.get_data(as_text=True)
    assert db.session.scalar(select(Draft.body)) is None


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
