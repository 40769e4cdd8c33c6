"""Analysing a document's text once, fast, with exactly the tokens ``ANALYZER`` gives.

Indexing a thread used to run the analyzer over the same text four times (concept
annotation, ``content``, its spelling words, ``title``), each through whoosh's chain of
generator filters (~12 µs a token). Here the text is split with the analyzer's own
tokenizer pattern and each distinct *raw* token is pushed through the analyzer's own
filters once, then remembered: every filter before stemming works on one token at a time
(apostrophes, case, accents, UK/US spellings, stopwords), so a raw token always becomes
the same word or nothing, and a word always the same stem. A text then costs a regex scan
plus a dictionary lookup per token.

``analyse(text)`` returns an :class:`~forum.search.schema.Analysed` string carrying the
unstemmed words (the spelling field's words), the stems (the ``content``/``title``
terms, in order) and the position of the first one (whoosh keeps the raw position of the
first word after leading stopwords, then numbers the rest consecutively).
``annotate_stems`` is ``concepts.annotate`` over stems already computed.

tests/unit/test_analysis.py checks both against ``ANALYZER``/``concepts.annotate``, token
for token and posting for posting, on varied text.
"""

from __future__ import annotations

from collections.abc import Sequence

from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
    SubstitutionFilter,
    Token,
)

from .concepts import concepts
from .schema import ANALYZER, Analysed

_TOKENIZER = ANALYZER.items[0]
assert isinstance(_TOKENIZER, RegexTokenizer) and not _TOKENIZER.gaps
_FINDALL = _TOKENIZER.expression.findall
_FILTERS = tuple(item for item in ANALYZER.items[1:] if not item.is_morph)
_MORPH = tuple(item for item in ANALYZER.items[1:] if item.is_morph)
# Stemming must be the last step: the filters before it see one token at a time.
assert ANALYZER.items[-len(_MORPH) :] == list(_MORPH) if _MORPH else True
assert all(isinstance(item, StemFilter) for item in _MORPH)

_MAX_CACHE = 400_000
# raw token -> (word, stem), or () when the filters drop it (a stopword)
_pairs: dict[str, tuple[str, str] | tuple[()]] = {}
_stems: dict[str, str] = {}  # word -> stem


_SUB, _LOWER, _CHARSET, _STOP = range(4)


def _plain_steps(filters) -> tuple | None:
    """The filters before stemming as plain steps on a token's text - what each whoosh
    filter's ``__call__`` does to one token, without a Token and a generator per filter
    (2.4x faster on a word not seen before, and a long tail of words is never seen
    twice) - or None when a filter is of a kind not known here (then every token goes
    through the filters themselves)."""
    steps = []
    for item in filters:
        kind = type(item)  # exact types: a subclass may do more
        if kind is SubstitutionFilter:
            steps.append((_SUB, item.pattern.sub, item.replacement))
        elif kind is LowercaseFilter:
            steps.append((_LOWER, None, None))
        elif kind is CharsetFilter:
            steps.append((_CHARSET, item.charmap, None))
        elif kind is StopFilter:  # index mode: a stopped word is removed
            steps.append((_STOP, item.stops, (item.min, item.max)))
        else:
            return None
    return tuple(steps)


_STEPS = _plain_steps(_FILTERS)
_STEMMER = _MORPH[0] if len(_MORPH) == 1 and type(_MORPH[0]) is StemFilter else None


def _word_of(raw: str) -> str | None:
    """The analyzer's filters (all but stemming) applied to one raw token."""
    if _STEPS is None:
        return _word_through_filters(raw)
    text = raw
    for kind, arg, extra in _STEPS:
        if kind == _SUB:
            text = arg(extra, text)
        elif kind == _LOWER:
            text = text.lower()
        elif kind == _CHARSET:
            text = text.translate(arg)
        else:
            size = len(text)
            if size < extra[0] or (extra[1] is not None and size > extra[1]) or text in arg:
                return None
    return text


def _word_through_filters(raw: str) -> str | None:
    token = Token(positions=True, chars=False, removestops=True, mode="index")
    token.text = raw
    token.pos = 0
    token.boost = 1.0
    token.stopped = False
    stream = iter((token,))
    for item in _FILTERS:
        stream = item(stream)
    out = [t.text for t in stream if not t.stopped]
    if len(out) > 1:  # pragma: no cover - no filter splits tokens
        raise AssertionError(f"filter split {raw!r}")
    return out[0] if out else None


def _stem_of(word: str) -> str:
    """The stemming filter applied to one word: its stemming function itself, without
    the filter's LFU cache around it (``analyse`` remembers stems itself)."""
    if _STEMMER is not None and not _STEMMER.lang:
        return word if word in _STEMMER.ignore else _STEMMER.stemfn(word)
    return _stem_through_filters(word)


def _stem_through_filters(word: str) -> str:
    token = Token(positions=True, mode="index")
    token.text = word
    token.stopped = False
    stream = iter((token,))
    for item in _MORPH:
        stream = item(stream)
    return next(stream).text


def analyse(text: str) -> Analysed:
    """``text`` with its analysis attached (see the module docstring)."""
    if len(_pairs) > _MAX_CACHE:
        _pairs.clear()
        _stems.clear()
    raws = _FINDALL(text)
    looked = list(map(_pairs.get, raws))  # (word, stem), () for a dropped token, None: new
    if None in looked:
        for i, pair in enumerate(looked):
            if pair is None:
                looked[i] = _pairs[raws[i]] = _pair_of(raws[i])
    kept = [pair for pair in looked if pair]
    if not kept:
        return Analysed(text, [], [], 0)
    first = looked.index(kept[0])  # the tokens before it are all ()
    return Analysed(text, [p[0] for p in kept], [p[1] for p in kept], first)


def _pair_of(raw: str) -> tuple[str, str] | tuple[()]:
    """(word, stem) for a raw token never seen, or () when the filters drop it."""
    word = _word_of(raw)
    if word is None:
        return ()
    stem = _stems.get(word)
    if stem is None:
        stem = _stems[word] = _stem_of(word)
    return (word, stem)


def annotate_stems(seq: Sequence[str]) -> tuple[str, str]:
    """``concepts.annotate`` for a text whose stems are ``seq`` (stopwords already out).

    The same greedy longest match over the same table, with the phrase lengths that
    can start at a stem looked up first, so most words cost one set lookup.
    """
    table, starts, tokens_of = _concept_index()
    names: list[str] = []
    found: list[str] = []
    k = 0
    count = len(seq)
    while k < count:
        lengths = starts.get(seq[k])
        if lengths:
            for n in lengths:
                if k + n <= count:
                    key = tuple(seq[k : k + n])
                    tokens = tokens_of.get(key)
                    if tokens is not None:
                        if n > 1:
                            names.append("_".join(key))
                        found.extend(tokens)
                        k += n
                        break
            else:
                k += 1
        else:
            k += 1
    return " ".join(names), " ".join(found)


def prepare() -> None:
    """Build the concept table and its phrase index now, in a process about to fork
    document builders (an import's checkpoint process, a rebuild's workers): each would
    otherwise build its own, ~0.14 s of CPU apiece."""
    _concept_index()


_index_cache: dict[int, tuple[dict, dict[str, tuple[int, ...]], dict[tuple, tuple]]] = {}


def _concept_index():
    """concepts.concepts()'s table as (table, first stem -> phrase lengths, longest
    first, phrase -> the ``concepts`` tokens it gives a document, each once)."""
    table, _longest = concepts()
    cached = _index_cache.get(id(table))
    if cached is None:
        lengths: dict[str, set[int]] = {}
        for key in table:
            lengths.setdefault(key[0], set()).add(len(key))
        starts = {s: tuple(sorted(ns, reverse=True)) for s, ns in lengths.items()}
        tokens_of = {
            key: tuple(dict.fromkeys(t for c in matched if key in c.expandable for t in c.tokens))
            for key, matched in table.items()
        }
        _index_cache.clear()
        cached = _index_cache[id(table)] = (table, starts, tokens_of)
    return cached
