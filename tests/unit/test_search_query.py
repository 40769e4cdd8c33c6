"""Parsing what people type, without an index: phrases, exclusions, caps, concepts."""

from __future__ import annotations

from forum.search import query as sq
from forum.search.concepts import annotate


def test_quoted_phrases_exclusions_and_words():
    parsed = sq.parse('hair "white count" -pregnancy -"night sweats" loss')
    assert parsed.words == ["hair", "loss"]
    assert parsed.phrases == [["white", "count"]]
    assert parsed.excluded == ["pregnancy", "night", "sweats"]


def test_unbalanced_quote_runs_to_the_end():
    parsed = sq.parse('rash "itchy arms')
    assert parsed.words == ["rash"]
    assert parsed.phrases == [["itchy", "arms"]]


def test_syntax_characters_are_only_separators():
    parsed = sq.parse("title:hair* body:?x~2 (a OR b) ^3")
    assert "*" not in "".join(parsed.words)
    assert parsed.words[:2] == ["title", "hair"]


def test_length_and_word_caps():
    parsed = sq.parse("word " * 1000)
    assert len(parsed.words) == sq.MAX_WORDS
    assert parsed.truncated
    assert sq.parse("x" * 10_000).truncated
    assert not sq.parse("short query").truncated


def test_control_characters_and_empty_input():
    assert sq.parse("\x00\x01").empty
    assert sq.parse(None).empty
    assert sq.parse('"" - --').empty


def test_build_without_index_expands_concepts():
    built = sq.build(sq.parse("hair coming out"))
    assert "Hair loss" in built.concepts
    text = str(built.query)
    assert "side_effect:hair-loss" in text
    assert "side_effects" in text  # threads tagged with it are boosted


def test_filler_words_are_dropped_from_questions():
    built = sq.build(sq.parse("how do I tell if the itchiness is spreading"))
    leaves = {getattr(q, "text", None) for q in built.query.leaves()}
    assert {"itchi", "spread"} <= leaves
    assert not {"do", "i", "if", "it"} & leaves


def test_annotate_marks_phrases_and_concepts():
    names, concepts = annotate("Since March my hair is coming out and I feel sick.")
    assert "hair_come_out" in names.split()
    assert {"side_effect:hair-loss", "side_effect:nausea"} <= set(concepts.split())


def test_ambiguous_short_names_do_not_imply_a_concept():
    _names, concepts = annotate("I take 50 mg twice a day")
    assert "condition:myasthenia-gravis" not in concepts.split()


def test_not_is_read_as_a_negation_not_dropped():
    """ "not" is a stopword: without reading it as "isnt", "not working" would be the
    word "working" alone and miss the concept that "isn't working" names."""
    assert "stopped working" in sq.build(sq.parse("aza not working")).concepts
    _names, concepts = annotate("Honestly it isn't working for me.")
    assert "x:stopped_working" in concepts.split()


def test_phrases_across_and_keep_their_own_meaning():
    """Phrases skip stopwords: "colds and sore throats" must not read as "cold sores"."""
    _names, concepts = annotate("I keep getting colds and sore throats.")
    assert "x:cold_sores" not in concepts.split()
    assert "side_effect:infections" in concepts.split()
