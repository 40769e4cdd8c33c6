"""A search shows the same snippets and titles as the straightforward way of marking.

``forum.search.highlight`` takes shortcuts to mark a page of results quickly (words
stemmed by the analyzer's filters called directly, candidate words picked by a regex,
a scan that stops after the snippet's window). The reference here takes none: every
word of the post, stemmed through whoosh's ANALYZER chain. On the demo forum's threads,
long posts and odd text, for many queries - words of the thread itself, words of other
threads, a vocabulary term with its synonyms and misspellings, edge cases - each
thread's snippet and highlighted title must be the very HTML the reference gives.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from markupsafe import Markup, escape

from forum import markdown, vocabulary
from forum.search import highlight
from forum.search.concepts import stems
from forum.search.documents import plain
from forum.search.schema import ANALYZER
from tests.unit.test_analysis import TEXT_CASES

DEMO = Path(__file__).resolve().parents[2] / "forum" / "demo" / "threads.jsonl"
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
ODD = (
    "Naïve ÉLAN café Ørsted œdema Oedema aeon Haemoglobin haemoglobin DIARRHOEA diarrhoea "
    "immunised Immunising organisation realisations crisis basis is IS it's it’s don't "
    "İstanbul Straße ﬁne ＦＵＬＬ Ⅻ ½ ² 6MP 6-MP x a I'd y’all rock'n'roll o'clock "
    "tiredness TIRED tired_tired 9tired tired9 sky skies happy happily ability sensitivity "
    "eyed eying ays oys aesthetic AEsthetic Oestrogen a'esthetic h'aemo foetal Foetus "
    "oesophagus ate bled hoped yelling Yield yyy 'e e'e x'x'x ed ing. O'clock y'all X'xx"
)

ASCII_ODD = " ".join(w for w in ODD.split() if w.isascii())  # marked by the ASCII path


def _reference_stem(word: str) -> str | None:
    tokens = [(t.text, t.stopped) for t in ANALYZER(word, removestops=False)]
    assert len(tokens) == 1, word
    text, stopped = tokens[0]
    return None if stopped else text


def _reference_marks(text: str, terms: set[str], limit: int, window: int | None):
    spans: list[tuple[int, int]] = []
    stop = limit
    for m in WORD.finditer(text, 0, limit):
        if m.start() >= stop:
            break
        if _reference_stem(m.group()) in terms:
            spans.append(m.span())
            if window is not None and len(spans) == 1:
                stop = min(limit, m.start() + window)
    return spans


def _reference_mark_text(text: str, spans, start: int, end: int) -> Markup:
    out, pos = Markup(""), start
    for a, b in spans:
        if a < pos or b > end:
            continue
        out += escape(text[pos:a]) + Markup("<mark>%s</mark>") % text[a:b]
        pos = b
    return out + escape(text[pos:end])


def _reference_snippet(posts: list, terms: set[str]) -> Markup:
    """The first visible post that may hold a term (a term's first four letters in its
    HTML) and does: an excerpt from a little before its first marked word."""
    size = highlight.SNIPPET_CHARS
    for post in posts:
        html = (post.body_html or "").lower()
        if not terms or not any(t[:4] in html for t in terms):
            continue
        text = " ".join(plain(post).split())
        spans = _reference_marks(text, terms, 4000, size)
        if not spans:
            continue
        begin = max(0, spans[0][0] - 60)
        if begin:
            space = text.find(" ", begin, spans[0][0])
            begin = space + 1 if space >= 0 else spans[0][0]
        end = min(len(text), begin + size)
        if end < len(text):
            space = text.rfind(" ", max(begin, end - 30), end)
            end = space if space > spans[0][1] else end
        lead = Markup("… ") if begin else Markup("")
        tail = Markup(" …") if end < len(text) else Markup("")
        return lead + _reference_mark_text(text, spans, begin, end) + tail
    text = " ".join(plain(posts[0]).split()) if posts else ""
    return escape(text[:size] + ("…" if len(text) > size else ""))


class _Thread:
    def __init__(self, title: str):
        self.title = title


def _threads() -> list[tuple[_Thread, list]]:
    """The demo threads (question and replies rendered as the forum renders them), plus
    long and odd ones: posts past the 4,000 characters marking looks at, words only
    near the end, accents, apostrophes, UK spellings."""
    found = []
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        bodies = [item["body"]] + [r["body"] for r in item.get("replies", [])]
        found.append((item["title"], bodies))
    rng = random.Random(16)
    words = " ".join(TEXT_CASES).split()
    for n in range(30):
        size = rng.choice((5, 40, 300, 900, 1500))
        bodies = [
            " ".join(rng.choice(words) for _ in range(size)) for _ in range(rng.randint(1, 4))
        ]
        if n % 3 == 0:
            bodies.append(ODD)
        elif n % 3 == 1:
            bodies.insert(0, ASCII_ODD)
        found.append((" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))), bodies))
    found.append(
        ("Odd words: " + ODD[:80], [ODD, "**Tired** &amp; <b>sick</b>, " + ODD, ASCII_ODD])
    )
    return [
        (_Thread(title), [highlight.Body(markdown.render(b)) for b in bodies])
        for title, bodies in found
    ]


THREADS = _threads()
EDGE_TERMS = [
    set(),
    {"tire"},
    {"nausea", "sick", "vomit"},
    {"edema", "hemoglobin", "diarrhea"},
    {"immun", "organ", "realiz", "crisi"},
    {"clock", "roll", "ti", "id"},
    {"6mp", "mercaptopurin", "azathioprin"},
    {"fine", "full", "strass", "istanbul"},
    {"happi", "abil", "sensit", "sky"},
    {"ei", "ai", "oi", "esthet", "estrogen"},
    {"fetal", "fetu", "esophagu", "hemo", "ate", "bled", "hope", "yell", "yield"},
    {"e", "x", "ed", "in"},
    {"esthet", "oclock", "rocknrol", "yall", "xxx"},
]


def _queries(thread_words: list[str], rng: random.Random) -> list[set[str]]:
    """Stemmed word sets as a search marks them: the thread's own words, other words,
    a vocabulary term expanded to its synonyms and misspellings, edge cases."""
    everyday = "tired hair nausea liver rash pregnancy sun blood infection dose".split()
    term = rng.choice(vocabulary.ALL_TERMS)
    queries = [set(stems(" ".join([term.name, *term.synonyms, *term.misspellings])))]
    for n in (1, 2, 3):
        picked = rng.sample(thread_words, min(n, len(thread_words)))
        queries.append({s for w in picked for s in stems(w)})
        queries.append({s for w in rng.sample(everyday, n) for s in stems(w)})
    return queries + EDGE_TERMS


def test_the_threads_and_queries_are_varied():
    """The comparison below means something only if it meets what it should: long posts,
    accents, UK spellings, threads whose later posts hold the words, and no match."""
    joined = " ".join(plain(p) for _t, posts in THREADS for p in posts)
    for needle in ("Haemoglobin", "Naïve", "it’s", "immunised", "6MP"):
        assert needle in joined
    assert any(len(plain(p)) > 4000 for _t, posts in THREADS for p in posts)
    assert len(THREADS) > 80
    assert highlight._ascii_candidates(frozenset({"tire"})) is not None  # its shortcut runs


def _compare(thread, posts, terms) -> tuple[bool, bool]:
    got = highlight.snippet(thread, terms, posts)
    want = _reference_snippet(posts, terms)
    assert isinstance(got, Markup) and str(got) == str(want), (thread.title, terms)
    got_title = highlight.title(thread, terms)
    want_title = _reference_mark_text(
        thread.title,
        _reference_marks(thread.title, terms, 4000, None) if terms else [],
        0,
        len(thread.title),
    )
    assert str(got_title) == str(want_title), (thread.title, terms)
    return "<mark>" in got, "<mark>" in got_title


@pytest.mark.parametrize("fresh", [True, False], ids=["new-words", "words-met-before"])
def test_snippets_and_titles_are_the_reference_html(fresh):
    """Every thread with every query: the same HTML, whether the words are met for the
    first time (the stem table emptied before each query) or were stemmed before."""
    rng = random.Random(6)
    marked = titled = compared = 0
    for thread, posts in THREADS:
        words = WORD.findall(" ".join(plain(p) for p in posts[:3]))[:200] or ["x"]
        for terms in _queries(words, rng):
            if fresh:
                highlight._STEMS.clear()
            snippet_marked, title_marked = _compare(thread, posts, terms)
            marked += snippet_marked
            titled += title_marked
            compared += 1
    assert compared > 1000 and marked > compared // 3 and titled > 50


def test_words_are_stemmed_as_the_analyzer_stems_them():
    """Each word of varied text (the analysis tests' texts, the odd words above): the
    stem the highlighter gives is the analyzer's, stopwords None, met first or again."""
    words = sorted({w for text in [*TEXT_CASES, ODD] for w in WORD.findall(text)})
    assert len(words) > 2000
    highlight._STEMS.clear()
    for _ in range(2):
        highlight._stem_all(set(words))
        assert {w: highlight._STEMS[w] for w in words} == {w: _reference_stem(w) for w in words}
