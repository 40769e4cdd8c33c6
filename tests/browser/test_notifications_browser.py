"""Notifications in a real browser: the header count, following the link to the reply,
marking all read, the follow button, and an axe-core scan of the pages this adds."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .steps import ask, register, reply, unique


def axe_violations(page: Page, axe: str) -> list[str]:
    page.evaluate(axe)  # evaluated by the driver, so the CSP does not apply
    return page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target).join(', ')))"
    )


def test_asker_sees_the_reply_count_follows_the_link_and_marks_all_read(axe, forum, new_person):
    base = forum.url
    asker = new_person()
    register(asker, base, unique("asker"))
    url = ask(
        asker,
        base,
        "Sunburn much faster since starting aza?",
        "I burn after ten minutes now. Is that the medicine?",
        conditions=["Lupus (SLE)"],
    )
    nav = asker.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    expect(asker.get_by_role("button", name="Unfollow this thread")).to_be_visible()

    replier = new_person()
    replier_name = register(replier, base, unique("replier"))
    reply(replier, url, "Yes, my dermatologist said aza makes skin more sensitive to the sun.")
    reply(replier, url, "Factor 50 and a hat sorted it for me.")

    asker.goto(f"{base}/")
    link = nav.get_by_role("link", name="Notifications (2)")
    expect(link).to_be_visible()
    link.click()
    expect(asker.get_by_role("heading", level=1)).to_have_text("Notifications")
    assert axe_violations(asker, axe) == []
    asker.get_by_role(
        "link", name=f"{replier_name} replied to your question “Sunburn much faster"
    ).first.click()
    expect(asker).to_have_url(re.compile(r"/t/\d+#post-\d+$"))
    expect(nav.get_by_role("link", name="Notifications", exact=True)).to_be_visible()

    for path in ("/following", "/notifications/settings"):
        asker.goto(base + path)
        assert axe_violations(asker, axe) == [], path
    asker.goto(f"{base}/conditions/lupus")
    asker.get_by_role("button", name="Follow Lupus (SLE)").click()
    expect(asker.get_by_role("button", name="Unfollow Lupus (SLE)")).to_be_visible()
