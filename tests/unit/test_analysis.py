"""One analysis pass per document gives exactly what ANALYZER and concepts.annotate give.

The index's terms, positions and spelling words must not depend on whether a text was
analysed once (forum.search.analysis) or by whoosh's analyzer chain: queries analyse
their words with ANALYZER, and an index built either way must answer them the same.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from forum import vocabulary
from forum.search import analysis, concepts, lexicon
from forum.search.schema import ANALYZER, Analysed, build_schema

DEMO = Path(__file__).resolve().parents[2] / "forum" / "demo" / "threads.jsonl"

TEXTS = [
    "",
    "   \n\n ",
    "The and of",  # only stopwords
    "a",  # single letters are dropped as stopwords are
    "Azathioprine (Imuran) 50mg twice a day, then 100 mg; TPMT was 'normal'.",
    "Crohn's and Crohn’s and crohns — Sjögren's, Behçet's, café, naïve, ÉLAN, Ångström",
    "Haemoglobin/hemoglobin, oedema/edema, anaemia, faeces, oesophagus, diarrhoea/diarrhea",
    "I was immunised; they immunize; organisation, organizations, recognising, rise, wise",
    "paediatric leukaemia haematologist foetus manoeuvre aeroplane toe shoe",
    "It's a 2nd-line drug: 6-MP, 6MP, mercaptopurine; WBC 3.2, ALT 45 U/L, 25% drop",
    "don't can't won't I'd we've y'all rock'n'roll o'clock 'quoted' ’curly’",
    "hair coming out, hair loss, hair thinning, alopecia; low white count, low WBC",
    "feel sick on imuran, nausea, nauseous, vomiting, being sick, threw up",
    "liver enzymes up, LFTs raised, ALT high, raised liver function tests",
    "UPPERCASE lowercase MiXeD CaSe Title Case",
    "numbers 1 22 333 4444 1st 2nd 10mg 0.5 1,000 2023-01-14",
    "under_score snake_case kebab-case e-mail co-operate",
    "ﬁne ligature, ＦＵＬＬ width, ß straße, İstanbul, Ωmega, κάτι ελληνικά, русский текст",
    "emoji 😀 and symbols © ® ™ € £ ¥ § ¶ • … – —",
    "Repeated repeated REPEATED words words words and the the the",
]


def _texts() -> list[str]:
    texts = list(TEXTS)
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        texts.append(item["title"])
        texts.append("\n\n".join([item["body"]] + [r["body"] for r in item.get("replies", [])]))
    for term in vocabulary.ALL_TERMS:
        texts.append(" ".join([term.name, *term.synonyms, *term.misspellings]))
    for names, _tag in lexicon.GROUPS:
        texts.append(", ".join(names))
    # Shuffled word salad over all of it: stopwords next to phrases, odd starts.
    words = " ".join(texts).split()
    rng = random.Random(3)
    for _ in range(40):
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))))
    return texts


TEXT_CASES = _texts()


def _whoosh_tokens(text: str, **kw) -> list[tuple[str, int]]:
    return [(t.text, t.pos) for t in ANALYZER(text, positions=True, mode="index", **kw)]


def test_the_texts_are_varied():
    """The comparison below means something only if the texts exercise every filter."""
    joined = " ".join(TEXT_CASES)
    for needle in ("Crohn’s", "ö", "haem", "oedema", "immunised", "diarrhoea", "The ", "6-MP"):
        assert needle in joined
    assert len(TEXT_CASES) > 100


@pytest.mark.parametrize("text", TEXT_CASES)
def test_stems_words_and_positions_match_the_analyzer(text):
    done = analysis.analyse(text)
    assert isinstance(done, Analysed) and done == text
    expected = _whoosh_tokens(text)
    assert list(done.stems) == [s for s, _ in expected] == list(concepts.stems(text))
    assert [done.first + i for i in range(len(done.stems))] == [p for _, p in expected]
    assert list(done.words) == [w for w, _ in _whoosh_tokens(text, no_morph=True)]


@pytest.mark.parametrize("text", TEXT_CASES)
def test_concept_annotation_matches_query_annotate(text):
    assert analysis.annotate_stems(analysis.analyse(text).stems) == concepts.annotate(text)


def test_annotation_finds_concepts_in_varied_text():
    """Guards the comparison above: the texts do contain multi-word names and concepts."""
    names, concepts = analysis.annotate_stems(analysis.analyse(TEXTS[11]).stems)
    assert "hair_come_out" in names.split()
    assert "side_effect:hair-loss" in concepts.split()


@pytest.mark.parametrize("fieldname", ["title", "content"])
def test_indexed_postings_and_spelling_words_are_identical(fieldname):
    """What whoosh writes for a field: terms, frequencies, weights and encoded positions,
    and the spelling words, for an analysed value and for the plain string."""
    field = build_schema()[fieldname]
    for text in TEXT_CASES:
        done = analysis.analyse(text)
        assert sorted(field.index(done)) == sorted(field.index(str(text)))
        assert list(field.spellable_words(done)) == list(field.spellable_words(str(text)))


def test_a_plain_string_still_goes_through_the_analyzer():
    """Queries, highlighting (character offsets) and old callers pass plain strings."""
    field = build_schema()["content"]
    tokens = [(t.text, t.startchar) for t in field.analyzer("Feeling sick", chars=True)]
    assert tokens == [("feel", 0), ("sick", 8)]
    done = analysis.analyse("Feeling sick")
    assert [t.startchar for t in field.analyzer(done, chars=True)] == [0, 8]


def test_the_cache_does_not_change_results():
    text = TEXTS[6] + " " + TEXTS[7]
    first = analysis.analyse(text)
    analysis._pairs.clear()
    analysis._stems.clear()
    second = analysis.analyse(text)
    assert (first.words, first.stems, first.first) == (second.words, second.stems, second.first)


def test_plain_steps_give_each_token_what_the_filters_give():
    """``_word_of``/``_stem_of`` run the filters as plain steps (no Token and generator
    per filter): for every raw token of the varied texts, and for tokens made to hit each
    filter's edge (stopwords, one letter, accents, UK spellings, apostrophes, numbered
    shorthand), the word and the stem are the filters' own."""
    assert analysis._STEPS is not None, "an analyzer filter of a new kind: add its step"
    raws = {raw for text in TEXT_CASES for raw in analysis._FINDALL(text)}
    raws |= {"A", "a", "I", "The", "THE", "x", "Crohn’s", "crohn's", "Haemoglobin",
             "OEDEMA", "immunised", "immunising", "Diarrhoea", "café", "Ärger", "6-MP",
             "5-asa", "ŒDEMA", "naïve", "it's", "’tis", "isn't", "aza", "ok", "uk"}  # fmt: skip
    assert len(raws) > 500
    for raw in sorted(raws):
        word = analysis._word_of(raw)
        assert word == analysis._word_through_filters(raw), raw
        if word is not None:
            assert analysis._stem_of(word) == analysis._stem_through_filters(word), raw
