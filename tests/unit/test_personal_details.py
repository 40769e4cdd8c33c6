"""The personal-details detector: warns on contact details and identifiers, not on doses."""

import pytest

from forum.safety import find_personal_details, personal_details_notice
from forum.safety.personal_details import nhs_checksum_ok


@pytest.mark.parametrize(
    "text, kind",
    [
        ("email me at jo.bloggs+aza@example.co.uk", "email"),
        ("ring me on 07700 900123", "phone"),
        ("my number is +44 7700 900123", "phone"),
        ("call (555) 123-4567 after six", "phone"),
        ("it's 555-123-4567", "phone"),
        ("landline 020 7946 0018", "phone"),
        ("in France: +33 1 23 45 67 89", "phone"),
        ("DOB 12/03/1985", "dob"),
        ("I was born on 3rd March 1980", "dob"),
        ("date of birth: 1979-11-02", "dob"),
        ("NHS number 943 476 5919", "nhs"),
        ("my number is 9434765919 on the letter", "nhs"),
        ("hospital number: RX123456", "hospital_number"),
        ("MRN 00123456", "hospital_number"),
        ("I live at 14 Acacia Avenue", "address"),
        ("post it to 221b Baker Street please", "address"),
        ("near SW1A 1AA", "address"),
        ("Springfield, IL 62704", "address"),
    ],
)
def test_finds(text, kind):
    assert kind in [f.kind for f in find_personal_details(text)]


@pytest.mark.parametrize(
    "text",
    [
        "I take 150mg of azathioprine a day",
        "My TPMT was 35 and my WBC 3.2 last week",
        "Started aza on 12/03/2021 and my bloods on 02/04/2021 were fine",
        "I walked 10000 steps today",
        "I'm 42 and have had Crohn's since 2009",
        "Dose went from 50 to 100 to 125mg over 6 weeks",
        "My neutrophils were 1.4 (range 2.0-7.5)",
        "took 2 tablets at 8am and 2 at 8pm",
    ],
)
def test_quiet_on_ordinary_health_talk(text):
    assert find_personal_details(text) == []


def test_nhs_checksum():
    assert nhs_checksum_ok("9434765919")
    assert not nhs_checksum_ok("9434765918")
    assert not nhs_checksum_ok("123")


def test_notice_names_what_was_found_and_does_not_block():
    notice = personal_details_notice("mail me: a@b.org", "or phone 07700 900123")
    assert "an email address and a phone number" in notice
    assert "can still post" in notice
    assert personal_details_notice("nothing here") is None
