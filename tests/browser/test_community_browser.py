"""Issue 14 in a real browser: the header on a phone and a desktop, the favicon, and the
journeys that make the forum feel like people (join-then-ask, avatars, answer cards)."""

from __future__ import annotations

import re
import urllib.request

from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .steps import ask, register, unique


def test_favicon_is_served(demo_forum):
    with urllib.request.urlopen(demo_forum.url + "/favicon.ico", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/vnd.microsoft.icon"
        assert len(resp.read()) > 500


def test_phone_header_is_a_menu_that_opens_with_the_keyboard(demo_forum, new_person):
    page = new_person(viewport=PHONE, is_mobile=True)
    page.goto(demo_forum.url + "/")
    menu = page.get_by_role("group").filter(has_text="Menu").first
    summary = page.locator("summary", has_text="Menu")
    expect(summary).to_be_visible()
    header_height = page.locator("header.site-header").bounding_box()["height"]
    assert header_height < 150, f"the phone header is {header_height}px tall"
    sign_in = page.get_by_role("link", name="Sign in")
    expect(sign_in).to_be_hidden()
    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    expect(sign_in).to_be_visible()
    page.get_by_role("link", name="Conditions", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Conditions")


def test_signed_in_desktop_nav_stays_on_one_line(demo_forum, new_person):
    page = new_person(viewport=DESKTOP)
    register(page, demo_forum.url, unique("long_display_name"))
    nav = page.locator("nav.nav-bar")
    first = nav.get_by_role("link", name="Conditions").bounding_box()
    sign_out = nav.get_by_role("button", name="Sign out").bounding_box()
    middle = lambda box: box["y"] + box["height"] / 2  # noqa: E731
    assert abs(middle(first) - middle(sign_out)) < 6, (first, sign_out)
    expect(page.locator("summary", has_text="Menu")).to_be_hidden()


def test_join_then_ask_lands_on_the_ask_form_signed_in(forum, new_person):
    page = new_person(viewport=DESKTOP)
    page.goto(forum.url + "/")
    page.get_by_role("link", name="Ask a question").first.click()  # signed out: to sign in
    page.get_by_role("link", name="Join with a pseudonym").click()
    name = unique("first_timer")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.org")
    page.get_by_label("Password", exact=True).fill("plaited-rowan-kettle")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask a question")
    expect(page.get_by_role("status")).to_contain_text("you are signed in")
    expect(page.locator("header.site-header")).to_contain_text(name)
    expect(page.get_by_label("Title")).to_be_visible()


def test_a_side_effect_search_shows_the_answer_card_with_report_numbers(demo_forum, page):
    page.goto(demo_forum.url + "/search?q=always+tired")
    card = page.get_by_role("region", name="What people report about fatigue")
    expect(card).to_be_visible()
    expect(card).to_contain_text(
        re.compile(r"\d+ of \d+ experience reports \(\d+%\) mention fatigue")
    )
    expect(card).to_contain_text(re.compile(r"typically began around week \d+"))
    card.get_by_role("link", name="See the full summary").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("What patients report")


def test_reply_shows_the_authors_avatar_and_flair(demo_forum, page):
    page.goto(demo_forum.url + "/search?q=metabolite+6-TGN")
    page.get_by_role("link", name=re.compile("Metabolite test")).first.click()
    reply = page.locator("section.replies article.post", has_text="It confused me too")
    expect(reply).to_contain_text("tramline_tom")
    expect(reply.locator("svg.avatar")).to_be_visible()
    expect(reply.locator(".flair")).to_contain_text(re.compile(r"on aza \d+ (yrs?|mths?)"))


def test_no_page_is_wider_than_a_phone_with_its_tables_opened(demo_forum, new_person):
    page = new_person(viewport=PHONE, is_mobile=True)
    for path in ("/reports", "/reports/lupus", "/reports/crohns", "/side-effects/fatigue", "/"):
        page.goto(demo_forum.url + path)
        for summary in page.locator("main details > summary").all():
            summary.click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide with its tables open"


def test_ask_form_shows_what_people_with_the_condition_report_as_boxes_are_ticked(demo_forum, page):
    register(page, demo_forum.url, unique("ticker"))
    page.goto(demo_forum.url + "/ask")
    page.get_by_role("group", name=re.compile("Conditions")).get_by_label("Lupus (SLE)").check()
    page.get_by_text("Side effects (optional)", exact=True).first.click()
    page.get_by_role("group", name=re.compile("Side effects")).get_by_label(
        "Nausea and vomiting"
    ).check()
    card = page.locator("#answer-cards .answer-card")
    expect(card).to_contain_text("What people with Lupus (SLE) report about nausea and vomiting")
    expect(card).to_contain_text(re.compile(r"\d+ of \d+ Lupus \(SLE\) experience reports"))


def test_a_reply_written_signed_out_survives_joining(forum, new_person):
    asker = new_person()
    register(asker, forum.url, unique("asker"))
    url = ask(asker, forum.url, "Does the nausea settle?", "Week two, queasy.", ["Crohn's disease"])
    reader = new_person()
    reader.goto(url)
    reader.get_by_role("textbox", name="Your reply").fill("Mine settled by week five.")
    reader.get_by_role("button", name="Join to post your reply").click()
    expect(reader.get_by_role("status")).to_contain_text("Your reply is kept")
    name = unique("replier")
    reader.get_by_label("Display name").fill(name)
    reader.get_by_label("Email").fill(f"{name}@example.org")
    reader.get_by_label("Password", exact=True).fill("plaited-rowan-kettle")
    reader.get_by_role("button", name="Create account").click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("Does the nausea settle?")
    expect(reader.get_by_role("status")).to_contain_text("Your reply is below, not posted yet")
    expect(reader.get_by_role("textbox", name="Your reply")).to_have_value(
        "Mine settled by week five."
    )
    reader.get_by_role("button", name="Post reply").click()
    expect(reader.locator("section.replies")).to_contain_text("Mine settled by week five.")
