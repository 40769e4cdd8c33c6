"""In-app notifications: each kind, the unread count in the header, mark read / all."""

from __future__ import annotations

import re

from forum import signals
from forum.extensions import db
from forum.notifications.models import Notification
from forum.threads import service
from tests import factories
from tests.conftest import csrf_from


def _page(client, path="/notifications") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _header_count(html: str) -> int | None:
    match = re.search(r'href="/notifications">Notifications(?: \((\d+)\))?</a>', html)
    assert match, "no notifications link in the header"
    return int(match.group(1)) if match.group(1) else 0


def test_reply_to_my_question_shows_in_header_and_list(app, client, auth):
    asker = factories.user("asker")
    replier = factories.user("replier")
    thread = factories.thread(asker, title="Tired on aza every afternoon")
    post = service.add_reply(replier, thread, "Same for me, it eased after a month.")

    auth.login("asker")
    home = _page(client, "/")
    assert _header_count(home) == 1
    assert "Notifications (1)" in home
    html = _page(client)
    assert "replier replied to your question “Tired on aza every afternoon”" in html
    assert f'href="/t/{thread.id}#post-{post.id}"' in html


def test_no_notification_for_my_own_reply(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    service.add_reply(asker, thread, "Adding a detail to my own question.")
    auth.login("asker")
    assert _header_count(_page(client, "/")) == 0
    assert "Nothing yet" in _page(client)


def test_followers_and_repliers_hear_about_later_replies(app, client, auth):
    asker = factories.user("asker")
    first = factories.user("first_replier")
    second = factories.user("second_replier")
    thread = factories.thread(asker, title="Bloods every week?")
    service.add_reply(first, thread, "Mine were weekly for two months.")
    service.add_reply(second, thread, "Fortnightly here.")

    auth.login("first_replier")  # replying followed the thread
    html = _page(client)
    assert "second_replier replied in “Bloods every week?”, which you follow" in html
    assert _header_count(html) == 1
    auth.logout()
    auth.login("asker")
    assert _header_count(_page(client, "/")) == 2


def test_helpful_mark_notifies_reply_author_without_naming_the_voter(app, client, auth):
    asker = factories.user("asker")
    helper = factories.user("helper")
    voter = factories.user("quiet_voter")
    thread = factories.thread(asker, title="Nausea in the morning")
    post = service.add_reply(helper, thread, "Taking it with food helped me.")
    service.mark_helpful(voter, post)

    auth.login("helper")
    html = _page(client)
    assert "Someone found your reply in “Nausea in the morning” helpful" in html
    assert "quiet_voter" not in html


def test_resolved_mark_notifies_reply_author(app, client, auth):
    asker = factories.user("asker")
    helper = factories.user("helper")
    thread = factories.thread(asker, title="Which blood test checks TPMT?")
    post = service.add_reply(helper, thread, "It is a separate test before starting.")
    service.mark_resolved(asker, thread, post)

    auth.login("helper")
    html = _page(client)
    assert "asker marked your reply as resolving “Which blood test checks TPMT?”" in html


def test_moderator_action_on_my_post_notifies_me(app, client, auth):
    author = factories.user("author")
    moderator = factories.user("mod", role="moderator")
    thread = factories.thread(factories.user(), title="Sun cream advice")
    post = service.add_reply(author, thread, "Factor 50 every day.")
    post.is_hidden = True
    signals.moderation_action.send(app, post=post, action="hide", moderator=moderator)
    db.session.commit()

    auth.login("author")
    html = _page(client)
    assert "A moderator hid your reply" in html and "Sun cream advice" in html
    assert _header_count(html) == 1


def test_hidden_content_is_never_announced(app, client, auth):
    asker = factories.user("asker")
    replier = factories.user("replier")
    thread = factories.thread(asker, title="A thread that gets hidden")
    post = service.add_reply(replier, thread, "A reply that a moderator hides.")
    auth.login("asker")
    assert _header_count(_page(client, "/")) == 1

    post.is_hidden = True  # hidden after the notification was written
    db.session.commit()
    html = _page(client)
    assert _header_count(html) == 0
    assert "A reply that" not in html and "replier replied" not in html

    thread.is_hidden = True  # replies to a hidden thread notify nobody
    db.session.commit()
    service.add_reply(factories.user("late"), thread, "Late reply.")
    assert db.session.query(Notification).filter_by(user_id=asker.id).count() == 1


def test_mark_read_and_mark_all_read(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    for n in range(3):
        service.add_reply(factories.user(f"r{n}"), thread, f"Reply {n}")
    auth.login("asker")
    html = _page(client)
    assert _header_count(html) == 3
    note_id = re.search(r'action="/notifications/(\d+)/read"', html).group(1)
    response = client.post(f"/notifications/{note_id}/read", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    html = _page(client)
    assert _header_count(html) == 2
    client.post("/notifications/read-all", data={"csrf_token": csrf_from(html)})
    html = _page(client)
    assert _header_count(html) == 0
    assert "Mark all as read" not in html
    assert "r0 replied" in html  # read notifications stay listed


def test_cannot_mark_someone_elses_notification_or_post_without_csrf(app, client, auth):
    asker = factories.user("asker")
    factories.user("nosy")
    thread = factories.thread(asker)
    service.add_reply(factories.user(), thread, "Hello")
    note = db.session.query(Notification).filter_by(user_id=asker.id).one()
    auth.login("nosy")
    html = _page(client)
    assert client.post(f"/notifications/{note.id}/read", data={}).status_code == 400
    response = client.post(f"/notifications/{note.id}/read", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 404
    db.session.refresh(note)
    assert note.read_at is None


def test_notifications_page_is_paginated_newest_first(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    for n in range(23):
        service.add_reply(factories.user(f"replier{n:02d}"), thread, f"Reply {n}")
    auth.login("asker")
    html = _page(client)
    names = re.findall(r"(replier\d\d) replied", html)
    assert len(names) == 20 and names[0] == "replier22" and names[-1] == "replier03"
    page2 = _page(client, "/notifications?page=2")
    assert re.findall(r"(replier\d\d) replied", page2) == ["replier02", "replier01", "replier00"]


def test_visiting_the_thread_marks_its_notifications_read(app, client, auth):
    asker = factories.user("asker")
    thread = factories.thread(asker)
    service.add_reply(factories.user(), thread, "Hello")
    auth.login("asker")
    assert client.get(f"/t/{thread.id}").status_code == 200
    assert _header_count(_page(client, "/")) == 0


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_moderation_service_actions_reach_the_author(app, client, auth):
    from forum.moderation import service as moderation

    author = factories.user("author")
    moderator = factories.user("mod", role="moderator")
    thread = factories.thread(author, title="Dosage by weight")
    reply = service.add_reply(author, thread, "A reply of mine")
    moderation.set_thread_locked(moderator, thread, True)
    moderation.set_post_hidden(moderator, reply, True)
    auth.login("author")
    html = _page(client)
    assert "A moderator locked your thread “Dosage by weight”" in html
    assert "A moderator hid your reply in “Dosage by weight”" in html
    assert _header_count(html) == 2


def test_settings_page_says_when_the_forum_sends_no_email(app, client, auth):
    factories.user("member")
    auth.login("member")
    html = _page(client, "/notifications/settings")
    assert "This forum does not send email" in html
    assert 'name="email_mode"' not in html
    response = client.post(
        "/notifications/settings", data={"email_mode": "immediate", "csrf_token": csrf_from(html)}
    )
    assert response.status_code == 400


def test_each_member_sees_their_own_unread_count(app, client, auth):
    """The header's count is one statement built once (notifications/service.py): the
    member it counts for must be this request's, never the one it was first built for."""
    asker = factories.user("asker")
    other = factories.user("other")
    replier = factories.user("replier")
    for i in range(2):
        service.add_reply(replier, factories.thread(asker, title=f"Question {i}"), "Same here.")
    service.add_reply(replier, factories.thread(other, title="Other's question"), "Me too.")
    auth.login("asker")
    assert _header_count(_page(client, "/")) == 2
    auth.logout()
    auth.login("other")
    assert _header_count(_page(client, "/")) == 1
    auth.logout()
    auth.login("replier")
    assert _header_count(_page(client, "/")) == 0
