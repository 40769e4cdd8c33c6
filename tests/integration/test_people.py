"""People on the page (issue 14): avatars, flair, excerpts, repliers and helpful counts."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from sqlalchemy import event

from forum.experiences import service as experiences
from forum.extensions import db
from forum.threads import service as threads
from tests import factories


def report(user, condition="lupus", started=None, show=True):
    experiences.save_report(
        user,
        condition,
        {
            "started_on": started or date.today() - timedelta(days=800),
            "steps": [],
            "side_effects": [],
            "show_on_profile": show,
        },
        confirmed=True,
    )


def test_a_reply_shows_its_authors_avatar_and_flair(client):
    asker, helper = factories.user("asker_amy"), factories.user("helper_hal")
    report(helper, "lupus")
    t = factories.thread(asker, title="Tired on aza?", replies=[(helper, "It eased by week 8.")])
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    post = html[html.index(f'id="post-{t.posts[1].id}"') :]
    assert '<svg class="avatar"' in post[:1500]
    assert "Lupus (SLE) · on aza 2 yrs" in post[:1500]


def test_flair_can_be_switched_off_and_respects_hidden_reports(client, auth):
    hal = factories.user("helper_hal")
    report(hal, "crohns", show=False)
    t = factories.thread(factories.user(), replies=[(hal, "Same here.")])
    assert 'class="flair"' not in client.get(f"/t/{t.id}").get_data(as_text=True)
    report(hal, "lupus")
    assert "Lupus (SLE) · on aza" in client.get(f"/t/{t.id}").get_data(as_text=True)
    auth.login("helper_hal")
    page = client.get("/account").get_data(as_text=True)
    assert "Show my conditions and time on azathioprine beside my name" in page
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = client.post("/account/profile", data={"csrf_token": token})  # box unticked
    assert resp.status_code == 302
    assert db.session.get(type(hal), hal.id).show_flair is False
    assert 'class="flair"' not in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_profile_shows_avatar_flair_and_helpful_count(client):
    hal, voter, other = factories.user("helper_hal"), factories.user("v1"), factories.user("v2")
    report(hal, "ulcerative-colitis")
    t = factories.thread(factories.user(), replies=[(hal, "Week 6 for me.")])
    for person in (voter, other):
        threads.mark_helpful(person, t.posts[1])
    html = client.get("/u/helper_hal").get_data(as_text=True)
    assert '<svg class="avatar"' in html
    assert "Ulcerative colitis · on aza 2 yrs" in html
    assert "<strong>2</strong> people found their replies helpful" in html


def test_lists_show_excerpt_repliers_and_helpful_only_when_non_zero(client):
    a, b = factories.user("replier_a"), factories.user("replier_b")
    factories.thread(title="Quiet one", body="Has **anyone** had mouth ulcers?")
    busy = factories.thread(title="Busy one", replies=[(a, "Yes."), (b, "Me too.")])
    threads.mark_helpful(factories.user(), busy.posts[1])
    html = client.get("/").get_data(as_text=True)
    quiet_row = html[html.index("Quiet one") :]
    assert "Has anyone had mouth ulcers?" in quiet_row[:1500]
    assert "found helpful" not in quiet_row[:1500]
    busy_row = html[html.index("Busy one") : html.index("Quiet one")]
    assert "1 found helpful" in busy_row
    assert "Last replies from replier_b, replier_a" in busy_row
    assert "0 found" not in html


def test_list_pages_cost_the_same_queries_for_more_threads(client):
    people = [factories.user(f"p{i}") for i in range(6)]
    for person in people:
        report(person)

    def queries_for_home() -> int:
        count = 0

        me = threading.get_ident()  # not the search index catching up in the background

        def counter(*_args, **_kw):
            nonlocal count
            count += threading.get_ident() == me

        event.listen(db.engine, "before_cursor_execute", counter)
        try:
            assert client.get("/").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", counter)
        return count

    factories.thread(people[0], replies=[(p, "Reply") for p in people[1:3]])
    # Each count is taken on a second request, so the remembered parts (the list total,
    # the welcome box's counts, kept for WELCOME_COUNTS_SECONDS) are out of both.
    queries_for_home()
    few = queries_for_home()
    for i in range(8):
        factories.thread(people[i % 6], replies=[(p, f"Reply {i}") for p in people])
    queries_for_home()
    assert queries_for_home() == few  # 9 threads and 6 people cost what 1 thread and 3 did
