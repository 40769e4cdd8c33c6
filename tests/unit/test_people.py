"""Avatars and flair words (forum/people.py): deterministic, local, plain."""

from __future__ import annotations

from datetime import date

from forum.models import User
from forum.people import avatar, hue, initials, time_on_aza


def test_initials_from_words_or_the_first_two_letters():
    assert initials("River Stone") == "RS"
    assert initials("gutfeelings_jo") == "GJ"
    assert initials("Dave") == "Da"
    assert initials("z") == "Z"


def test_avatar_colour_depends_only_on_the_public_name():
    assert hue("River Stone") == hue("river stone") == hue(" RIVER STONE ")
    assert hue("River Stone") != hue("Sea Stone")
    svg = str(avatar(User(display_name="Bea <L>"), 32))
    assert svg.startswith('<svg class="avatar"') and 'aria-hidden="true"' in svg
    assert "<L" not in svg and "http" not in svg.replace("http://www.w3", "")  # no remote image
    assert str(avatar(None)).count("?") == 1  # a former member


def test_time_on_aza_in_plain_words():
    today = date(2026, 12, 4)
    assert time_on_aza(date(2024, 11, 1), None, today) == "on aza 2 yrs"
    assert time_on_aza(date(2025, 11, 30), None, today) == "on aza 1 yr"
    assert time_on_aza(date(2026, 7, 1), None, today) == "on aza 5 mths"
    assert time_on_aza(date(2026, 11, 20), None, today) == "new to aza"
    assert time_on_aza(date(2025, 1, 10), date(2025, 9, 10), today) == "took aza 8 mths"
