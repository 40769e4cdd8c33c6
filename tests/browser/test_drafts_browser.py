"""drafts.js in a real browser: autosave every few seconds, a last save when leaving the
page, the draft back after signing out and in, gone once the question is posted."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .steps import register, sign_in, unique


def test_question_draft_is_autosaved_kept_across_sign_out_and_cleared_by_posting(forum, page):
    base = forum.url
    name = register(page, base, unique("drafter"))
    page.goto(f"{base}/ask")
    page.get_by_label("Title").fill("Itchy skin since starting aza")
    page.get_by_label("Your question").fill("It began in the second week")
    # The interval autosave reports itself next to the Save draft button.
    expect(page.locator("[data-draft-status]")).to_contain_text("Draft saved", timeout=12_000)

    # Typed, then the page is left before the next autosave: the leave-beacon keeps it.
    page.get_by_label("Your question").fill("It began in the second week, mostly on my arms.")
    page.goto(f"{base}/")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, name)

    page.goto(f"{base}/ask")
    expect(page.get_by_label("Title")).to_have_value("Itchy skin since starting aza")
    expect(page.get_by_label("Your question")).to_have_value(
        "It began in the second week, mostly on my arms."
    )
    expect(page.locator("[data-draft-status]")).to_contain_text("restored")

    page.get_by_role("group", name=re.compile("Conditions")).get_by_label("Lupus (SLE)").check()
    page.get_by_role("button", name="Post question").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Itchy skin since starting aza")
    page.goto(f"{base}/ask")
    expect(page.get_by_label("Title")).to_have_value("")
    expect(page.get_by_label("Your question")).to_have_value("")
