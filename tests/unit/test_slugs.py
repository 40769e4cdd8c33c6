"""A thread's address keeps its slug: ASCII titles skip Unicode normalisation, which
leaves them as they are, and every title gets the slug the full recipe gives."""

from __future__ import annotations

import re
import unicodedata

import pytest

from forum.threads.queries import slugify
from tests.unit.test_analysis import TEXT_CASES

TITLES = [
    "",
    "   ",
    "???",
    "Hair loss on aza?",
    "HAIR   loss -- on   AZA!!",
    "6-MP vs. azathioprine (Imuran): 50mg/100mg?",
    "Crohn's & colitis: what's 'normal'?",
    "under_score and tab\tand\nnewline",
    "Café, naïve, Ångström, Sjögren’s, Behçet's",
    "ﬁne ligature, ＦＵＬＬ width, ß straße, İstanbul, Ωmega",
    "κάτι ελληνικά русский текст 中文 😀",
    "a" * 59 + "-b",
    "word " * 30,
    "-leading and trailing-",
]


def _reference(title: str, limit: int = 60) -> str:
    """The recipe as written before ASCII titles took the short way."""
    text = unicodedata.normalize("NFKD", title or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:limit].rstrip("-") or "thread"


@pytest.mark.parametrize("title", TITLES + [t[:200] for t in TEXT_CASES])
def test_a_slug_is_what_the_full_recipe_gives(title):
    assert slugify(title) == _reference(title)
    assert slugify(title, limit=12) == _reference(title, limit=12)
