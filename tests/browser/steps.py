"""What a person does on the forum, in the browser: the steps the journeys are made of.

Each step uses what a person sees (labels, button and link names), not CSS internals, and
checks the visible outcome before returning.
"""

from __future__ import annotations

import itertools
import re
import time
from urllib.parse import quote_plus

from playwright.sync_api import Page, expect

PASSWORD = "plaited-rowan-kettle"
_seq = itertools.count(1)


def unique(name: str) -> str:
    return f"{name}_{int(time.time() * 1000) % 100000}_{next(_seq)}"


def register(page: Page, base: str, name: str, password: str = PASSWORD) -> str:
    page.goto(f"{base}/register")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(f"{name.lower()}@example.org")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create account").click()
    # A new account is signed in at once (issue 14).
    expect(page.get_by_role("status")).to_contain_text("you are signed in")
    expect(page.locator("header.site-header")).to_contain_text(name)
    return name


def sign_in(page: Page, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Display name or email").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    # The header's text, not the visible bar: on a phone the names sit in the closed menu.
    expect(page.locator("header.site-header")).to_contain_text(name)


def ask(
    page: Page,
    base: str,
    title: str,
    body: str,
    conditions: list[str],
    side_effects: list[str] = (),
) -> str:
    """Post a question through the ask form; returns the thread page's URL."""
    page.goto(f"{base}/ask")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Your question").fill(body)
    for name in conditions:
        page.get_by_role("group", name=re.compile("Conditions")).get_by_label(name).check()
    if side_effects:
        page.get_by_text("Side effects (optional)", exact=True).first.click()
        group = page.get_by_role("group", name=re.compile("Side effects"))
        for name in side_effects:
            group.get_by_label(name).check()
    page.get_by_role("button", name="Post question").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    return page.url


def reply(page: Page, thread_url: str, body: str) -> None:
    page.goto(thread_url)
    page.get_by_role("textbox", name="Your reply").fill(body)
    page.get_by_role("button", name="Post reply").click()
    expect(page.locator("section.replies")).to_contain_text(body)


def search(page: Page, base: str, query: str, expect_text: str, tries: int = 20) -> None:
    """Search from the header box until `expect_text` shows (the index may trail by ~1 s)."""
    for _ in range(tries):
        page.goto(base + "/")
        box = page.get_by_role("searchbox", name="Search the forum")
        box.fill(query)
        box.press("Enter")
        page.wait_for_load_state()
        if expect_text in page.locator("main").inner_text():
            return
        time.sleep(0.25)
    raise AssertionError(
        f"searching {query!r} never showed {expect_text!r}; the page said:\n"
        + page.locator("main").inner_text()[:2000]
    )


def search_url(base: str, query: str, **filters: str) -> str:
    extra = "".join(f"&{k}={quote_plus(v)}" for k, v in filters.items())
    return f"{base}/search?q={quote_plus(query)}{extra}"
