"""Snippets and titles with the query's words marked, from the database text.

Only the page's threads are highlighted, and only the posts that can contain a marked
word are cleaned (``plain``); every word is stemmed as the index stems it, so a search
for "tired" marks "tiredness". Text is escaped; only the ``<mark>`` tags are markup.

``marked`` remembers each (snippet, title) per process by its inputs - the stems, the
title and a digest of the visible posts' HTML in order - so a repeated search, or another
page of one, does not clean and mark the same posts again, and an edit, a hide, an erased
post or a new reply is a different key: nothing stale can be served and nothing needs
invalidating (``SEARCH_SNIPPET_CACHE_BYTES``, 0 switches it off).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from types import SimpleNamespace

from flask import current_app, has_app_context
from markupsafe import Markup, escape
from whoosh.analysis import CharsetFilter, LowercaseFilter, StemFilter, StopFilter
from whoosh.analysis import SubstitutionFilter as Substitution
from whoosh.lang.porter import stem as porter_stem

from ..models import Thread
from .concepts import stems
from .documents import plain
from .lru import ByteLRU
from .schema import ANALYZER

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SNIPPET_CHARS = 240
CACHE_BYTES = 4 * 1024 * 1024  # default SEARCH_SNIPPET_CACHE_BYTES: ~6,000 snippets


_STEMS: dict[str, str | None] = {}  # word as written -> its index stem (None: stopword)
_STEMS_MAX = 100_000
_NEW = object()  # not in _STEMS yet


# Substrings without which a substitution pattern of the analyzer cannot match, so a
# word without them skips the regex (the two below scan every position: ~1 and ~2.7 us a
# word). Keyed by the pattern's text: a changed pattern runs unguarded.
_NEEDS = {
    r"(?:ae|oe)(?=[bcdfghjklmnpqrstvwxz][a-z]{2})": ("ae", "oe"),
    r"(?<=[a-z]{2})is(e|ed|es|ing|ation|ations)$": ("is",),
}


def _substitution(item: Substitution):
    pattern, replacement = item.pattern, item.replacement
    needs = _NEEDS.get(pattern.pattern)
    if needs is None:
        return lambda text: pattern.sub(replacement, text)
    return lambda text: pattern.sub(replacement, text) if any(n in text for n in needs) else text


def _keeps_ascii(charmap: dict, lowered: bool) -> bool:
    """Whether ``charmap`` leaves ASCII text as it is (only lower-case ASCII when
    ``lowered``: accent_map's only ASCII entries map lower-case letters to themselves)."""
    return all(
        charmap.get(c, c) in (c, chr(c)) for c in range(128) if not (lowered and chr(c).isupper())
    )


def _charset(item: CharsetFilter, lowered: bool):
    """``text.translate(charmap)``, skipped for ASCII text the map leaves as it is."""
    charmap = item.charmap
    if _keeps_ascii(charmap, lowered):
        return lambda text: text if text.isascii() else text.translate(charmap)
    return lambda text: text.translate(charmap)


def _word_steps(items: list) -> tuple | None:
    """The analyzer's filters as plain functions of one word: (steps before the stop
    check, the StopFilter, the StemFilter's uncached stemmer, its ignored words); None
    when it has a filter not listed here (then ``_stem_all`` runs the analyzer)."""
    *before, stop, stem = items
    if not isinstance(stop, StopFilter) or not isinstance(stem, StemFilter):
        return None
    steps: list = []
    lowered = False
    for item in before:
        if isinstance(item, Substitution):
            steps.append(_substitution(item))
        elif isinstance(item, LowercaseFilter):
            steps.append(str.lower)
            lowered = True
        elif isinstance(item, CharsetFilter):
            steps.append(_charset(item, lowered))
        else:
            return None
    stemfn = getattr(stem._stem, "__wrapped__", stem._stem)  # the same function, no LFU
    return tuple(steps), stop, stemfn, stem.ignore


_STEPS = _word_steps(ANALYZER.items[1:])


def _stem_of(word: str) -> str | None:
    """``word``'s stem as ``ANALYZER`` gives it, None for a stopword: the same filters in
    the same order, called on the word directly instead of through whoosh's chain of
    generators over a token (~15 -> ~6 us a new word; tests/unit/test_search_snippets.py
    compares the two)."""
    steps, stop, stemfn, ignore = _STEPS
    for step in steps:
        word = step(word)
    if len(word) < stop.min or (stop.max is not None and len(word) > stop.max):
        return None
    if word in stop.stops:
        return None
    return word if word in ignore else stemfn(word)


def _stem_all(words: set[str]) -> None:
    """Put the stems of ``words`` into ``_STEMS`` (words the tokenizer keeps whole: the
    filters work token by token, so a word's stem is the same alone or in a text)."""
    missing = [w for w in words if w not in _STEMS]
    if not missing:
        return
    if len(_STEMS) + len(missing) > _STEMS_MAX:
        _STEMS.clear()
    if _STEPS is not None:
        for word in missing:
            _STEMS[word] = _stem_of(word)
        return
    # An analyzer with a filter _word_steps does not know: run it.
    found = [(t.text, t.stopped) for t in ANALYZER(" ".join(missing), removestops=False)]
    if len(found) == len(missing):
        for word, (text, stopped) in zip(missing, found, strict=True):
            _STEMS[word] = None if stopped else text
    else:  # a word the tokenizer splits: analyse one at a time
        for word in missing:
            got = stems(word)
            _STEMS[word] = got[0] if got else None


def _stem(word: str) -> str | None:
    if word not in _STEMS:
        _stem_all({word})
    return _STEMS.get(word)


def _first_chars(terms: frozenset[str]) -> frozenset[str]:
    """Characters a word can start with for its stem to be one of ``terms``: the
    analyzer lower-cases a word and keeps its first letter, except that it folds
    "ae"/"oe" to "e" (so "a" and "o" too when a term starts with "e") and accents (a
    word not starting with an ASCII character is always stemmed)."""
    chars: set[str] = set()
    for t in terms:
        if t:
            chars.update((t[0], t[0].upper()))
    if "e" in chars:
        chars.update("aAoO")
    return frozenset(chars)


@lru_cache(maxsize=256)
def _candidates(terms: frozenset[str]) -> re.Pattern:
    """The words of ``_WORD.finditer`` (the same spans, in order) that start with one of
    ``_first_chars(terms)`` or a non-ASCII character - the only ones whose stem can be a
    term - found by the regex engine instead of a Python loop over every word.

    A word of ``_WORD.finditer`` starts at a letter or digit that does not continue the
    word before it: the character before is not a letter or digit, nor an apostrophe
    joining two of them (the previous word took it)."""
    chars = "".join(sorted(re.escape(c) for c in _first_chars(terms)))
    start = f"(?=[{chars}]|[^\\x00-\\x7f])" if chars else "(?=[^\\x00-\\x7f])"
    return re.compile(rf"(?<![^\W_])(?<![^\W_]['\u2019]){start}{_WORD.pattern}")


# The analyzer these shortcuts were worked out for (``_pairs_hold``): its filters before
# the stop check, by kind and pattern, and whoosh's Porter stemmer.
_KNOWN = (
    ("sub", r"['\u2019-]"),
    ("lower", None),
    ("charset", None),
    ("sub", r"(?:ae|oe)(?=[bcdfghjklmnpqrstvwxz][a-z]{2})"),
    ("sub", "rrhoea"),
    ("sub", r"(?<=[a-z]{2})is(e|ed|es|ing|ation|ations)$"),
)


def _pairs_hold(items: list) -> bool:
    """Whether ``_ascii_candidates``'s reasoning holds for this analyzer: the filters
    it was worked out for, the accent map leaving lower-case ASCII as it is, Porter."""
    *before, stop, stem = items
    shape = tuple(
        ("sub", i.pattern.pattern)
        if isinstance(i, Substitution)
        else ("lower", None)
        if isinstance(i, LowercaseFilter)
        else ("charset", None)
        if isinstance(i, CharsetFilter) and _keeps_ascii(i.charmap, lowered=True)
        else ("other", None)
        for i in before
    )
    return (
        shape == _KNOWN
        and _STEPS is not None
        and _STEPS[2] is porter_stem
        and not _STEPS[3]
        and isinstance(stop, StopFilter)
    )


_PAIRS = _pairs_hold(ANALYZER.items[1:])


@lru_cache(maxsize=256)
def _ascii_candidates(terms: frozenset[str]) -> re.Pattern | None:
    """For an ASCII text, lower-cased: the words of ``_WORD.finditer`` (same spans, in
    order) whose first two letters can begin the stem of a term - about a third of the
    words ``_candidates`` gives, found by a pattern that starts with literal letters, so
    the regex engine skips to them (None: the analyzer is not the one this is about).

    Why it is exact: the Porter stemmer keeps a word's first letter, and its first two
    when the stem has three or more (it only cuts or rewrites endings, and the rewrites
    need a stem of two or more letters before them; the y -> i of step 1c rewrites the
    second letter only of a stem of two). Before stemming, the analyzer changes an ASCII
    word's first two letters only by case, by dropping an apostrophe (the letter after it
    moves up) and by folding "ae"/"oe" to "e" (at the start: "aesthetic" -> "esthetic";
    second: "haem" -> "hem"). So a word is a candidate when it starts with a term's first
    letter followed by its second, an apostrophe, or "a"/"o" where the term's second
    letter is "e"; with any second letter for a term of one or two letters; and "a"/"o"
    followed by "e" or an apostrophe when a term starts with "e". Tests compare it with
    a scan of every word (tests/unit/test_search_snippets.py)."""
    if not _PAIRS:
        return None
    seconds: dict[str, set[str] | None] = {}  # first letter -> second letters (None: any)

    def allow(first: str, second: str | None) -> None:
        if first in seconds and seconds[first] is None:
            return
        if second is None:
            seconds[first] = None
        else:
            seconds.setdefault(first, set()).update(second)  # type: ignore[union-attr]

    for t in terms:
        if not t.isascii() or not t[:1].isalnum():
            continue  # an ASCII word never stems to it
        short = len(t) < 3
        allow(t[0], None if short else t[1] + ("ao" if t[1] == "e" else ""))
        if t[0] == "e":
            allow("a", None if short else "e")
            allow("o", None if short else "e")
    if not seconds:
        return re.compile(r"(?!)")
    branches = [
        re.escape(first) if after is None else f"{re.escape(first)}(?=[{''.join(sorted(after))}'])"
        for first, after in sorted(seconds.items())
    ]
    # After the first letter: the word starts there (nothing of a word before it), then
    # the rest of _WORD. No curly apostrophe: the text is ASCII.
    return re.compile(
        rf"(?:{'|'.join(branches)})(?<![a-z0-9].)(?<![a-z0-9]'.)[a-z0-9]*(?:'[a-z0-9]+)*"
    )


def _marks(
    text: str, terms: set[str], limit: int = 4000, window: int | None = None
) -> list[tuple[int, int]]:
    """(start, end) of the words in ``text`` whose stem is one of ``terms``; with
    ``window``, only those starting less than ``window`` characters after the first
    (all a snippet shows)."""
    key = frozenset(terms)
    pattern = _ascii_candidates(key) if text.isascii() else None
    if pattern is not None:  # ASCII lower-casing keeps every character where it was
        found = pattern.finditer(text.lower(), 0, limit)
    else:
        found = _candidates(key).finditer(text, 0, limit)
    spans: list[tuple[int, int]] = []
    stop = limit
    known = _STEMS
    for m in found:
        a, b = m.span()
        if a >= stop:  # words after the snippet's window are not even stemmed
            break
        word = text[a:b]
        stem = known.get(word, _NEW)
        if stem is _NEW:
            _stem_all({word})
            stem = known.get(word)
        if stem in terms:
            spans.append((a, b))
            if window is not None and len(spans) == 1:
                stop = min(limit, a + window)
    return spans


def _mark_text(text: str, spans: list[tuple[int, int]], start: int, end: int) -> Markup:
    """text[start:end], escaped, with the spans inside it wrapped in <mark>."""
    out = []
    pos = start
    for a, b in spans:
        if a < pos or b > end:
            continue
        out.append(escape(text[pos:a]))
        out.append("<mark>")
        out.append(escape(text[a:b]))
        out.append("</mark>")
        pos = b
    out.append(escape(text[pos:end]))
    # Every piece is escape()d text or one of the two literal tags (Markup.join would
    # escape each piece again: ~0.05 ms a snippet).
    return Markup("".join(out))  # noqa: S704


def _maybe_has(text: str, terms: set[str]) -> bool:
    lowered = text.lower()
    return any(t[:4] in lowered for t in terms)


class Body(SimpleNamespace):
    """A visible post's rendered HTML (all ``plain`` needs), without an ORM object."""

    def __init__(self, body_html: str):
        super().__init__(body_html=body_html, is_visible=True)


def snippet(thread: Thread, terms: set[str], posts: list | None = None) -> Markup:
    """An escaped excerpt with the matching words in <mark>, from the first post that
    has them (the question, else a reply); the start of the question otherwise.

    ``posts`` are the thread's visible posts in order (``thread.posts`` when None): any
    objects with ``body_html`` and ``is_visible``. A post is cleaned to text only when
    its HTML contains something like a term.
    """
    if posts is None:
        posts = [p for p in thread.posts if p.is_visible]
    for post in posts:
        if not post.is_visible or not terms or not _maybe_has(post.body_html or "", terms):
            continue
        text = " ".join(plain(post).split())
        spans = _marks(text, terms, window=SNIPPET_CHARS)
        if spans:
            begin = max(0, spans[0][0] - 60)
            if begin:
                space = text.find(" ", begin, spans[0][0])
                begin = space + 1 if space >= 0 else spans[0][0]
            end = min(len(text), begin + SNIPPET_CHARS)
            if end < len(text):
                space = text.rfind(" ", max(begin, end - 30), end)
                end = space if space > spans[0][1] else end
            lead = Markup("… ") if begin else Markup("")
            tail = Markup(" …") if end < len(text) else Markup("")
            return lead + _mark_text(text, spans, begin, end) + tail
    first = next((p for p in posts if p.is_visible), None)
    text = " ".join(plain(first).split()) if first is not None else ""
    return escape(text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""))


def title(thread: Thread, terms: set[str]) -> Markup:
    spans = _marks(thread.title, terms) if terms else []
    return _mark_text(thread.title, spans, 0, len(thread.title))


def _digest(posts: list) -> bytes:
    """A digest of the posts' HTML in order (each length-prefixed, so no two different
    lists of bodies share one)."""
    h = hashlib.blake2b(digest_size=16)
    for post in posts:
        if post.is_visible:
            body = (post.body_html or "").encode("utf-8", "surrogatepass")
            h.update(len(body).to_bytes(8, "little"))
            h.update(body)
    return h.digest()


def marked(thread: Thread, terms: set[str], posts: list) -> tuple[Markup, Markup]:
    """``(snippet(thread, terms, posts), title(thread, terms))``, remembered by their
    inputs (see the module's docstring); ``posts`` as for ``snippet``."""
    cache = _cache()
    if cache is None:
        return snippet(thread, terms, posts), title(thread, terms)
    key = (frozenset(terms), thread.title, _digest(posts))
    found = cache.get(key)
    if found is None:
        found = (snippet(thread, terms, posts), title(thread, terms))
        cache.put(key, found, 2 * (len(found[0]) + len(found[1]) + len(thread.title)))
    return found


def _cache() -> ByteLRU | None:
    if not has_app_context():
        return None
    app = current_app._get_current_object()
    cache = app.extensions.get("search_snippets")
    if cache is None:
        size = int(app.config.get("SEARCH_SNIPPET_CACHE_BYTES", CACHE_BYTES))
        if size <= 0:
            return None
        cache = app.extensions.setdefault("search_snippets", ByteLRU(size))
    return cache
