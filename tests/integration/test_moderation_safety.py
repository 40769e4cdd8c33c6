"""What people see: warning-sign banners, personal-detail notices, the not-advice note,
and hidden threads gone from lists, search, the API and feeds."""

from __future__ import annotations

from forum import search
from tests import factories as f
from tests.conftest import csrf_from

BANNER = "contact your care team today"


def _ask(client, title, body, preview=False):
    data = {
        "csrf_token": csrf_from(client.get("/ask").get_data(as_text=True)),
        "title": title,
        "body": body,
        "conditions": ["lupus"],
    }
    if preview:
        data["preview"] = "1"
    return client.post("/ask", data=data, follow_redirects=not preview)


def test_banner_beside_a_post_that_describes_a_warning_sign(client):
    t = f.thread(title="Feeling rough", body="Since yesterday I've had a fever of 38.5 and chills.")
    quiet = f.thread(
        title="Starting aza",
        body="They told me to watch for fever, sore throat, bruising and yellow skin. Noted!",
    )
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert BANNER in html
    assert "yellow skin or yellow whites of the eyes" in html  # the whole list is shown
    assert "999" in html  # and what to do if very unwell
    assert BANNER not in client.get(f"/t/{quiet.id}").get_data(as_text=True)


def test_banner_on_a_reply(client):
    t = f.thread(title="Hair thinning", replies=[(f.user(), "no fever here, all good")])
    assert BANNER not in client.get(f"/t/{t.id}").get_data(as_text=True)
    f.thread(title="x")
    from forum.threads import service

    service.add_reply(f.user(), t, "My poo has been black for two days, is that the iron?")
    assert BANNER in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_composer_preview_shows_banner_and_personal_details_notice_without_blocking(client, auth):
    f.user("sunny_days")
    auth.login("sunny_days")
    page = client.get("/ask").get_data(as_text=True)
    assert "not medical advice" in page.lower()
    preview = _ask(
        client,
        "Yellow eyes?",
        "My eyes have gone yellow this week. Call me on 07700 900123.",
        preview=True,
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert BANNER in html
    assert "a phone number" in html and "can still post" in html
    posted = _ask(client, "Yellow eyes?", "My eyes have gone yellow. Email me: sun@example.org")
    html = posted.get_data(as_text=True)
    assert posted.status_code == 200 and "Your question is posted" in html
    assert "an email address" in html  # the after-posting reminder
    assert BANNER in html  # beside the new question


NOTE = "New accounts can include at most 2 links"


def test_new_account_note_only_when_a_limit_is_about_to_apply(client, auth):
    f.user("sunny_days")
    auth.login("sunny_days")
    assert NOTE not in client.get("/ask").get_data(as_text=True)
    two_links = "See https://example.org/a and https://example.org/b"
    assert NOTE in _ask(client, "Links?", two_links, preview=True).get_data(as_text=True)
    assert NOTE not in _ask(client, "Links?", "No links", preview=True).get_data(as_text=True)
    for n in range(4):  # the fifth post this hour is the last one a new account may write
        assert "Your question is posted" in _ask(client, f"Post {n}", "Text").get_data(as_text=True)
    assert NOTE in client.get("/ask").get_data(as_text=True)


def test_search_banner(client):
    html = client.get("/search", query_string={"q": "black stools on aza"}).get_data(as_text=True)
    assert BANNER in html
    html = client.get("/search", query_string={"q": "hair loss"}).get_data(as_text=True)
    assert BANNER not in html


def test_not_medical_advice_once_on_the_thread_page(client):
    t = f.thread(title="Dose question")
    html = client.get(f"/t/{t.id}").get_data(as_text=True).lower()
    assert html.count("not medical advice") == 1  # one line people read, not three


def test_hidden_thread_gone_from_lists_search_api_and_feeds(client, auth):
    from forum.moderation import service

    mod = f.user("mod_mo", role="moderator")
    t = f.thread(title="Platypusword miracle cure", body="Buy platypusword pills now")
    search.apply_now()
    assert search.apply_now() == 0
    assert "Platypusword" in client.get("/api/v1/threads").get_data(as_text=True)
    service.set_thread_hidden(mod, t, True, "spam")
    search.apply_now()
    for path in ("/", "/api/v1/threads", "/feeds/latest.atom", "/search?q=platypusword",
                 "/api/v1/search?q=platypusword", "/conditions/lupus"):  # fmt: skip
        body = client.get(path).get_data(as_text=True)
        assert "Platypusword" not in body and "platypusword pills" not in body, path
    assert client.get(f"/api/v1/threads/{t.id}").status_code == 404
    assert client.get(f"/t/{t.id}").status_code == 404
    auth.login("mod_mo")
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Platypusword" in html and "Hidden thread" in html


def test_hidden_reply_gone_from_api_and_search(client, auth):
    from forum.moderation import service

    mod = f.user("mod_mo", role="moderator")
    t = f.thread(title="Sun cream", replies=[(f.user(), "Try the echidnaword pharmacy")])
    search.apply_now()
    from forum.search.service import search as run_search

    assert run_search("echidnaword").total == 1
    service.set_post_hidden(mod, t.posts[1], True, "spam")
    search.apply_now()
    assert run_search("echidnaword").total == 0
    assert "echidnaword" not in client.get(f"/api/v1/threads/{t.id}").get_data(as_text=True)
    assert "echidnaword" not in client.get(f"/t/{t.id}").get_data(as_text=True)
    service.set_post_hidden(mod, t.posts[1], False)
    search.apply_now()
    assert run_search("echidnaword").total == 1


def test_moderators_see_hidden_threads_in_lists_labelled(client, auth):
    from forum.moderation import service

    mod = f.user("mod_mo", role="moderator")
    t = f.thread(title="Wallabyword thread")
    service.set_thread_hidden(mod, t, True, "spam")
    assert "Wallabyword" not in client.get("/").get_data(as_text=True)
    auth.login("mod_mo")
    for path in ("/", "/conditions/lupus"):
        html = client.get(path).get_data(as_text=True)
        assert "Wallabyword" in html and "badge-hidden" in html, path
