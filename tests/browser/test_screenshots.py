"""Screenshots of the main pages at desktop (1280x900) and phone (390x844) size.

With UPDATE_SCREENSHOTS=1 they are written to docs/screenshots/ (committed, linked from
the README) so a reviewer can look without running anything; otherwise to a temporary
folder, so a test run leaves the tree alone. Either way each page must render, fit the
phone's width, and produce a non-trivial image.
"""

from __future__ import annotations

import os

import pytest

from .conftest import DESKTOP, PHONE, SCREENSHOTS
from .steps import register, unique

PAGES = {
    "home": "/",
    "conditions": "/conditions",
    "condition-lupus": "/conditions/lupus",
    "search": "/search?q=hair+coming+out",
    "side-effect-fatigue": "/side-effects/fatigue",
    "reports": "/reports",
    "reports-lupus": "/reports/lupus",
    "profile": "/u/gutfeelings_jo",
    "about": "/about",
    "register": "/register",
}


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory):
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_main_pages(demo_forum, browser, shots_dir, size):
    viewport = DESKTOP if size == "desktop" else PHONE
    ctx = browser.new_context(viewport=viewport, is_mobile=size == "phone")
    try:
        page = ctx.new_page()
        base = demo_forum.url
        pages = dict(PAGES)
        page.goto(base + "/")
        href = page.locator("main .thread-list a[href^='/t/']").first.get_attribute("href")
        pages["thread"] = href
        for name, path in pages.items():
            shoot(page, base + path, shots_dir / f"{name}-{size}.png", viewport)
        if size == "phone":  # the header's menu, opened
            page.goto(base + "/")
            page.locator("summary", has_text="Menu").click()
            shoot(page, None, shots_dir / "menu-phone.png", viewport)
        register(page, base, unique("camera"))
        page.goto(base + "/ask")
        page.get_by_label("Title").press_sequentially("hair thinning", delay=30)
        page.locator("#similar-questions a").first.wait_for(timeout=10_000)
        shoot(page, None, shots_dir / f"ask-{size}.png", viewport)
    finally:
        ctx.close()


def shoot(page, url, path, viewport) -> None:
    if url:
        response = page.goto(url)
        assert response.status == 200, url
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{url} is {width}px wide at {viewport['width']}px"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path.name} looks empty"
