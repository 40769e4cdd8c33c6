"""Marking the query's words finds exactly the words a plain scan of every word finds.

``highlight._marks`` lets the regex engine pick the words that can stem to a term (the
right first character, at a word start); this compares it with the straightforward scan
it replaced - every word of ``_WORD.finditer``, filtered in Python - on varied texts:
apostrophes inside and around words, accents, digits, underscores, cut-off limits.
"""

from __future__ import annotations

import random

import pytest

from forum.search import highlight
from forum.search.concepts import stems
from tests.unit.test_analysis import TEXT_CASES

EDGES = [
    "o'clock o''clock 'o'clock' rock'n'roll ’tis y’all '' ' ’ x' 'x",
    "naïve éclair Ørsted ébauche œdema aeon Aeon oedema Eczema eczema",
    "tired_tired tired__ _tired tired-tired tired.tired 9tired tired9 tiredness TIREDNESS",
    "a'b'c'd ab''cd ab'’cd ab’'cd 'ab' ab' 'ab",
]
TERM_SETS = [
    {"tire"},
    {"nausea", "sick", "vomit"},
    {"edema", "eczema"},
    {"clock", "roll", "ti"},
    {"hair", "alopecia", "thin"},
    {"6mp", "mercaptopurin", "azathioprin"},
    set(),
]


def _reference(text, terms, limit=4000, window=None):
    """The scan ``_marks`` replaced (forum/search/highlight.py before 2026-12-05)."""
    chars = highlight._first_chars(frozenset(terms))
    words = [
        m
        for m in highlight._WORD.finditer(text, 0, limit)
        if (c := text[m.start()]) in chars or not c.isascii()
    ]
    spans, stop = [], limit
    for m in words:
        if m.start() >= stop:
            break
        if highlight._stem(m.group()) in terms:
            spans.append(m.span())
            if window is not None and len(spans) == 1:
                stop = min(limit, m.start() + window)
    return spans


def _term_sets(text: str, rng: random.Random) -> list[set[str]]:
    words = [s for w in text.split()[:40] for s in stems(w)]
    picked = set(rng.sample(words, min(3, len(words)))) if words else set()
    return [*TERM_SETS, picked]


@pytest.mark.parametrize("text", EDGES + TEXT_CASES)
def test_marks_are_the_words_a_full_scan_finds(text):
    rng = random.Random(len(text))
    for terms in _term_sets(text, rng):
        for limit, window in ((4000, None), (4000, 240), (37, None), (len(text) // 2, 60)):
            got = highlight._marks(text, terms, limit=limit, window=window)
            assert got == _reference(text, terms, limit, window), (terms, limit, window)


@pytest.mark.parametrize(
    "text", ["Tired <b>&amp; \"sick\"</b> & 'tired' <script>x</script> tired", *EDGES]
)
def test_marked_text_is_escaped_with_only_the_mark_tags_as_markup(text):
    """``_mark_text`` joins escaped pieces itself; it must equal markupsafe's own way."""
    from markupsafe import Markup, escape

    spans = highlight._marks(text, {"tire", "sick", "clock", "edema", "ab"})
    for start, end in ((0, len(text)), (3, len(text) - 4)):
        want, pos = [], start
        for a, b in spans:
            if a < pos or b > end:
                continue
            want += [escape(text[pos:a]), Markup("<mark>%s</mark>") % text[a:b]]
            pos = b
        want.append(escape(text[pos:end]))
        got = highlight._mark_text(text, spans, start, end)
        assert isinstance(got, Markup) and got == Markup("").join(want)
    assert "<script>" not in highlight._mark_text(text, spans, 0, len(text))
