"""The search page reuses remembered snippets and rendered result rows, and still shows
every change at once.

Snippets are remembered by their inputs (the stems, the title, a digest of the visible
posts' HTML: forum/search/highlight.py ``marked``) and result rows by what they show
(forum/threads/rows.py ``hit_key``), so an edit, a hide, a deleted reply, a new reply or
a vote is on the very next search with nothing to invalidate. The engine's outcomes are
remembered per searcher (forum/search/engine.py), and any index change opens a new one.
"""

from __future__ import annotations

import re

from forum.moderation import service as moderation
from forum.threads import service as threads
from tests import factories

HIT = re.compile(r'<li class="thread-item">.*?</p>\s*</li>', re.S)


def hits(html: str) -> list[str]:
    return HIT.findall(html)


def search_page(client, q: str, **params) -> str:
    response = client.get("/search", query_string={"q": q, **params})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_remembered_results_are_what_a_fresh_rendering_gives(app, client, auth):
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    factories.user("sunny_days")
    busy = factories.thread(
        asker,
        title="Tired all the time",
        body="Since starting I am **tired** & weary <b>every</b> day",
        conditions=("crohns", "lupus"),
        side_effects=("nausea",),
        replies=[(helper, "Tiredness eased for me after a month")],
    )
    factories.thread(asker, title="Other question", body="Feeling tired after the dose")
    threads.mark_helpful(asker, busy.posts[1])
    threads.mark_resolved(asker, busy, busy.posts[1])
    auth.login()
    first = search_page(client, "tired")  # renders and remembers
    again = search_page(client, "tired")  # served from remembered snippets and rows
    assert app.extensions["search_snippets"].hits >= 2
    app.extensions.pop("thread_rows")
    app.config["SEARCH_SNIPPET_CACHE_BYTES"] = 0
    app.extensions.pop("search_snippets")
    fresh = search_page(client, "tired")  # both caches off: marked and rendered anew
    assert hits(first) == hits(again) == hits(fresh)
    assert len(hits(fresh)) == 2
    assert "<mark>Tired</mark> all the" in fresh and "badge-resolved" in fresh
    assert "&amp; <mark>weary</mark> &lt;b&gt;every" in fresh  # still escaped
    api = client.get("/api/v1/search?q=tired").get_json()
    assert any("<mark>tired</mark>" in r["snippet"] for r in api["results"])


def test_a_searcher_sees_each_change_to_a_result_at_once(app, client, auth):
    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    t = factories.thread(asker, title="Bloods question", body="Monthly blood tests.")
    reply = threads.add_reply(helper, t, "My lymphocytes dropped in spring")
    auth.login()
    assert "<mark>lymphocytes</mark> dropped in spring" in search_page(client, "lymphocytes")

    assert "1 question found" in search_page(client, "lymphocytes")
    factories.thread(helper, title="Second one", body="Are lymphocytes checked monthly?")
    assert "2 questions found" in search_page(client, "lymphocytes")  # a new searcher
    assert app.extensions["thread_rows"].hits >= 1

    threads.edit_post(helper, reply, "My lymphocytes recovered by autumn")
    html = search_page(client, "lymphocytes")
    assert "recovered by autumn" in html and "dropped in spring" not in html

    other = threads.add_reply(asker, t, "Lymphocytes low here too, doctor unworried")
    threads.mark_helpful(asker, reply)
    html = search_page(client, "lymphocytes")
    assert "1 found helpful" in html and "2 replies" in html

    moderation.set_post_hidden(mod, reply, True)
    html = search_page(client, "lymphocytes")
    assert "recovered by autumn" not in html  # a hidden reply's words leave the snippet
    assert "<mark>Lymphocytes</mark> low here too" in html

    threads.delete_post(asker, other)
    html = search_page(client, "lymphocytes")
    assert "low here too" not in html

    threads.edit_post(asker, t.question, "Monthly lymphocytes counts.", title="Blood counts")
    html = search_page(client, "lymphocytes")
    assert f"/t/{t.id}/blood-counts" in html and "Bloods question" not in html
    assert "Monthly <mark>lymphocytes</mark>" in html

    moderation.set_thread_hidden(mod, t, True)
    html = search_page(client, "lymphocytes")
    assert "blood-counts" not in html and "Monthly" not in html


def test_result_page_links_are_the_addresses_url_for_builds(app):
    """The facet, tab and page links are built without the URL map (forum/search/views.py
    ``_link``): each must be the very address ``url_for`` gives, under a script root too."""
    from flask import url_for

    from forum.search import views
    from forum.search.service import Results

    odd = 'tired & "sick" 50% /hair? #1 naïve ’quote’ a+b=c ~!$\'()*,;:@'
    cases = [
        (Results(q=""), {}),
        (Results(q="tired"), {}),
        (Results(q=odd, sort="newest", filters={"condition": "lupus"}), {"page": 3}),
        (Results(q=odd, filters={"condition": "lupus", "tpmt": None}), {"condition": None}),
        (Results(q="", filters={"side_effect": "hair-loss"}), {"sort": "helpful", "page": None}),
        (Results(q="x", sort="activity"), {"sort": None, "medication": "mercaptopurine"}),
    ]
    for base_url in ("http://localhost/", "http://localhost/forum/"):
        with app.test_request_context("/search", base_url=base_url):
            for res, changes in cases:
                args = {"q": res.q or None, "sort": res.sort if res.sort != "relevance" else None}
                args.update(res.filters)
                args.update(changes)
                kept = {k: v for k, v in args.items() if v not in (None, "")}
                assert views._link(res, **changes) == url_for("search.results", **kept)


def test_tag_links_are_the_addresses_url_for_builds(app):
    """Tag links are remembered per app and script root (forum/threads/views.py
    ``tag_url``): each is the address ``url_for`` gives, under a script root too, and a
    request under another script root never gets one remembered for the first."""
    from flask import url_for

    from forum import vocabulary
    from forum.threads.views import KIND_ENDPOINTS, tag_url

    slugs = [(kind, term.slug) for kind in KIND_ENDPOINTS for term in vocabulary.terms(kind)]
    assert len(slugs) > 20
    for base_url in ("http://localhost/", "http://localhost/forum/", "http://localhost/"):
        with app.test_request_context("/search", base_url=base_url):
            for kind, slug in slugs + [("condition", "odd slug/é")]:
                expected = url_for(KIND_ENDPOINTS[kind], slug=slug)
                assert tag_url(kind, slug) == tag_url(kind, slug) == expected


def test_result_rows_read_without_the_orm_show_what_the_thread_shows(app, client, auth):
    """Results are read with core selects (forum/search/resultrows.py ``ResultThread``): each
    hit has the thread's shown columns and tags in the relationship's order, renders the
    very row the ORM thread renders, a thread without tags is a hit with none, and a
    hidden or deleted thread is never a hit."""
    from sqlalchemy import delete

    from forum.extensions import db
    from forum.models import Thread, ThreadTag
    from forum.search import views
    from forum.search.service import Hit, search

    asker = factories.user("asker_amy")
    helper = factories.user("helper_hal")
    mod = factories.user("mod_mo", role="moderator")
    factories.user("sunny_days")
    busy = factories.thread(
        asker,
        title="Tired and sick of it",
        body="So tired every day",
        conditions=("crohns", "lupus", "ulcerative-colitis"),
        side_effects=("nausea", "fatigue"),
        medications=("azathioprine", "mercaptopurine"),
        replies=[(helper, "Tiredness eased for me")],
    )
    threads.mark_helpful(asker, busy.posts[1])
    threads.mark_resolved(asker, busy, busy.posts[1])
    plain = factories.thread(helper, title="Tired in the evening", body="Tired.", medications=())
    bare = factories.thread(helper, title="Tired, no tags", body="tired", medications=())
    # No form leaves a thread without tags; an imported one may have none.
    db.session.execute(delete(ThreadTag).where(ThreadTag.thread_id == bare.id))
    db.session.commit()
    hidden = factories.thread(helper, title="Tired hidden", body="tired words")
    gone = factories.thread(helper, title="Tired deleted", body="tired words")
    moderation.set_thread_hidden(mod, hidden, True)
    threads.delete_post(helper, gone.question)

    with app.test_request_context("/search?q=tired"):
        res = search("tired")
        assert {hit.thread.id for hit in res.items} == {busy.id, plain.id, bare.id}
        assert not bare.tags
        page = {"res": res, "link": views._link, "label": views.label, "facet_groups": []}
        page["filter_phrase"] = views.filter_phrase
        app.update_template_context(page)  # what render_template adds (current_user ...)
        template = app.jinja_env.get_template("search/results.html")
        macro = template.make_module(page).search_hit
        for hit in res.items:
            orm = db.session.get(Thread, hit.thread.id)
            shown = ("id", "title", "reply_count", "helpful_count", "resolved_post_id")
            for name in (*shown, "created_at"):
                assert getattr(hit.thread, name) == getattr(orm, name), name
            assert [(t.kind, t.slug) for t in hit.thread.tags] == [
                (t.kind, t.slug) for t in orm.tags
            ]
            for kind in ("condition", "side_effect", "medication"):
                assert hit.thread.tag_slugs(kind) == orm.tag_slugs(kind)
            as_orm = Hit(orm, hit.score, hit.snippet, hit.title_html)
            assert str(macro(hit)) == str(macro(as_orm))
    auth.login()
    html = search_page(client, "tired")
    assert "badge-resolved" in html and "1 found helpful" in html and "Ulcerative" in html
    assert "Tired hidden" not in html and "Tired deleted" not in html
    api = client.get("/api/v1/search?q=tired").get_json()
    row = next(r for r in api["results"] if r["id"] == busy.id)
    assert row["conditions"] == busy.tag_slugs("condition")
    assert row["medications"] == ["azathioprine", "mercaptopurine"]


def test_thread_links_are_the_addresses_url_for_builds(app):
    """Thread links are a remembered prefix plus id and slug (forum/threads/views.py
    ``thread_url``): the very address ``url_for`` gives for any title, under a script
    root too; links with arguments (an anchor, external) still go through url_for."""
    from types import SimpleNamespace

    from flask import url_for

    from forum.threads.queries import slugify
    from forum.threads.views import thread_url

    titles = [
        "Hair loss on aza?",
        "",
        "   ",
        "Crohn’s & naïve “quotes” / 50%",
        "ÆØÅ ß ﬁ",
        "-x-",
        "a" * 90,
    ]
    for base_url in ("http://localhost/", "http://localhost/forum/", "http://localhost/"):
        with app.test_request_context("/", base_url=base_url):
            for n, title in enumerate(titles):
                thread = SimpleNamespace(id=n * 977 + 1, title=title)
                want = url_for("threads.show", thread_id=thread.id, slug=slugify(title))
                assert thread_url(thread) == thread_url(thread) == want
                assert thread_url(thread, _anchor="post-3") == want + "#post-3"
                assert thread_url(thread, _external=True).endswith(want)


def test_remembered_tag_lists_follow_a_change_of_tags_and_script_root(app, client, auth):
    """Tag lists are rendered once per list of tags (forum/threads/rows.py ``tag_list``),
    and each tag once per tag (``tag_link``):
    a retagged thread shows its new tags on the next search and list page, and a request
    under another script root gets links under its own root."""
    asker = factories.user("asker_amy")
    factories.user("sunny_days")
    t = factories.thread(asker, title="Tired lately", body="Tired.", conditions=("lupus",))
    other = factories.thread(asker, title="Tired too", body="Tired.", conditions=("lupus",))
    auth.login()
    html = search_page(client, "tired")
    assert html.count('href="/conditions/lupus"') == 2
    threads.edit_post(asker, t.question, "Tired.", conditions=["crohns"], medications=[])
    html = search_page(client, "tired")
    assert html.count('href="/conditions/lupus"') == 1 and 'href="/conditions/crohns"' in html
    listed = client.get("/conditions/crohns").get_data(as_text=True)
    assert 'href="/conditions/crohns"' in listed and "Tired lately" in listed
    rooted = client.get("/search", query_string={"q": "tired"}, base_url="http://localhost/forum/")
    html = rooted.get_data(as_text=True)
    assert 'href="/forum/conditions/lupus"' in html and 'href="/conditions/lupus"' not in html
    assert f'href="/forum/t/{other.id}/tired-too"' in html
    remembered = hits(search_page(client, "tired"))
    app.extensions.pop("thread_rows")  # rows and tag lists rendered afresh: the same
    assert hits(search_page(client, "tired")) == remembered
