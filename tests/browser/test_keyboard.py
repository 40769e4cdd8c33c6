"""Asking a question with the keyboard alone: Tab to move, type, Space to tick, Enter to send."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .steps import register, unique

FOCUSED = """() => {
  const e = document.activeElement;
  const label = e.labels && e.labels.length ? e.labels[0].innerText.trim() : '';
  const style = getComputedStyle(e);
  return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '',
          type: e.type || '', label: label, text: (e.innerText || e.value || '').trim(),
          checked: !!e.checked, outline: style.outlineStyle, outlineWidth: style.outlineWidth};
}"""


def tab_to(page: Page, wanted, what: str, limit: int = 120) -> dict:
    """Press Tab until the focused element matches; every stop must show where focus is."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = page.evaluate(FOCUSED)
        assert here["outline"] != "none" and here["outlineWidth"] != "0px", (
            f"no visible focus on {here}"
        )
        if wanted(here):
            return here
    raise AssertionError(f"Tab never reached {what}")


def test_a_question_can_be_asked_with_the_keyboard_alone(forum, page):
    base = forum.url
    register(page, base, unique("keys_only"))
    page.goto(base + "/ask")
    title = "Keyboard only: does the tiredness on aza ease after a few months?"

    first = tab_to(page, lambda e: True, "anything")
    assert first["text"] == "Skip to content", "the first Tab should offer to skip the header"

    tab_to(page, lambda e: e["name"] == "title", "the title")
    page.keyboard.type(title)
    tab_to(page, lambda e: e["name"] == "body", "the question box")
    page.keyboard.type("Four months in and I still need a nap every afternoon.")
    tab_to(page, lambda e: e["type"] == "checkbox" and e["label"] == "Lupus (SLE)", "Lupus")
    page.keyboard.press("Space")
    assert page.evaluate(FOCUSED)["checked"], "Space should tick the focused checkbox"
    tab_to(page, lambda e: e["tag"] == "summary" and "Side effects" in e["text"], "side effects")
    page.keyboard.press("Enter")
    tab_to(page, lambda e: e["type"] == "checkbox" and e["label"] == "Fatigue", "Fatigue")
    page.keyboard.press("Space")
    tab_to(page, lambda e: e["tag"] in ("input", "button") and e["text"] == "Post question", "Post")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    tags = page.locator("main .tags").first
    expect(tags).to_contain_text("Lupus (SLE)")
    expect(tags).to_contain_text("Fatigue")
