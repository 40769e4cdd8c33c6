"""The concept table: every vocabulary term and lexicon group as a ``Concept`` (its
names as stem tuples, the tags it implies, its token in the index's ``concepts``
field), and the one matcher of concept phrases over a stem sequence.

Drug classes (``lexicon.CLASSES``) link concepts: a document naming a member ("Humira")
carries the member's own token and ``in:<class>`` for each class it belongs to
(anti-TNFs, biologics), so a class is one posting list at query time, related to its
members without making them synonyms of each other.

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

# "not" is a stopword, so "not working" would be the word "working" alone. A name or a
# query word "not" is read as "isnt" instead: "not working" then names the concept that
# "isn't working" does (documents keep their stopwords out, so "isn't" is what they match).
NEGATION = "isnt"


def negated(text: str) -> str:
    """A name or query with its "not"s read as ``NEGATION``."""
    return " ".join(NEGATION if w == "not" else w for w in text.split())


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
    classes: set[str] = field(default_factory=set)  # cids of the classes it belongs to
    is_class: bool = False  # a drug class: documents naming a member carry member_token
    light: bool = False  # a generic concept ("side effects", "dose"): weighs little
    member_names: set[tuple[str, ...]] = field(default_factory=set)  # a class's members'

    @property
    def tokens(self) -> list[str]:
        """What a document naming this concept carries in its ``concepts`` field."""
        return [self.cid, *(member_token(c) for c in sorted(self.classes))]


def member_token(class_cid: str) -> str:
    """The ``concepts`` token of documents that name a member of a class."""
    return "in:" + class_cid


@lru_cache(maxsize=1)
def concepts() -> tuple[dict[tuple[str, ...], list[Concept]], int]:
    """Phrase (stem tuple) -> concepts it names; and the longest phrase length."""
    table: dict[tuple[str, ...], list[Concept]] = {}
    longest = 1

    def add(concept: Concept, names, misspellings=(), heads=None):
        nonlocal longest
        for name in names if heads is None else heads:
            concept.heads.add(stems(negated(vocabulary.normalise(name))))
        for name in list(names) + list(misspellings):
            key = stems(negated(vocabulary.normalise(name)))
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
    light = {stems(vocabulary.normalise(name)) for name in lexicon.LIGHT}
    for names, tag in lexicon.GROUPS:
        concept = Concept(
            label=names[0], cid="x:" + vocabulary.normalise(names[0]).replace(" ", "_")
        )
        concept.light = stems(vocabulary.normalise(names[0])) in light
        if tag:
            kind, slug = tag.split(":", 1)
            concept.tags.add((TAG_FIELD[kind], slug))
        add(concept, names)
    _link_classes(table)
    return table, longest


def _named(table, name: str) -> list[Concept]:
    """The concepts that ``name`` is a head name of."""
    key = stems(vocabulary.normalise(name))
    return [c for c in table.get(key, []) if key in c.heads]


def _link_classes(table) -> None:
    """Mark the class concepts and give every member, transitively (a member may be a
    class itself: anti-TNFs are biologics), the cids of its classes."""
    members: dict[str, list[Concept]] = {}
    for names, named_members in lexicon.CLASSES:
        for cls in _named(table, names[0]):
            cls.is_class = True
            found = members.setdefault(cls.cid, [])
            for name in named_members:
                found.extend(c for c in _named(table, name) if c not in found)
    changed = True
    while changed:
        changed = False
        for class_cid, concepts_ in members.items():
            for member in concepts_:
                wanted = member.classes | {class_cid}
                for sub in members.get(member.cid, []) if member.is_class else ():
                    if not wanted <= sub.classes:
                        sub.classes |= wanted
                        changed = True
                if class_cid not in member.classes:
                    member.classes.add(class_cid)
                    changed = True
    by_cid = {c.cid: c for bucket in table.values() for c in bucket if c.is_class}
    for concept in {id(c): c for bucket in table.values() for c in bucket}.values():
        for class_cid in concept.classes:
            by_cid[class_cid].member_names |= concept.expandable


@lru_cache(maxsize=1)
def intent_keys() -> frozenset[tuple[str, ...]]:
    """Stem tuples of the phrases that say how a question is asked (lexicon.INTENTS)."""
    return frozenset(stems(vocabulary.normalise(p)) for p in lexicon.INTENTS)


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
        found.extend(dict.fromkeys(t for c in matched if key in c.expandable for t in c.tokens))
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
