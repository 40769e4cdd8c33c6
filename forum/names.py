"""When two display names look the same, and which names nobody may take.

``skeleton(name)`` is what a name looks like, after Unicode UTS #39: NFKC (fullwidth
and styled letters become plain ones), case folded, the confusables mapping (Cyrillic
"а" and Latin "a", "0" and "o", "1", "I" and "l", "m" and "rn" become one), and without
punctuation, spaces or invisible characters. Two accounts may not share a skeleton, and
a name whose skeleton (accents dropped as well) is a reserved name, or holds the word
"admin" or "moderator", is refused: "Moderator.", "Admin_", "Аdmin", "ａｄｍｉｎ",
"Support Team", "A Former Member." all are.

The confusables table is Unicode's, made into ``forum/data/confusables.tsv`` by
``tools/make_confusables.py``; nothing is fetched at run time.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources

SKELETON_MAX = 255
# Names of the forum's own roles and voices, and words that suggest them.
RESERVED = (
    "admin",
    "administrator",
    "administrators",
    "moderator",
    "moderators",
    "mod",
    "mods",
    "staff",
    "support",
    "support team",
    "help desk",
    "helpdesk",
    "system",
    "official",
    "team",
    "forum",
    "forum team",
    "aza community",
    "a former member",
    "former member",
    "deleted",
    "deleted user",
    "anonymous",
    "root",
    "owner",
    "sysop",
    "webmaster",
    "postmaster",
    "security",
    "null",
)
# Words no member's name may contain at all ("Admin Jane", "JaneModerator").
RESERVED_WORDS = ("admin", "admins", "administrator", "moderator", "moderators", "sysop")


@cache
def _confusables() -> dict[int, str]:
    """Source code point -> its prototype, from the vendored Unicode table."""
    text = resources.files("forum").joinpath("data/confusables.tsv").read_text("utf-8")
    table = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            source, target = line.split("\t")
            table[int(source, 16)] = "".join(chr(int(h, 16)) for h in target.split())
    return table


def _map(text: str) -> str:
    """UTS #39: NFD, every character to its prototype, NFD again."""
    mapped = unicodedata.normalize("NFD", text).translate(_confusables())
    return unicodedata.normalize("NFD", mapped)


def _visible(ch: str) -> bool:
    """Letters, digits, marks and symbols: not punctuation, separators or control."""
    return unicodedata.category(ch)[0] not in "PZC"


@lru_cache(maxsize=16384)  # an import asks again for every line of the same author
def skeleton(name: str) -> str:
    """What ``name`` looks like: equal skeletons mean names a reader could mistake.

    Case folded first (names are one account whatever their case), then mapped twice
    (folding can uncover a confusable); "i" and "l" count as one, since capital I and
    small l look alike in the forum's sans-serif font.
    """
    text = unicodedata.normalize("NFKC", name or "").casefold()
    text = _map(_map(text).casefold())
    text = "".join(ch for ch in text if _visible(ch)).replace("i", "l")
    return text[:SKELETON_MAX]


def _loose(text: str) -> str:
    """For reserved names only: accents dropped as well ("Ádmin")."""
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@cache
def _reserved() -> frozenset[str]:
    return frozenset(_loose(skeleton(name)) for name in RESERVED)


@cache
def _reserved_words() -> frozenset[str]:
    return frozenset(_loose(skeleton(word)) for word in RESERVED_WORDS)


def _words(name: str) -> list[str]:
    """The words of a name: split at anything not a letter or digit, and at camelCase."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.sub(r"(?<=[^\W\d_])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", " ", text)
    return [w for w in re.split(r"[\W_]+", text) if w]


@lru_cache(maxsize=16384)
def is_reserved(name: str) -> bool:
    """A name that is, or could be taken for, one of the forum's own voices."""
    if _loose(skeleton(name)) in _reserved():
        return True
    words = _reserved_words()
    return any(_loose(skeleton(word)) in words for word in _words(name))


def stored_skeleton(name: str) -> str | None:
    """The value of ``users.name_skeleton``: None when nothing visible is left."""
    return skeleton(name) or None
