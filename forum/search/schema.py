"""The index schema and its analyzer, with a version that triggers a rebuild on change.

Bump ``SCHEMA_VERSION`` whenever a field, an analyzer or the document builder changes
what ends up in the index: every process compares it with the version stored in the
index's meta document at start and rebuilds when they differ.
"""

from __future__ import annotations

from whoosh import fields
from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    SpaceSeparatedTokenizer,
    StemFilter,
    StopFilter,
    SubstitutionFilter,
)
from whoosh.support.charset import accent_map

_VERSION = "forum-search-8"


def _version() -> str:
    """The schema version plus a hash of the vocabulary and lexicon: a new synonym
    changes which concepts documents carry, so it triggers a rebuild at start."""
    import hashlib

    from .. import vocabulary
    from . import lexicon

    data = repr((vocabulary.ALL_TERMS, lexicon.GROUPS)).encode()
    return f"{_VERSION}-{hashlib.sha256(data).hexdigest()[:10]}"


SCHEMA_VERSION = _version()
META_ID = "__meta__"

# Words of letters and digits; an apostrophe inside a word is dropped ("crohn's" ->
# "crohns") so people who leave it out still match.
_TOKENS = r"[^\W_]+(?:['\u2019][^\W_]+)*"


def make_analyzer():
    """Accent-folding, lower-casing, UK/US-spelling-folding, stopword-dropping, stemming
    analyzer. Used for indexing and for analysing query words, so both sides agree:
    "haemoglobin"/"hemoglobin", "oedema"/"edema" and "immunised"/"immunized" meet.
    """
    return (
        RegexTokenizer(_TOKENS)
        | SubstitutionFilter(r"['\u2019]", "")
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
        | SubstitutionFilter(r"['\u2019]", "")
        | LowercaseFilter()
        | CharsetFilter(accent_map)
    )


ANALYZER = make_analyzer()
TEXT_FIELDS = ("title", "content")
TAG_FIELDS = ("conditions", "side_effects", "medications")
EXTRA_FIELDS = ("tpmt", "outcome", "moved_to")


def build_schema() -> fields.Schema:
    """One document per visible thread, plus the meta document (id ``__meta__``)."""
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        # The title again on its own, so title matches can weigh more.
        title=fields.TEXT(analyzer=ANALYZER),
        # Title, question and visible replies: one field keeps a query to one posting
        # list per word (and phrases to one positional match), which is what makes
        # expansion to synonyms affordable. Unstemmed words kept for spelling.
        content=fields.TEXT(analyzer=ANALYZER, spelling=True),
        # Vocabulary and lexicon phrases found in the content (query.annotate): the
        # phrase itself ("hair_come_out") and the concepts it implies.
        names=fields.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        concepts=fields.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        conditions=fields.KEYWORD(commas=True, lowercase=True),
        side_effects=fields.KEYWORD(commas=True, lowercase=True),
        medications=fields.KEYWORD(commas=True, lowercase=True),
        tpmt=fields.KEYWORD(commas=True, lowercase=True),
        outcome=fields.KEYWORD(commas=True, lowercase=True),
        moved_to=fields.KEYWORD(commas=True, lowercase=True),
        created=fields.DATETIME(sortable=True),
        last_activity=fields.DATETIME(sortable=True),
        reply_count=fields.NUMERIC(sortable=True),
        helpful_count=fields.NUMERIC(sortable=True),
        is_resolved=fields.BOOLEAN(),
        # Facet values in one column ("c:lupus s:rash m:azathioprine"), read per hit.
        facets=fields.COLUMN(),
        fingerprint=fields.STORED(),
        meta=fields.STORED(),
    )
