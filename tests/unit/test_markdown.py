"""The plain-paragraph shortcut of ``forum.markdown.render`` gives what markdown-it and
the sanitiser give, for every text it takes, and leaves every other text to them."""

from __future__ import annotations

import random

import pytest

from forum import markdown

PIECES = [
    "aza", "Imuran", "made", "me", "tired", "week", "ALT", "80", "50mg", "1/2", "100%",
    "(with", "food)", "don't", "Don’t", "“really”", "–", "—", "…", "ok.", "so,", "why?",
    "yes!", "note:", "a;", "6-MP", "x-ray", "e.g.", "Dr.", "3.", "4)", "-", "--", "---",
    "::", "http://example.com", "www.example.org", "'quoted'",
]  # fmt: skip
LINE_STARTS = [""] * 12 + ["- ", "1. ", "2) ", "    ", "  ", " ", "-", "(", "“", "‘", "9 "]
LINE_ENDS = [""] * 8 + [" ", "  ", "."]


def _texts(n: int) -> list[str]:
    rng = random.Random(4242)
    texts = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.2:
                lines.append("")  # a paragraph break
                continue
            first = rng.choice(PIECES[:6] if rng.random() < 0.7 else PIECES)
            words = " ".join([first] + [rng.choice(PIECES) for _ in range(rng.randint(0, 8))])
            lines.append(rng.choice(LINE_STARTS) + words + rng.choice(LINE_ENDS))
        texts.append("\n".join(lines) + rng.choice(["", "\n", "\n\n"]))
    return texts


def test_the_shortcut_gives_what_markdown_it_gives():
    taken = 0
    for text in _texts(4000):
        plain = markdown._plain_html(text)
        if plain is not None:
            taken += 1
            assert plain == markdown._render_markdown(text), text
    assert taken > 600  # the texts exercise the shortcut, not only the fallback


@pytest.mark.parametrize(
    "text",
    [
        "- a list",
        "1. first\n2. second",
        "3) third",
        "    indented code",
        "a hard break  \nnext line",
        "Heading\n---",
        "Heading\n===",
        "# heading",
        "some *emphasis*",
        "a [link](https://example.com)",
        "<b>html</b>",
        "fish & chips",
        "a `code` span",
        'a "quote"',
        "tab\there",
        "",
        "\n\n",
    ],
)
def test_anything_else_is_left_to_markdown_it(text):
    assert markdown._plain_html(text) is None


def test_render_takes_the_shortcut_and_sanitises_the_rest():
    assert markdown.render("I was on aza.\nIt helped.\n\nThen I stopped.") == (
        "<p>I was on aza.<br>\nIt helped.</p>\n<p>Then I stopped.</p>\n"
    )
    assert markdown.render("- one\n- two") == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
    assert markdown.render("<script>x</script> **b**") == (
        "<p>&lt;script&gt;x&lt;/script&gt; <strong>b</strong></p>\n"
    )
