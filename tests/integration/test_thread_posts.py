"""A signed-in member's thread page reuses rendered posts, and still shows every change at once.

Posts are rendered once per distinct content and viewer facts (forum/threads/posts.py): the
key is what the post shows and the few facts about the viewer its buttons depend on, so an
edit, a reply, a vote, a hide, a deletion, a resolve or an erased author is on the very next
page view, and one member's buttons, votes and CSRF token never reach another member's page.
"""

from __future__ import annotations

import re

from forum.cache import content_version
from forum.extensions import db
from forum.moderation import service as moderation
from forum.privacy import service as privacy
from forum.threads import posts as post_cache
from forum.threads import service as threads
from tests import factories
from tests.conftest import AuthActions

POSTS = re.compile(r'<article class="post[^"]*" id="post-\d+">.*?</article>', re.S)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(client, thread) -> str:
    response = client.get(f"/t/{thread.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def posts_of(html: str) -> list[str]:
    return POSTS.findall(html)


def tokens(html: str) -> set[str]:
    return set(TOKEN.findall(html))


def signed_in(app, name: str):
    client = app.test_client()
    AuthActions(client).login(name)
    return client


def busy_thread():
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    t = factories.thread(
        asker,
        title="Tired and sore joints on aza",
        body="**Bold** question, with a [link](https://example.org)",
        conditions=("crohns",),
        replies=[(helper, "Try taking it with food"), (mod, "Same here"), (helper, "And rest")],
    )
    threads.mark_helpful(asker, t.posts[1])
    threads.mark_helpful(factories.user("voter_vi"), t.posts[3])
    threads.mark_resolved(asker, t, t.posts[1])
    moderation.set_post_hidden(mod, t.posts[2], True)
    return t


def test_remembered_posts_are_the_posts_a_fresh_rendering_gives(app):
    t = busy_thread()
    viewers = {"visitor": app.test_client()}
    # in this order, each member after sunny_days differs from her in one fact only
    for name in ("asker_amy", "helper_hal", "sunny_days", "voter_vi", "mod_mo"):
        viewers[name] = signed_in(app, name)
    shown = {}
    for name, client in viewers.items():
        first, again = page(client, t), page(client, t)  # renders and remembers, then reuses
        shown[name] = (first, again)
    app.extensions.pop("thread_rows")  # the cache switched off: every post rendered afresh
    for name, client in viewers.items():
        first, again = shown[name]
        fresh = page(client, t)
        # the same posts, token aside (a signed token carries its time)
        same = [TOKEN.sub("", html) for html in (first, again, fresh)]
        assert posts_of(same[0]) == posts_of(same[1]) == posts_of(same[2]), name
        assert len(posts_of(fresh)) == 4, name  # question, the resolved reply first, two more
        assert len(tokens(again)) <= 1, name  # one token on the page: the viewer's own
        assert post_cache._MARK not in first + again + fresh
    amy, hal, sunny, mod = (
        shown[n][1] for n in ("asker_amy", "helper_hal", "sunny_days", "mod_mo")
    )
    assert "This resolved it for me" in amy and "You found this helpful" in amy
    assert "This resolved it for me" not in sunny and "You found this helpful" not in sunny
    assert hal.count(">Edit</a>") == 2 and sunny.count(">Edit</a>") == 0
    assert "Hide reply" in mod and "Hide reply" not in sunny
    assert shown["voter_vi"][1].count("You found this helpful") == 1
    assert "report-link" in sunny and "report-link" not in shown["visitor"][1]
    assert sunny.count("This post was removed.") == 1 and "Hidden by moderators" in mod
    visitor = shown["visitor"][1]
    assert "Sign in to say this helped you" in visitor and not tokens(visitor)


def test_one_members_parts_never_show_on_anothers_page(app):
    t = busy_thread()
    threads.add_reply(factories.user("late_lu"), t, "Asker gets a notification for this")
    amy, sunny = signed_in(app, "asker_amy"), signed_in(app, "sunny_days")
    theirs = page(amy, t)
    page(sunny, t)
    mine = page(sunny, t)  # the posts are remembered by now, from both members' views
    assert "You found this helpful" in theirs and "You found this helpful" not in mine
    assert "Unmark as resolved" in theirs and "resolved it for me" not in mine
    assert tokens(theirs) and tokens(mine) and not tokens(theirs) & tokens(mine)
    assert not any(token in mine for token in tokens(theirs))
    amy_header = page(amy, factories.thread(title="Elsewhere"))
    assert re.search(r"Notifications \(\d+\)", amy_header) is None  # read on her thread page
    threads.add_reply(factories.user("later_lo"), t, "Another one for the asker")
    assert "Notifications (1)" in page(amy, factories.thread(title="Elsewhere too"))
    assert "Notifications (" not in page(sunny, t)


def test_a_member_sees_each_change_to_the_thread_at_once(app):
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    t = factories.thread(asker, title="Tired on aza", body="First words", conditions=("crohns",))
    client = signed_in(app, "sunny_days")
    assert "First words" in page(client, t)

    threads.edit_post(asker, t.question, "Second words", title="Tired on aza")
    html = page(client, t)
    assert "Second words" in html and "First words" not in html and ">edited<" in html

    reply = threads.add_reply(helper, t, "Me too, since March")
    assert "Me too, since March" in page(client, t)

    threads.mark_helpful(asker, reply)
    assert "1 found this helpful" in page(client, t)
    client.post(f"/posts/{reply.id}/helpful", data={"csrf_token": tokens(page(client, t)).pop()})
    html = page(client, t)
    assert "2 found this helpful" in html and "You found this helpful" in html

    threads.mark_resolved(asker, t, reply)
    assert "Resolved it for asker_amy" in page(client, t)

    moderation.set_post_hidden(mod, reply, True)
    html = page(client, t)
    assert "Me too, since March" not in html and "This post was removed." in html
    moderation.set_post_hidden(mod, reply, False)
    assert "Me too, since March" in page(client, t)

    gone = threads.add_reply(helper, t, "Wrong thread, sorry")
    assert "Wrong thread, sorry" in page(client, t)
    threads.delete_post(helper, gone)
    assert "Wrong thread, sorry" not in page(client, t)

    moderation.set_thread_locked(mod, t, True)
    assert "This thread is locked" in page(client, t)

    privacy.delete_account(helper, factories.PASSWORD, "keep")
    db.session.expire_all()
    html = page(client, t)
    assert "helper_hal" not in html and "a former member" in html
    assert "Me too, since March" in html


def test_reading_a_followed_thread_again_writes_nothing(app):
    asker = factories.user("asker_amy")
    t = factories.thread(asker, title="Followed by its asker", conditions=("crohns",))
    client = signed_in(app, "asker_amy")  # asking followed the thread
    page(client, t)
    before = content_version()
    page(client, t)
    page(client, t)
    assert content_version() == before  # no write per page view: the visitors' cache stays
    threads.add_reply(factories.user("helper_hal"), t, "A new reply to catch up on")
    page(client, t)  # something new: the follow is caught up
    assert "Nothing new since your last visit" in client.get("/following").get_data(as_text=True)
    threads.add_reply(factories.user("helper_hy"), t, "Another one, not read yet")
    assert "1 new reply" in client.get("/following").get_data(as_text=True)
