"""Markdown to safe HTML, done once when a post is written.

markdown-it-py parses with raw HTML switched off; nh3 (ammonia) then keeps only a
small allow-list of tags and URL schemes, and marks every link ``nofollow ugc``.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
    ["strikethrough", "table"]
)

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


# Built once: nh3.clean() builds its allow-lists again on every call (~30% of its time on
# a post).
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=ALLOWED_SCHEMES,
    link_rel="nofollow ugc noopener",
    strip_comments=True,
)
_TEXT_ONLY = nh3.Cleaner(tags=set())


# Text in which Markdown can mean nothing but paragraphs and line breaks: no character it
# gives a meaning to (emphasis, code, links, HTML, entities, escapes, tables, headings),
# and checked per line below for the rest (lists, indented code, hard breaks).
_PLAIN = re.compile(r"[A-Za-z0-9 ,.;:?!'()%/\n\u2018\u2019\u201c\u201d\u2013\u2014\u2026-]*\Z")
_LINE_START_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz(\u2018\u201c")


def _plain_html(text: str) -> str | None:
    """What ``render`` gives for plain paragraphs, without parsing: each paragraph in a
    ``<p>``, its lines joined by ``<br>`` (``breaks``). None when the text is anything
    else (markdown-it then renders it). Most posts are plain, and markdown-it costs
    ~0.1 ms a short post; tests/unit/test_markdown.py holds the two equal."""
    if not _PLAIN.match(text):
        return None
    out: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        if not line:
            if lines:
                out.append("<p>" + "<br>\n".join(lines) + "</p>\n")
                lines = []
            continue
        if line[0] not in _LINE_START_OK or line[-1] == " ":
            return None  # a list item, indented code, a hard break, ...
        lines.append(line)
    if lines:
        out.append("<p>" + "<br>\n".join(lines) + "</p>\n")
    return "".join(out) or None


def render(text: str) -> str:
    """Render Markdown to sanitised HTML. Headings are demoted so posts never out-rank the page."""
    plain = _plain_html(text) if text else None
    return plain if plain is not None else _render_markdown(text or "")


def _render_markdown(text: str) -> str:
    html = _md.render(text)
    for level in (1, 2):
        html = html.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    return _CLEANER.clean(html)


def text_of(html: str) -> str:
    """Sanitised HTML without any tags (entities kept)."""
    return _TEXT_ONLY.clean(html)


def plain_text(text: str) -> str:
    """The words of a post without markup, for snippets and search."""
    return (
        text_of(render(text))
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#39;", "'")
    )
