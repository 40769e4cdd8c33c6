"""axe-core (from the npm registry, pinned in package-lock.json) over the main pages of a
forum holding the demo content: no serious or critical violations, signed out and in."""

from __future__ import annotations

from playwright.sync_api import Page

from .steps import register, unique

SIGNED_OUT = [
    "/",
    "/?tab=unanswered",
    "/conditions",
    "/conditions/lupus",
    "/side-effects",
    "/side-effects/hair-loss",
    "/medications/azathioprine",
    "/search?q=hair+coming+out",
    "/search?q=feel+sick+on+imuran&condition=crohns",
    "/search?q=zzqxv",
    "/login",
    "/register",
    "/reports",
    "/no-such-page",
]
SIGNED_IN = ["/ask", "/account", "/"]

SERIOUS = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(
    v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target).join(' | ')}`);
}"""


def serious_violations(page: Page, axe: str) -> list[str]:
    # Evaluated through the driver, so the page's Content-Security-Policy does not block it.
    page.evaluate(axe)
    return page.evaluate(SERIOUS)


def first_thread_url(page: Page, base: str) -> str:
    page.goto(base + "/")
    href = page.locator("main .thread-list a[href^='/t/']").first.get_attribute("href")
    return base + href


def test_main_pages_have_no_serious_accessibility_violations(axe, demo_forum, page):
    base = demo_forum.url
    found = {}
    for path in [*SIGNED_OUT, first_thread_url(page, base)]:
        page.goto(path if path.startswith("http") else base + path)
        problems = serious_violations(page, axe)
        if problems:
            found[path] = problems
    assert found == {}


def test_signed_in_pages_have_no_serious_accessibility_violations(axe, demo_forum, page):
    base = demo_forum.url
    register(page, base, unique("axe_reader"))
    found = {}
    for path in [*SIGNED_IN, first_thread_url(page, base)]:
        page.goto(path if path.startswith("http") else base + path)
        problems = serious_violations(page, axe)
        if problems:
            found[path] = problems
    assert found == {}
