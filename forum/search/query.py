"""From what a person typed to a whoosh query, built programmatically.

User text never reaches whoosh's QueryParser: there is no field syntax, wildcard,
regex or fuzzy operator to abuse. We tokenise it ourselves into quoted phrases,
``-excluded`` words and free words; drop filler words of natural questions; match
phrases of the vocabulary and lexicon ("hair coming out", "low white count", "feel
sick") and expand each to its other names while boosting threads tagged with it;
correct words the forum has never used against words it has (edit distance 1 for
5-7 letters, 2 for longer, first letter fixed); and OR the clauses with a
coordination bonus. Length, word count and expansion size are capped, so any string
costs a bounded amount of work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from whoosh import query as wq
from whoosh.util.text import rcompile

from . import lexicon
from .concepts import (
    AMBIGUOUS,
    NEGATION,
    intent_keys,
    match_concepts,
    member_token,
    plain_words,
    stems,
)
from .schema import TEXT_FIELDS
from .stats import IndexStats

MAX_CHARS = 500
MAX_WORDS = 32
MAX_PHRASES = 4
MAX_EXCLUDED = 8
MAX_NAMES_PER_CONCEPT = 12
MAX_CORRECTED_WORDS = 6
MAX_TERMS = 240
FIELD_BOOST = {"title": 2.0, "content": 1.0}
TAG_SCORE = 1.5
# A typed phrase asks for the concepts it names, each as one term (the concept token's
# df is that of all its names together): the most specific concept at full weight, a
# broader one ("cold sores" also names infections) at CATEGORY_WEIGHT, a class's members
# ("biologics" -> Humira) at RELATED_WEIGHT. The typed words themselves only add
# TYPED_BONUS where the concept covers them, so "knackered" ranks with "fatigue" for
# "tired". Generic concepts, question phrasing ("how long") and light words (intensifiers,
# "always", "really") count LIGHT_WEIGHT of that: an incidental word never outweighs the
# topic.
CONCEPT_WEIGHT = 1.0
CATEGORY_WEIGHT = 0.3
RELATED_WEIGHT = 0.5
TYPED_BONUS = 0.3
LIGHT_WEIGHT = 0.2
CORRECTION_WEIGHT = 0.8
COMMON_FRACTION = 0.5
RARE_DF = 2

# Words that carry no topic in a natural question ("how long before aza starts working?").
FILLER = frozenset(
    """
    a about above after again against all also am an and any anybody anyone anything are
    around as at be because been before being best better between both but by can cant
    could did didnt do does doesnt doing done dont during each else ever every experience
    experiences few for from get gets getting go going got had has hasnt have havent having
    he help her here hers him his how i id if ill im in into is isnt it its ive just know
    let like likely me might more most much must my myself need new no nor normal not now
    of off ok okay on once one only or other others our out over own people please quite
    really same say see seem seems she should shouldnt so some someone something still such
    sure take taking tell than thank thanks that thats the their them then there these they
    thing things think this those through tips to too try trying under until up us use used
    using very via wanted was wasnt we well were what whats when where whether which while
    who why will with without wondering would wouldnt yet you youre your yours question
    questions advice anyone's safe hi hello hey hiya everyone everybody guys folks whilst
    arent werent wont couldnt hadnt mustnt somebody u ur pls plz
    """.split()
)

_SPLIT = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_CONTROL = rcompile(r"[\x00-\x1f\x7f]")


@dataclass
class Parsed:
    """What the person asked for, in words (before looking at the index)."""

    words: list[str] = field(default_factory=list)  # free words, lower-case, in order
    phrases: list[list[str]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not (self.words or self.phrases)


def parse(text: str | None) -> Parsed:
    """Split raw input into free words, quoted phrases and -excluded words (capped)."""
    text = _CONTROL.sub(" ", text or "")
    parsed = Parsed(truncated=len(text) > MAX_CHARS)
    text = text[:MAX_CHARS]
    budget = MAX_WORDS
    for match in _SPLIT.finditer(text):
        if budget <= 0:
            parsed.truncated = True
            break
        negate, quoted, bare = match.group(1), match.group(2), match.group(3)
        if quoted is not None:
            words = plain_words(quoted)[:budget]
            if not words:
                continue
            if negate and len(parsed.excluded) < MAX_EXCLUDED:
                parsed.excluded.extend(words)
            elif len(words) == 1:
                parsed.words.extend(words)
            elif len(parsed.phrases) < MAX_PHRASES:
                parsed.phrases.append(words)
            else:
                parsed.words.extend(words)
            budget -= len(words)
            continue
        if bare.startswith("-") and len(bare) > 1:
            words = plain_words(bare[1:])
            if len(parsed.excluded) + len(words) <= MAX_EXCLUDED:
                parsed.excluded.extend(words)
            budget -= len(words)
            continue
        words = plain_words(bare)[:budget]
        parsed.words.extend(words)
        budget -= len(words)
    return parsed


@dataclass
class Built:
    """The whoosh query and what it is made of (for highlighting and "did you mean")."""

    query: wq.Query | None
    highlight_terms: set[str] = field(default_factory=set)
    suggestion: str | None = None
    concepts: list[str] = field(default_factory=list)

    def size(self) -> int:
        if self.query is None:
            return 0
        return sum(1 for _ in self.query.leaves())


def _stem(word: str) -> str | None:
    """A query word's stem, "not" read as ``NEGATION`` so "not working" meets its concept."""
    return (stems(NEGATION if word == "not" else word) or (None,))[0]


def _word_query(stem: str, weight: float) -> wq.Query:
    return wq.Or([wq.Term(f, stem, boost=FIELD_BOOST[f] * weight) for f in TEXT_FIELDS])


def _phrase_query(key: tuple[str, ...], weight: float) -> wq.Query:
    if len(key) == 1:
        return _word_query(key[0], weight)
    return wq.Phrase("content", list(key), boost=FIELD_BOOST["content"] * weight)


def build(parsed: Parsed, searcher=None) -> Built:
    """The whoosh query for a parsed input, using the index for statistics and spelling."""
    ctx = IndexStats(searcher)
    built = Built(query=None)
    words = list(parsed.words)
    replaced: dict[str, str] = {}

    # Pass 1: which words are free (not part of a concept phrase, not filler)?
    stem_seq = [_stem(w) for w in words]
    covered = {i for a, b, _c in match_concepts(stem_seq) for i in range(a, b)}
    free = [i for i in range(len(words)) if i not in covered and words[i] not in FILLER]
    if not covered and not free:  # only filler words: search for them after all
        free = list(range(len(words)))

    # Correct free words the forum never used, then match concepts again.
    corrections: dict[int, list[str]] = {}
    for i in free[:MAX_WORDS]:
        stem = stem_seq[i]
        if stem is None or len(corrections) >= MAX_CORRECTED_WORDS:
            continue
        seen = ctx.df(stem)
        if seen > RARE_DF:
            continue
        # A word the forum never used, or used once or twice (a typo someone else made
        # too): look for a much more common close word.
        found = [
            c for c in ctx.corrections(words[i]) if not seen or ctx.df(stems(c)[0]) >= 5 * seen
        ]
        if found:
            corrections[i] = found + ([words[i]] if seen else [])
            if not seen:
                replaced[words[i]] = found[0]
    if corrections:
        corrected = [corrections[i][0] if i in corrections else w for i, w in enumerate(words)]
        stem_seq = [_stem(w) for w in corrected]

    clauses: list[tuple[wq.Query, int]] = []  # (query, rough document frequency)
    covered = set()
    for start, end, found_concepts in match_concepts(stem_seq):
        covered.update(range(start, end))
        typed = tuple(s for s in stem_seq[start:end] if s)
        clause = _concept_clause(typed, found_concepts, ctx, built, replaced, words)
        if clause[0] is not wq.NullQuery:
            clauses.append(clause)
    # A light word weighs little when the query says something else too.
    light_words = lexicon.LIGHT_WORDS
    topical = bool(clauses) or any(
        words[i] not in light_words for i in free if i not in covered and stem_seq[i]
    )
    for i in free:
        stem = stem_seq[i]
        if i in covered or stem is None:
            continue
        light = words[i] in light_words and topical
        parts = [_word_query(stem, LIGHT_WEIGHT if light else 1.0)]
        df = ctx.df(stem)
        built.highlight_terms.add(stem)
        for alt in corrections.get(i, [])[1:]:
            alt_stem = (stems(alt) or (None,))[0]
            if alt_stem:
                parts.append(_word_query(alt_stem, CORRECTION_WEIGHT))
                built.highlight_terms.add(alt_stem)
                df = max(df, ctx.df(alt_stem))
        clauses.append((wq.Or(parts) if len(parts) > 1 else parts[0], df))

    # Words in nearly every thread ("azathioprine" here) rank nothing: drop them when
    # the query has other words, which also keeps broad queries cheap.
    rare = [q for q, df in clauses if df <= COMMON_FRACTION * ctx.docs]
    chosen = rare if rare else [q for q, _df in clauses]
    required: list[wq.Query] = []
    for phrase in parsed.phrases:
        key = stems(" ".join(phrase))
        if key:
            built.highlight_terms.update(key)
            required.append(_phrase_query(key, 1.5))
    main: wq.Query | None = None
    if chosen:
        main = chosen[0] if len(chosen) == 1 else wq.Or(chosen)
    if required:
        must = required[0] if len(required) == 1 else wq.And(required)
        main = wq.AndMaybe(must, main) if main is not None else must
    if main is not None and parsed.excluded:
        excluded = [s for w in parsed.excluded for s in stems(w)]
        if excluded:
            main = wq.AndNot(main, wq.Or([_word_query(s, 1.0) for s in excluded]))
    if main is not None and sum(1 for _ in main.leaves()) > MAX_TERMS:
        main = _trim(main)
    built.query = main
    if replaced:
        built.suggestion = " ".join(replaced.get(w, w) for w in words)
    return built


def _concept_clause(typed, found_concepts, ctx, built, replaced, content):
    """One clause for a typed phrase: each concept it names as one term, the typed words
    as a bonus, tag boosts, and a class's members below the class itself.

    Full weight goes to the concepts the phrase is a head name of (the term itself, a
    misspelling of it, any name of a lexicon group) or, when it is none's head, to the
    concepts it is a synonym of; the others ("cold sores" of infections) are broader.
    """
    parts: list[wq.Query] = []
    df = 0
    live = [(c, ctx.df_in("concepts", c.cid)) for c in found_concepts]
    members = {
        c.cid: ctx.df_in("concepts", member_token(c.cid)) for c in found_concepts if c.is_class
    }
    seen = [c for c, n in live if n or members.get(c.cid)]
    full = [c for c in seen if typed in c.heads or typed in c.misspelt] or seen
    light = typed in intent_keys() or (full and all(c.light for c in full))
    scale = LIGHT_WEIGHT if light else 1.0
    covered = any(typed in c.expandable for c in full)
    typed_weight = (TYPED_BONUS if covered else 1.0) * scale
    if len(typed) == 1:
        typed_df, typed_query = ctx.df(typed[0]), _word_query(typed[0], typed_weight)
    else:
        token = "_".join(typed)
        typed_df = ctx.df_in("names", token)
        typed_query = wq.Term("names", token, boost=typed_weight)
    if typed_df:
        df = typed_df
        parts.append(typed_query)
        built.highlight_terms.update(typed)
    for concept, concept_df in live:
        built.concepts.append(concept.label)
        if typed in concept.misspelt:
            _suggest_for_misspelling(typed, concept, ctx, replaced, content)
        is_full = concept in full
        if concept_df:
            weight = (CONCEPT_WEIGHT if is_full else CATEGORY_WEIGHT) * scale
            parts.append(wq.Term("concepts", concept.cid, boost=weight))
            df = max(df, concept_df)
            built.highlight_terms.update(n[0] for n in concept.expandable if len(n) == 1)
            built.highlight_terms.update(s for n in concept.expandable if len(n) > 1 for s in n)
        if members.get(concept.cid) and is_full:
            token = member_token(concept.cid)
            parts.append(wq.Term("concepts", token, boost=RELATED_WEIGHT * scale))
            df = max(df, members[concept.cid])
            built.highlight_terms.update(s for n in concept.member_names for s in n)
        for fieldname, slug in sorted(concept.tags):
            score = (TAG_SCORE if is_full else TAG_SCORE / 2) * scale
            parts.append(wq.ConstantScoreQuery(wq.Term(fieldname, slug), score))
    if not parts:
        return wq.NullQuery, 0
    return (wq.Or(parts) if len(parts) > 1 else parts[0]), df


def _suggest_for_misspelling(typed, concept, ctx, replaced, content) -> None:
    good = [
        n
        for n in concept.names
        if n not in concept.misspelt
        and all(ctx.visible("content", s) for s in n)
        and concept.surface.get(n) not in AMBIGUOUS
    ]
    if good:
        best = min(good, key=lambda n: (len(n), concept.names.index(n)))
        for word in content:
            if stems(word) == typed:
                replaced[word] = concept.surface[best]


def _trim(query: wq.Query) -> wq.Query:
    """Last-resort cap: keep the first clauses until the term budget is spent."""
    if isinstance(query, wq.Or):
        kept, used = [], 0
        for sub in query.subqueries:
            n = sum(1 for _ in sub.leaves())
            if used + n > MAX_TERMS:
                break
            kept.append(sub)
            used += n
        return wq.Or(kept) if kept else wq.NullQuery
    return query
