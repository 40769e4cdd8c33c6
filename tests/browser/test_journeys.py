"""People using the forum in a real browser, each journey asserting what the person sees."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import PHONE
from .steps import ask, register, reply, search, unique


def test_new_patient_asks_and_finds_the_question_by_condition_and_in_other_words(forum, page):
    base = forum.url
    name = register(page, base, unique("new_to_aza"))
    title = "Brush full of strands since starting azathioprine for my SLE"
    url = ask(
        page,
        base,
        title,
        "Twelve weeks on 100 mg. Every morning there is much more in the brush than before "
        "and my parting looks wider. Did it settle for anyone?",
        conditions=["Lupus (SLE)"],
        side_effects=["Hair loss"],
    )
    question = page.locator("article.post").first
    expect(question).to_contain_text(name)
    expect(page.locator("main")).to_contain_text("Hair loss")

    # On the lupus page, reached through the conditions index.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Conditions").click()
    page.get_by_role("link", name="Lupus (SLE)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lupus (SLE)")
    expect(page.get_by_role("link", name=title)).to_be_visible()

    # Searching the side effect in the person's own words: none of them are in the post.
    search(page, base, "hair coming out", title)
    page.get_by_role("link", name=title).first.click()
    assert page.url.split("?")[0] == url.split("?")[0]


def test_a_member_replies_another_finds_it_helpful_and_the_asker_marks_it_resolved(
    forum, new_person
):
    base = forum.url
    asker = new_person()
    asker_name = register(asker, base, unique("asker"))
    url = ask(
        asker,
        base,
        "Queasy every afternoon after my Imuran dose",
        "I take it with breakfast and feel sick by two o'clock. Tips?",
        conditions=["Crohn's disease"],
        side_effects=["Nausea and vomiting"],
    )

    replier = new_person()
    register(replier, base, unique("replier"))
    answer = "Splitting the dose between breakfast and dinner settled it for me within a week."
    reply(replier, url, answer)

    reader = new_person()
    register(reader, base, unique("reader"))
    reader.goto(url)
    the_reply = reader.locator("section.replies article.post", has_text=answer)
    expect(the_reply).not_to_contain_text("found this helpful")  # no "0 found" noise
    the_reply.get_by_role("button", name="This helped me").click()
    the_reply = reader.locator("section.replies article.post", has_text=answer)
    expect(the_reply).to_contain_text("1 found this helpful")
    undo = the_reply.get_by_role("button", name=re.compile("You found this helpful"))
    expect(undo).to_be_visible()

    asker.goto(url)
    asker.locator("section.replies article.post", has_text=answer).get_by_role(
        "button", name="This resolved it for me"
    ).click()
    first_reply = asker.locator("section.replies article.post").first
    expect(first_reply).to_contain_text(f"Resolved it for {asker_name}")
    expect(first_reply).to_contain_text(answer)

    # Anyone reading later sees the same, framed as one person's experience.
    anonymous = new_person()
    anonymous.goto(url)
    first_reply = anonymous.locator("section.replies article.post").first
    expect(first_reply).to_contain_text("one person's experience")
    expect(first_reply).to_contain_text("1 found this helpful")


def test_on_a_phone_the_pages_fit_the_screen_and_the_menu_works(forum, new_person):
    base = forum.url
    phone = new_person(viewport=PHONE, is_mobile=True, has_touch=True)
    register(phone, base, unique("on_the_bus"))
    url = ask(
        phone,
        base,
        "Does anyone else get mouth ulcers on aza, and what helped?",
        "A long word that must wrap: " + "supercalifragilistic" * 6,
        conditions=["Ulcerative colitis"],
        side_effects=["Mouth ulcers"],
    )
    for path in ["/", "/conditions", "/conditions/ulcerative-colitis", url, "/ask"]:
        phone.goto(path if path.startswith("http") else base + path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
    phone.goto(base + "/")
    phone.locator("summary", has_text="Menu").tap()  # the links sit behind a Menu button
    nav = phone.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Ask a question")).to_be_in_viewport()
    nav.get_by_role("link", name="Conditions").tap()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Conditions")
