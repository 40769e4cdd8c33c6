"""In a real browser: the Content-Security-Policy blocks nothing the forum itself needs,
the composer warns about personal details while typing, and the warning-signs banner
shows on preview."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .steps import register, unique


def test_composer_warnings_and_no_csp_violations(forum, page):
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if "Content Security Policy" in msg.text or "Refused to" in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda err: problems.append(str(err)))
    base = forum.url
    register(page, base, unique("careful_carol"))
    page.goto(f"{base}/ask")
    # The new-account limits are not shown before they are about to apply (issue 14).
    expect(page.locator("main")).not_to_contain_text("New accounts can include")
    expect(page.locator("main")).to_contain_text("not medical advice")

    body = page.get_by_label("Your question")
    body.fill("Since Tuesday my eyes look yellow. Ring me on 07700 900123 if you know.")
    live = page.locator(".personal-details-live")
    expect(live).to_be_visible()
    expect(live).to_contain_text("phone")

    page.get_by_label("Title").fill("Yellow eyes this week")
    page.get_by_role("group", name=re.compile("Conditions")).get_by_label("Lupus (SLE)").check()
    page.get_by_role("button", name="Preview").click()
    banner = page.get_by_role("note")
    expect(banner).to_contain_text("contact your care team today")
    expect(page.locator(".personal-details-notice")).to_contain_text("a phone number")

    for path in ("/", "/search?q=black+stools", "/account", "/conditions"):
        page.goto(base + path)
    expect(page.get_by_role("note")).to_have_count(0)
    assert problems == []
