"""Following threads and topics, and the /following page of what is new."""

from __future__ import annotations

import re

from forum.extensions import db
from forum.notifications.models import Follow
from forum.threads import service
from tests import factories
from tests.conftest import csrf_from


def _follow_form(html: str) -> tuple[str, str]:
    match = re.search(r'<form method="post" class="inline-form follow-form" action="([^"]+)"', html)
    assert match, "no follow button on the page"
    button = re.search(r'<button type="submit" class="button secondary">(Follow|Unfollow)', html)
    return match.group(1), button.group(1)


def test_asking_and_replying_follow_the_thread(app):
    asker, replier = factories.user(), factories.user()
    thread = factories.thread(asker)
    service.add_reply(replier, thread, "Reply")
    keys = {(f.user_id, f.kind, f.key) for f in db.session.query(Follow)}
    assert keys == {(asker.id, "thread", str(thread.id)), (replier.id, "thread", str(thread.id))}


def test_follow_and_unfollow_a_thread_with_the_button(app, client, auth):
    factories.user("reader")
    thread = factories.thread(factories.user("asker"), title="Joint pain on aza")
    auth.login("reader")
    html = client.get(f"/t/{thread.id}").get_data(as_text=True)
    action, label = _follow_form(html)
    assert (action, label) == ("/follow", "Follow")
    response = client.post(
        "/follow",
        data={"kind": "thread", "key": thread.id, "csrf_token": csrf_from(html)},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "You are following this now." in html
    assert _follow_form(html) == ("/unfollow", "Unfollow")

    service.add_reply(factories.user("someone"), thread, "A new reply")
    notes = client.get("/notifications").get_data(as_text=True)
    assert "someone replied in “Joint pain on aza”, which you follow" in notes

    client.post(
        "/unfollow", data={"kind": "thread", "key": thread.id, "csrf_token": csrf_from(html)}
    )
    html = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert _follow_form(html) == ("/follow", "Follow")
    service.add_reply(factories.user("another"), thread, "Another reply")
    notes = client.get("/notifications").get_data(as_text=True)
    assert "another replied" not in notes


def test_an_asker_who_unfollows_hears_nothing_more(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    auth.login("asker")
    html = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert _follow_form(html)[1] == "Unfollow"
    client.post(
        "/unfollow", data={"kind": "thread", "key": thread.id, "csrf_token": csrf_from(html)}
    )
    service.add_reply(factories.user("replier"), thread, "Reply")
    assert "Notifications (" not in client.get("/").get_data(as_text=True)


def test_follow_a_condition_and_see_new_threads_on_following_page(app, client, auth):
    factories.user("reader")
    auth.login("reader")
    html = client.get("/following").get_data(as_text=True)
    assert "You are not following anything yet" in html
    response = client.post(
        "/follow",
        data={"kind": "condition", "key": "lupus", "csrf_token": csrf_from(html)},
    )
    assert response.status_code == 302
    factories.thread(factories.user(), title="Lupus flare after stopping", conditions=("lupus",))
    factories.thread(factories.user(), title="Crohn's question", conditions=("crohns-disease",))
    hidden = factories.thread(factories.user(), title="Hidden lupus thread", conditions=("lupus",))
    hidden.is_hidden = True
    db.session.commit()

    html = client.get("/following").get_data(as_text=True)
    assert "1 new question since your last visit" in html
    assert "Lupus flare after stopping" in html
    assert "Crohn" not in html and "Hidden lupus thread" not in html
    html = client.get("/following").get_data(as_text=True)  # the visit caught it up
    assert "Nothing new since your last visit." in html
    assert "Lupus flare after stopping" not in html


def test_following_page_lists_new_replies_until_the_thread_is_visited(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker, title="Hair thinning")
    auth.login("asker")
    client.get("/following")
    service.add_reply(factories.user("one"), thread, "First")
    service.add_reply(factories.user("two"), thread, "Second")
    html = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Hair thinning" in html
    service.add_reply(factories.user("three"), thread, "Third")
    html = client.get("/following").get_data(as_text=True)
    assert "1 new reply since your last visit" in html
    assert "Reply by three" in html and "Reply by two" not in html


def test_follow_buttons_on_topic_pages(app, client, auth):
    factories.user("reader")
    auth.login("reader")
    for path, kind, key in (
        ("/conditions/lupus", "condition", "lupus"),
        ("/side-effects/hair-loss", "side_effect", "hair-loss"),
        ("/medications/azathioprine", "medication", "azathioprine"),
    ):
        html = client.get(path).get_data(as_text=True)
        assert _follow_form(html)[1] == "Follow", path
        client.post("/follow", data={"kind": kind, "key": key, "csrf_token": csrf_from(html)})
        assert _follow_form(client.get(path).get_data(as_text=True))[1] == "Unfollow"


def test_following_something_that_does_not_exist_is_refused(app, client, auth):
    factories.user("reader")
    auth.login("reader")
    token = csrf_from(client.get("/following").get_data(as_text=True))
    for kind, key in (("condition", "no-such-thing"), ("thread", "99999"), ("planet", "mars")):
        response = client.post("/follow", data={"kind": kind, "key": key, "csrf_token": token})
        assert response.status_code in (400, 404), (kind, key)
    assert db.session.query(Follow).count() == 0


def test_follow_needs_sign_in(client, app):
    thread = factories.thread()
    client.get("/")
    response = client.post("/follow", data={"kind": "thread", "key": thread.id})
    assert response.status_code in (302, 400)
    assert db.session.query(Follow).filter(Follow.user_id != thread.author_id).count() == 0
