"""Reading pages: home tabs, per-term pages, thread pages, pagination and profiles' lists."""

from __future__ import annotations

from datetime import timedelta

from forum.extensions import db
from forum.models import Thread, utcnow
from forum.threads import service
from tests import factories


def test_home_lists_threads_with_tags_counts_and_author(client):
    asker = factories.user("sunny_days")
    helper = factories.user("helper")
    t = factories.thread(
        asker,
        title="Hair thinning after three months",
        side_effects=("hair loss",),
        replies=[(helper, "Mine grew back.")],
    )
    service.mark_helpful(asker, t.replies[0])
    html = client.get("/").get_data(as_text=True)
    assert f'href="/t/{t.id}/hair-thinning-after-three-months"' in html
    assert 'href="/conditions/lupus"' in html and 'href="/side-effects/hair-loss"' in html
    assert 'href="/medications/azathioprine"' in html
    assert "1 reply" in html and "1 found helpful" in html
    assert 'href="/u/sunny_days"' in html


def test_threads_of_erased_authors_say_a_former_member(client):
    t = factories.thread(title="Orphaned question")
    t.author = None
    t.question.author = None
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "a former member" in html
    assert "a former member" in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_resolved_threads_are_marked_in_lists(client):
    asker, helper = factories.user(), factories.user()
    t = factories.thread(asker, title="Resolved one", replies=[(helper, "Try taking it at night.")])
    factories.thread(asker, title="Open one")
    service.mark_resolved(asker, t, t.replies[0])
    html = client.get("/").get_data(as_text=True)
    resolved_item = html.split("Resolved one")[1].split("</li>")[0]
    open_item = html.split("Open one")[1].split("</li>")[0]
    assert "Resolved</span>" in resolved_item and "Resolved</span>" not in open_item


def test_tabs_latest_unanswered_and_most_helpful(client):
    asker, helper, reader = factories.user(), factories.user(), factories.user()
    quiet = factories.thread(asker, title="Nobody answered this")
    busy = factories.thread(asker, title="Lots of answers here", replies=[(helper, "Yes.")])
    service.mark_helpful(reader, busy.replies[0])
    factories.thread(asker, title="Answered but unhelpful", replies=[(helper, "No idea.")])

    unanswered = client.get("/?tab=unanswered").get_data(as_text=True)
    assert quiet.title in unanswered and busy.title not in unanswered
    assert 'aria-current="page">Unanswered' in unanswered
    helpful = client.get("/?tab=helpful").get_data(as_text=True)
    assert helpful.index(busy.title) < helpful.index("Answered but unhelpful")
    latest = client.get("/?tab=nonsense").get_data(as_text=True)
    assert 'aria-current="page">Latest' in latest
    assert latest.index("Answered but unhelpful") < latest.index(quiet.title)


def test_pagination_and_out_of_range_pages(app, client):
    app.config["PER_PAGE"] = 20
    author = factories.user()
    base = utcnow() - timedelta(days=30)
    for n in range(25):
        t = factories.thread(author, title=f"Numbered question {n:02d}")
        t.last_activity_at = base + timedelta(hours=n)
    db.session.commit()
    first = client.get("/").get_data(as_text=True)
    assert "Numbered question 24" in first and "Numbered question 04" not in first
    assert "Page 1 of 2" in first and 'href="/?page=2"' in first
    second = client.get("/?page=2").get_data(as_text=True)
    assert "Numbered question 04" in second and "Numbered question 24" not in second
    assert 'rel="prev"' in second
    # Past the end: the last page, not an empty list or an error.
    beyond = client.get("/?page=99")
    assert beyond.status_code == 200
    assert "Numbered question 00" in beyond.get_data(as_text=True)
    for bad in ("abc", "-3", "0", "1.5"):
        response = client.get(f"/?page={bad}")
        assert response.status_code == 200
        assert "Numbered question 24" in response.get_data(as_text=True)
    # Absurd page numbers are a plain 404 page (forum.security), never a database error.
    assert client.get("/?page=99999999999999999999").status_code == 404
    # Pagination keeps the tab and the term.
    lupus = client.get("/conditions/lupus?tab=latest").get_data(as_text=True)
    assert "/conditions/lupus?page=2&amp;tab=latest" in lupus or (
        "/conditions/lupus?tab=latest&amp;page=2" in lupus
    )


def test_conditions_index_counts_visible_threads(client):
    factories.thread(title="Crohn's question", conditions=("crohns",))
    factories.thread(title="Both", conditions=("crohns", "lupus"))
    hidden = factories.thread(title="Hidden", conditions=("crohns",))
    hidden.is_hidden = True
    db.session.commit()
    html = client.get("/conditions").get_data(as_text=True)
    crohns = html.split('href="/conditions/crohns"')[1].split("</li>")[0]
    assert "2 questions" in crohns
    uveitis = html.split('href="/conditions/uveitis"')[1].split("</li>")[0]
    assert "0 questions" in uveitis


def test_condition_page_lists_only_its_threads_and_searches_within(client):
    factories.thread(title="About Crohn's", conditions=("crohns",))
    factories.thread(title="About lupus only", conditions=("lupus",))
    html = client.get("/conditions/crohns").get_data(as_text=True)
    assert "About Crohn&#39;s" in html and "About lupus only" not in html
    form = html.split('class="search-within"')[1].split("</form>")[0]
    assert 'action="/search"' in form and 'method="get"' in form
    assert 'name="condition" value="crohns"' in form and 'name="q"' in form
    assert '<label for="search-within-q">' in form
    tabs = client.get("/conditions/crohns?tab=unanswered").get_data(as_text=True)
    assert "About Crohn&#39;s" in tabs


def test_side_effect_and_medication_pages(client):
    factories.thread(title="Nausea in the mornings", side_effects=("nausea",), medications=())
    factories.thread(title="On allopurinol too", medications=("allopurinol",))
    assert "Nausea" in client.get("/side-effects").get_data(as_text=True)
    nausea = client.get("/side-effects/nausea").get_data(as_text=True)
    assert "Nausea in the mornings" in nausea and "On allopurinol too" not in nausea
    allo = client.get("/medications/allopurinol").get_data(as_text=True)
    assert "On allopurinol too" in allo and "Nausea in the mornings" not in allo
    assert "Allopurinol" in client.get("/medications").get_data(as_text=True)


def test_unknown_slugs_and_ids_are_404(client):
    for path in (
        "/conditions/not-a-thing",
        "/side-effects/nope",
        "/medications/nope",
        "/t/999",
        "/t/999/some-slug",
        "/posts/999/edit",
    ):
        assert client.get(path).status_code in (404, 302), path
    assert client.get("/t/999").status_code == 404
    assert client.get("/conditions/not-a-thing").status_code == 404


def test_thread_page_with_and_without_slug(client):
    t = factories.thread(title="Is it safe to get a flu jab?")
    canonical = f"/t/{t.id}/is-it-safe-to-get-a-flu-jab"
    for path in (f"/t/{t.id}", canonical, f"/t/{t.id}/anything-else"):
        html = client.get(path).get_data(as_text=True)
        assert "Is it safe to get a flu jab?" in html
        assert f'rel="canonical" href="http://localhost{canonical}"' in html


def test_thread_page_shows_question_tags_replies_in_order_and_not_advice_note(client):
    asker, a, b = factories.user("asker"), factories.user("first_helper"), factories.user("second")
    t = factories.thread(
        asker,
        title="Bloods every week?",
        body="How often do you get **blood tests**?",
        side_effects=("low white count",),
        replies=[(a, "Weekly for the first month."), (b, "Monthly after that.")],
    )
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "<strong>blood tests</strong>" in html
    assert html.index("Weekly for the first month.") < html.index("Monthly after that.")
    assert "experiences, not medical advice" in html
    assert 'href="/side-effects/low-white-count"' in html
    assert "2 replies" in html
    assert "found this helpful" not in html  # a zero count is noise, not news


def test_hidden_thread_is_404_to_members_but_visible_to_moderators(client, auth):
    t = factories.thread(title="Hidden by mods")
    t.is_hidden = True
    db.session.commit()
    assert client.get(f"/t/{t.id}").status_code == 404
    factories.user("sunny_days", role="moderator")
    auth.login()
    assert client.get(f"/t/{t.id}").status_code == 200


def test_locked_thread_says_so_and_refuses_replies(client, auth):
    t = factories.thread(title="Old thread")
    db.session.get(Thread, t.id).is_locked = True
    db.session.commit()
    factories.user("sunny_days")
    auth.login()
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "This thread is locked" in html
    assert f'action="/t/{t.id}/reply"' not in html


def test_anonymous_reader_sees_sign_in_links_not_forms(client):
    t = factories.thread(replies=[(factories.user(), "A reply")])
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert f'href="/login?next=/t/{t.id}"' in html
    # A guest's reply box carries the text on to joining; it never posts by itself.
    assert 'action="/join/reply"' in html and "Join to post your reply" in html
    assert "This helped me" not in html
    assert f'action="/t/{t.id}/reply"' not in html
