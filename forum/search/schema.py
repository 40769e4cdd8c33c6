"""The index schema and its analyzer, with a version that triggers a rebuild on change.

Bump ``SCHEMA_VERSION`` whenever a field, an analyzer or the document builder changes
what ends up in the index: every process compares it with the version stored in the
index's meta document at start and rebuilds when they differ.
"""

from __future__ import annotations

import hashlib

from whoosh import fields
from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    SpaceSeparatedTokenizer,
    StemFilter,
    StopFilter,
    SubstitutionFilter,
    Token,
)
from whoosh.support.charset import accent_map

from .. import vocabulary
from . import lexicon

_VERSION = "forum-search-11"


def _version() -> str:
    """The schema version plus a hash of the vocabulary and lexicon: a new synonym
    changes which concepts documents carry, so it triggers a rebuild at start."""
    data = repr((vocabulary.ALL_TERMS, lexicon.GROUPS, lexicon.CLASSES)).encode()
    return f"{_VERSION}-{hashlib.sha256(data).hexdigest()[:10]}"


SCHEMA_VERSION = _version()
META_ID = "__meta__"

# Words of letters and digits; an apostrophe inside a word is dropped ("crohn's" ->
# "crohns") so people who leave it out still match. Drug shorthand written with a
# number and a hyphen ("6-MP", "5-ASA": lexicon.NUMBERED) is one word, its hyphen dropped
# like the apostrophe, so it meets "6MP" instead of leaving a bare "mp".
_NUMBERED = "|".join(
    f"{number}-{letters}" for number, letters in (n.split("-", 1) for n in lexicon.NUMBERED)
)
_TOKENS = rf"(?i:{_NUMBERED})(?![^\W_])|[^\W_]+(?:['\u2019][^\W_]+)*"


def make_analyzer():
    """Accent-folding, lower-casing, UK/US-spelling-folding, stopword-dropping, stemming
    analyzer. Used for indexing and for analysing query words, so both sides agree:
    "haemoglobin"/"hemoglobin", "oedema"/"edema" and "immunised"/"immunized" meet.
    """
    return (
        RegexTokenizer(_TOKENS)
        | SubstitutionFilter(r"['\u2019-]", "")
        | LowercaseFilter()
        | CharsetFilter(accent_map)
        | SubstitutionFilter(r"(?:ae|oe)(?=[bcdfghjklmnpqrstvwxz][a-z]{2})", "e")
        | SubstitutionFilter(r"rrhoea", "rrhea")
        | SubstitutionFilter(r"(?<=[a-z]{2})is(e|ed|es|ing|ation|ations)$", r"iz\1")
        | StopFilter()
        | StemFilter(cachesize=50000)
    )


def make_plain_analyzer():
    """The same without stemming or stopwords: for spelling and highlighting surfaces."""
    return (
        RegexTokenizer(_TOKENS)
        | SubstitutionFilter(r"['\u2019-]", "")
        | LowercaseFilter()
        | CharsetFilter(accent_map)
    )


ANALYZER = make_analyzer()


class Analysed(str):
    """A text whose analysis is already done (``analysis.analyse``): ``words`` are the
    unstemmed, stopword-free words (what the spelling field keeps), ``stems`` the same
    words stemmed (the index terms, in order), ``first`` the position of the first."""

    def __new__(cls, text: str, words: list[str], stems: list[str], first: int = 0):
        self = super().__new__(cls, text)
        self.words = words
        self.stems = stems
        self.first = first
        # The words to give the spelling field: a writer that already gave it a word
        # for an earlier document may leave it out (see rebuild._fill); the field's word
        # list is the same either way.
        self.spell = words
        return self

    def __reduce__(self):
        return (Analysed, (str(self), self.words, self.stems, self.first))


class OnceAnalyzer(Analyzer):
    """``ANALYZER`` for the text fields, except that an :class:`Analysed` value being
    indexed yields its tokens as computed, instead of being analysed again (for the
    postings and again for the spelling words).

    Anything else (plain strings, highlighting with character offsets, queries) goes
    to the wrapped analyzer, so the index and every reader see the same tokens.
    """

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, value, no_morph=False, **kwargs):
        if (
            isinstance(value, Analysed)
            and not kwargs.get("chars")
            and kwargs.get("removestops", True)
            and not kwargs.get("start_pos")
        ):
            return _tokens(value, no_morph, kwargs)
        return self.inner(value, no_morph=no_morph, **kwargs)

    def has_morph(self):
        return self.inner.has_morph()

    def clean(self):
        self.inner.clean()

    def __eq__(self, other):
        return isinstance(other, OnceAnalyzer) and self.inner == other.inner


def _tokens(value: Analysed, no_morph: bool, kwargs: dict):
    positions = kwargs.get("positions", False)
    t = Token(positions=positions, chars=False, mode=kwargs.get("mode", ""))
    pos = value.first
    for text in value.spell if no_morph else value.stems:
        t.text = text
        t.boost = 1.0
        t.stopped = False
        if positions:
            t.pos = pos
            pos += 1
        yield t


TEXT_ANALYZER = OnceAnalyzer(ANALYZER)
TEXT_FIELDS = ("title", "content")
TAG_FIELDS = ("conditions", "side_effects", "medications")
EXTRA_FIELDS = ("tpmt", "outcome", "moved_to")


class SortNumber(fields.NUMERIC):
    """A number read only as a sort column. Not indexed: whoosh's numeric fields write
    one posting per "tier" (8 per value) for range queries, which nothing here makes
    (user text never reaches field syntax, see ``query``); those were a tenth of a
    document's postings."""

    indexed = False


class SortDate(fields.DATETIME):
    """A date read only as a sort column (see ``SortNumber``)."""

    indexed = False


def build_schema() -> fields.Schema:
    """One document per visible thread, plus the meta document (id ``__meta__``)."""
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        # The title again on its own, so title matches can weigh more.
        title=fields.TEXT(analyzer=TEXT_ANALYZER),
        # Title, question and visible replies: one field keeps a query to one posting
        # list per word (and phrases to one positional match), which is what makes
        # expansion to synonyms affordable. Unstemmed words kept for spelling.
        content=fields.TEXT(analyzer=TEXT_ANALYZER, spelling=True),
        # Vocabulary and lexicon phrases found in the content (concepts.annotate): the
        # phrase itself ("hair_come_out") and the concepts it implies.
        names=fields.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        concepts=fields.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        conditions=fields.KEYWORD(commas=True, lowercase=True),
        side_effects=fields.KEYWORD(commas=True, lowercase=True),
        medications=fields.KEYWORD(commas=True, lowercase=True),
        tpmt=fields.KEYWORD(commas=True, lowercase=True),
        outcome=fields.KEYWORD(commas=True, lowercase=True),
        moved_to=fields.KEYWORD(commas=True, lowercase=True),
        # Sort keys only (service.SORT_COLUMNS): a column each, no postings.
        created=SortDate(sortable=True),
        last_activity=SortDate(sortable=True),
        reply_count=SortNumber(sortable=True),
        helpful_count=SortNumber(sortable=True),
        # Facet values in one column ("c:lupus s:rash m:azathioprine"), read per hit.
        facets=fields.COLUMN(),
        fingerprint=fields.STORED(),
        meta=fields.STORED(),
    )


def _remember_missing_columns() -> None:
    """whoosh 2.7 fix: a segment's per-document reader looks up a field's length column
    on every call and, when the field has none (keyword, numeric and spelling fields),
    asks the file system again each time - one ``stat`` per posting while a segment is
    written (about a tenth of a rebuild). Segment files never change once written, so
    remembering the miss is safe; readers and writers both benefit."""
    from whoosh.codec import whoosh3

    reader_class = whoosh3.W3PerDocReader
    if getattr(reader_class, "_forum_remembers_missing", False):
        return

    def _cached_reader(self, fieldname, column):
        try:
            return self._readers[fieldname]
        except KeyError:
            reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
            self._readers[fieldname] = reader
            return reader

    reader_class._cached_reader = _cached_reader
    reader_class._forum_remembers_missing = True


_remember_missing_columns()
