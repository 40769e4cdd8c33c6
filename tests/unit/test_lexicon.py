"""The lexicon's drug classes are wired to real concepts, and documents carry them."""

from __future__ import annotations

import pytest

from forum import vocabulary
from forum.search import lexicon
from forum.search.concepts import annotate, concepts, member_token, stems


def _heads(name):
    key = stems(vocabulary.normalise(name))
    return [c for c in concepts()[0].get(key, []) if key in c.heads]


@pytest.mark.parametrize("names,members", lexicon.CLASSES, ids=[c[0][0] for c in lexicon.CLASSES])
def test_every_class_and_member_names_a_concept(names, members):
    assert any(c.is_class for c in _heads(names[0])), names[0]
    for member in members:
        assert _heads(member), f"{member!r} of {names[0]!r} names no concept"


def test_a_member_carries_its_classes_and_not_its_class_mates():
    tokens = annotate("Started Humira last month.")[1].split()
    assert "medication:adalimumab" in tokens
    assert member_token("x:anti_tnf") in tokens
    assert member_token("x:biologic") in tokens  # anti-TNFs are biologics
    assert "x:etanercept" not in tokens
    assert "x:biologic" not in tokens  # related to the class, not the class word itself


def test_generic_groups_and_question_phrases_are_known():
    table, _longest = concepts()
    for name in lexicon.LIGHT:
        key = stems(vocabulary.normalise(name))
        assert any(c.light for c in table.get(key, [])), name
    assert {"always", "really"} & lexicon.LIGHT_WORDS
