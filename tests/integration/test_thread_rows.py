"""A signed-in member's list pages reuse rendered rows, and still show every change at once.

Rows of thread lists are rendered once per distinct content (forum/threads/rows.py): the
key is what the row shows, so an edit, a reply, a vote, a resolve, a lock, a hide or an
erased account is on the very next member page, with no invalidation step to forget.
"""

from __future__ import annotations

import re

from forum.extensions import db
from forum.moderation import service as moderation
from forum.privacy import service as privacy
from forum.threads import service as threads
from tests import factories

ROW = re.compile(r'<li class="thread-item">.*?</li>\s*(?=<li class="thread-item">|</ul>)', re.S)


def rows(html: str) -> list[str]:
    return ROW.findall(html)


def member_page(client, path: str = "/conditions/crohns") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_remembered_rows_are_the_rows_a_fresh_rendering_gives(app, client, auth):
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    plain = factories.thread(asker, title="Plain one", conditions=("crohns",))
    busy = factories.thread(
        asker,
        title="Busy one",
        body="**Bold** start of a long question",
        conditions=("crohns", "lupus"),
        side_effects=("nausea",),
        replies=[(helper, "Try taking it with food"), (mod, "Same here")],
    )
    threads.mark_helpful(asker, busy.posts[1])
    threads.mark_resolved(asker, busy, busy.posts[1])
    moderation.set_thread_locked(mod, plain, True)
    auth.login()
    first = member_page(client)  # renders and remembers
    again = member_page(client)  # served from remembered rows
    app.extensions.pop("thread_rows")
    fresh = member_page(client)  # the cache switched off: rendered by the macro alone
    assert rows(first) == rows(again) == rows(fresh)
    assert len(rows(fresh)) == 2
    assert "Resolved" in rows(fresh)[0] and "Locked" in rows(fresh)[1]


def test_a_member_sees_each_change_to_a_listed_thread_at_once(app, client, auth):
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    t = factories.thread(asker, title="Tired on aza", conditions=("crohns",))
    gone = factories.thread(asker, title="Soon hidden", conditions=("crohns",))
    auth.login()
    assert "0 replies" in member_page(client)

    threads.edit_post(asker, t.question, "Now a new excerpt", title="Exhausted on aza")
    html = member_page(client)
    assert "Exhausted on aza" in html and "Tired on aza" not in html
    assert "Now a new excerpt" in html

    reply = threads.add_reply(helper, t, "Me too")
    html = member_page(client)
    assert "1 reply" in html and "Last replies from helper_hal" in html

    threads.mark_helpful(asker, reply)
    assert "1 found helpful" in member_page(client)

    threads.mark_resolved(asker, t, reply)
    assert "badge-resolved" in member_page(client)

    moderation.set_post_hidden(mod, reply, True)
    html = member_page(client)
    assert "helper_hal" not in html and "0 replies" in html

    moderation.set_thread_hidden(mod, gone, True)
    html = member_page(client)
    assert "Soon hidden" not in html and "Exhausted on aza" in html


def test_an_erased_asker_shows_as_a_former_member_at_once(app, client, auth):
    leaver = factories.user("leaving_lou")
    factories.user("sunny_days")
    factories.thread(leaver, title="Kept question", conditions=("crohns",))
    auth.login()
    assert "leaving_lou" in member_page(client)
    privacy.delete_account(leaver, factories.PASSWORD, "keep")
    db.session.expire_all()
    html = member_page(client)
    assert "Kept question" in html and "leaving_lou" not in html
    assert "a former member" in html
