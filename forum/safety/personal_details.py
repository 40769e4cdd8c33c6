"""Spot personal details in text someone is about to post publicly, so we can warn them.

Never blocks: a phone number in a post is the writer's choice, and the detector errs on
the side of warning. Finds email addresses, phone numbers (UK, US, international), dates
of birth (dates next to "born", "DOB", "birthday"), NHS numbers (ten digits with a valid
check digit, or any ten digits after "NHS"), hospital numbers / MRNs (after a cue such as
"hospital number", "MRN", "patient ID"), and street addresses (house number + street
type, UK postcodes, US state + ZIP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = {
    "email": "an email address",
    "phone": "a phone number",
    "dob": "a date of birth",
    "nhs": "an NHS number",
    "hospital_number": "a hospital or patient number",
    "address": "a street address or postcode",
}

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)

_PHONE = re.compile(
    r"(?<![\w.])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?\d{1,5}(?:[\s.-]?\d{2,5}){1,4}"  # +44 7700 900123
    r"|\(\d{3,5}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}"  # (555) 123-4567, (01632) 960 000
    r"|0\d{2,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}"  # 07700 900123, 020 7946 0000
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r")(?![\w])"
)

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    + _MONTHS
    + r",?\s+\d{2,4}|"
    + _MONTHS
    + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})"
)
_DOB = re.compile(
    r"\b(?:d\.?o\.?b\.?|date of birth|born(?: on)?|birthday(?: is)?)\W{0,3}(?:is\W+)?" + _DATE,
    re.IGNORECASE,
)

_TEN_DIGITS = re.compile(r"(?<![\w.])(\d{3})[\s-]?(\d{3})[\s-]?(\d{4})(?![\w.])")
_NHS_CUE = re.compile(r"\bnhs\s*(?:no\.?|number|num|#)?\W{0,3}$", re.IGNORECASE)

_HOSPITAL = re.compile(
    r"\b(?:hospital (?:no\.?|number|num|id)|hosp\.? (?:no\.?|number)|mrn|medical record "
    r"(?:no\.?|number)|patient (?:id|number|no\.?)|unit number|chi number|k number|"
    r"rtt number)\W{0,4}(?:is\W+)?([a-z]{0,3}\d[\w-]{4,11})\b",
    re.IGNORECASE,
)

_STREET_TYPES = (
    r"(?:road|rd|street|st|avenue|ave|lane|ln|drive|dr|close|way|crescent|cres|court|ct|"
    r"place|pl|terrace|gardens|grove|boulevard|blvd|square|sq|mews|parade|walk|row|hill)"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[a-z]?,?\s+(?:[A-Z][a-z]+\s+){1,3}(?i:" + _STREET_TYPES + r")\b\.?",
)
_UK_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s+\d[ABD-HJLNP-UW-Z]{2}\b",
)
_US_ZIP = re.compile(
    r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|"
    r"PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\s+\d{5}(?:-\d{4})?\b"
)


@dataclass(frozen=True)
class Finding:
    kind: str
    text: str

    @property
    def label(self) -> str:
        return KINDS[self.kind]


def nhs_checksum_ok(digits: str) -> bool:
    """Modulus 11 check digit of a ten-digit NHS number."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def find_personal_details(text: str | None) -> list[Finding]:
    """Every personal detail found, in order of kind; each span is reported once."""
    text = text or ""
    findings: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int) -> None:
        if any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        findings.append(Finding(kind, text[start:end]))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _DOB.finditer(text):
        add("dob", m.start(), m.end())
    for m in _HOSPITAL.finditer(text):
        add("hospital_number", m.start(), m.end())
    for m in _TEN_DIGITS.finditer(text):
        digits = "".join(m.groups())
        if nhs_checksum_ok(digits) or _NHS_CUE.search(text[: m.start()]):
            add("nhs", m.start(), m.end())
    for m in _PHONE.finditer(text):
        if sum(c.isdigit() for c in m.group(0)) >= 10:
            add("phone", m.start(), m.end())
    for pattern in (_ADDRESS, _UK_POSTCODE, _US_ZIP):
        for m in pattern.finditer(text):
            add("address", m.start(), m.end())
    order = list(KINDS)
    return sorted(findings, key=lambda f: order.index(f.kind))


def personal_details_notice(*texts: str | None) -> str | None:
    """A calm one-line notice naming what was found, or None when nothing was."""
    kinds: list[str] = []
    for text in texts:
        for finding in find_personal_details(text):
            if finding.kind not in kinds:
                kinds.append(finding.kind)
    if not kinds:
        return None
    labels = [KINDS[k] for k in kinds]
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return (
        f"Your text seems to contain {listed}. Everything here is public: you can still "
        "post it, but you may want to remove it first."
    )
