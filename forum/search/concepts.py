"""The concept table: every vocabulary term and lexicon group as a ``Concept`` (its
names as stem tuples, the tags it implies, its token in the index's ``concepts``
field), and the one matcher of concept phrases over a stem sequence.

Used at index time (``annotate``, and ``analysis.annotate_stems`` over stems already
computed) and at query time (``query.build``), so both find the same phrases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .. import vocabulary
from . import lexicon
from .schema import ANALYZER, make_plain_analyzer

TAG_FIELD = {"condition": "conditions", "side_effect": "side_effects", "medication": "medications"}

# Short or everyday names that are fine to type but too ambiguous to expand *to*
# ("mg" is myasthenia gravis and milligrams; "ms", "alt", "cold" ...).
AMBIGUOUS = frozenset(
    """mg ms ra alt ast alp ada tac uc psa gpa cold colds bug runs spots itch other ink shot
    mix drink sun ibd op er viral mole moles glands sweats settled pred flu tired drained
    shedding cough nursing trip job food diet brand generic""".split()
)

_PLAIN = make_plain_analyzer()


def stems(text: str) -> tuple[str, ...]:
    """Analysed (stemmed, stopword-free) tokens, as the index stores them."""
    return tuple(t.text for t in ANALYZER(text))


def plain_words(text: str) -> list[str]:
    return [t.text for t in _PLAIN(text)]


@dataclass
class Concept:
    label: str
    names: list[tuple[str, ...]] = field(default_factory=list)  # stem tuples
    tags: set[tuple[str, str]] = field(default_factory=set)  # (field, slug)
    misspelt: set[tuple[str, ...]] = field(default_factory=set)
    surface: dict[tuple[str, ...], str] = field(default_factory=dict)  # key -> as written
    heads: set[tuple[str, ...]] = field(default_factory=set)  # names meaning the whole
    cid: str = ""  # token in the index's ``concepts`` field
    expandable: set[tuple[str, ...]] = field(default_factory=set)  # names that imply it


@lru_cache(maxsize=1)
def concepts() -> tuple[dict[tuple[str, ...], list[Concept]], int]:
    """Phrase (stem tuple) -> concepts it names; and the longest phrase length."""
    table: dict[tuple[str, ...], list[Concept]] = {}
    longest = 1

    def add(concept: Concept, names, misspellings=(), heads=None):
        nonlocal longest
        for name in names if heads is None else heads:
            concept.heads.add(stems(vocabulary.normalise(name)))
        for name in list(names) + list(misspellings):
            key = stems(vocabulary.normalise(name))
            if not key or (len(key) == 1 and " " in vocabulary.normalise(name)):
                continue  # "not working" minus its stopword would claim every "working"
            if key not in concept.names:
                concept.names.append(key)
                concept.surface[key] = vocabulary.normalise(name)
            if name in misspellings and name not in names:
                concept.misspelt.add(key)
            surface = vocabulary.normalise(name)
            if len(surface) >= 3 and surface not in AMBIGUOUS:
                concept.expandable.add(key)
            bucket = table.setdefault(key, [])
            if concept not in bucket:
                bucket.append(concept)
            longest = max(longest, len(key))

    for term in vocabulary.ALL_TERMS:
        if term.slug in ("other", "other-medication"):
            continue
        concept = Concept(
            label=term.name,
            tags={(TAG_FIELD[term.kind], term.slug)},
            cid=f"{term.kind}:{term.slug}",
        )
        names = [term.name, term.slug.replace("-", " "), *term.synonyms]
        heads = [term.name, term.slug.replace("-", " ")]
        add(concept, names, term.misspellings, heads)
    for names, tag in lexicon.GROUPS:
        concept = Concept(
            label=names[0], cid="x:" + vocabulary.normalise(names[0]).replace(" ", "_")
        )
        if tag:
            kind, slug = tag.split(":", 1)
            concept.tags.add((TAG_FIELD[kind], slug))
        add(concept, names)
    return table, longest


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Every single word of the vocabulary and lexicon (for correcting misspellings)."""
    words = set()
    for term in vocabulary.ALL_TERMS:
        for name in [term.name, *term.synonyms]:
            words.update(plain_words(vocabulary.normalise(name)))
    for names, _tag in lexicon.GROUPS:
        for name in names:
            words.update(plain_words(vocabulary.normalise(name)))
    return frozenset(w for w in words if len(w) >= 4 and not w.isdigit())


def annotate(text: str) -> tuple[str, str]:
    """Index-time concept detection: (name tokens, concept tokens) for a text.

    Every vocabulary or lexicon phrase in the text ("hair coming out") adds a name
    token ("hair_come_out") and a token for each concept it implies ("side_effect:
    hair-loss"), so a query expands to one posting list per concept instead of a
    phrase query per synonym. Ambiguous short names ("mg", "cold") add no concept.
    """
    seq: list[str | None] = [t.text for t in ANALYZER(text)]
    names: list[str] = []
    found: list[str] = []
    for start, end, matched in match_concepts(seq):
        key = tuple(seq[start:end])
        if len(key) > 1:
            names.append("_".join(key))
        found.extend(c.cid for c in matched if key in c.expandable)
    return " ".join(names), " ".join(found)


def match_concepts(stem_seq: list[str | None]) -> list[tuple[int, int, list[Concept]]]:
    """Greedy longest matches of concept phrases over a stem sequence (None = stopword,
    which phrases skip as the index does)."""
    table, longest = concepts()
    positions = [i for i, s in enumerate(stem_seq) if s]
    matches = []
    k = 0
    while k < len(positions):
        for n in range(min(longest, len(positions) - k), 0, -1):
            key = tuple(stem_seq[positions[j]] for j in range(k, k + n))
            if key in table:
                matches.append((positions[k], positions[k + n - 1] + 1, table[key]))
                k += n
                break
        else:
            k += 1
    return matches
