"""Accounts: registration, sign-in checks, password changes and profile choices.

Two promises shape this module. Sign-in never reveals whether an account exists: an
unknown name or email costs the same password hash as a wrong password and gets the
same answer. Registration never confirms that an email is registered: a taken email
gets the same answer as a fresh one (and no second account).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .. import names, vocabulary
from ..extensions import db
from ..models import User
from ..services import ValidationError

NAME_MIN, NAME_MAX = 3, 40
PASSWORD_MIN, PASSWORD_MAX = 8, 128
EMAIL_MAX = 254
# Letters (any script), digits, and a few joiners; must start with a letter or digit.
NAME_RE = re.compile(r"^[^\W_][\w .'-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The refused passwords, lower-cased (read once from forum/data)."""
    text = resources.files("forum").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@cache
def _dummy_hash() -> str:
    """A hash to check against when no account matches, so timing does not tell."""
    return generate_password_hash("not-a-real-account-password")


def clean_name(name: str | None) -> str:
    """NFC-normalised, single-spaced display name, or a ValidationError on ``display_name``."""
    name = " ".join(unicodedata.normalize("NFC", name or "").split())
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise ValidationError(
            "Choose another display name.",
            {"display_name": f"Between {NAME_MIN} and {NAME_MAX} characters."},
        )
    if "@" in name or not NAME_RE.match(name):
        raise ValidationError(
            "Choose another display name.",
            {
                "display_name": "Use letters, numbers, spaces, dots, dashes, apostrophes or "
                "underscores, starting with a letter or number."
            },
        )
    if names.is_reserved(name):
        raise ValidationError(
            "Choose another display name.",
            {
                "display_name": "That name is reserved: it is, or looks like, a name of the "
                "forum's own team (such as admin, moderator or support)."
            },
        )
    return name


TAKEN = "That name is taken, or looks too much like another member's name; try another."


def _check_name_free(name: str) -> None:
    """A ValidationError when an account has this name or one that looks the same."""
    if User.by_name(name) is not None or User.looking_like(name) is not None:
        raise ValidationError("That display name is taken.", {"display_name": TAKEN})


def clean_email(email: str | None) -> str:
    email = (email or "").strip().lower()
    if len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        raise ValidationError("Check your email address.", {"email": "Enter a valid email."})
    return email


def check_password_rules(password: str | None, field: str = "password", *avoid: str) -> str:
    """The password if it is long enough, short enough and not a common one."""
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise ValidationError(
            "Choose a longer password.", {field: f"At least {PASSWORD_MIN} characters."}
        )
    if len(password) > PASSWORD_MAX:
        raise ValidationError(
            "Choose a shorter password.", {field: f"At most {PASSWORD_MAX} characters."}
        )
    lowered = password.strip().lower()
    if lowered in common_passwords() or any(a and lowered == a.lower() for a in avoid):
        raise ValidationError(
            "Choose a less guessable password.",
            {field: "That password is too common or too easy to guess; try a short phrase."},
        )
    return password


@dataclass
class Registration:
    """What the page may say: ``created`` is for the caller's logs and tests only."""

    created: bool
    user: User | None = None


def register(display_name: str, email: str, password: str) -> Registration:
    """Create an account, unless the email is already registered.

    A taken display name is a ValidationError (names are public). A taken email is
    *not* an error: nothing is created and the caller shows the same page as on
    success, after the same amount of hashing work.
    """
    name = clean_name(display_name)
    email = clean_email(email)
    password = check_password_rules(password, "password", name, email, email.split("@")[0])
    _check_name_free(name)
    password_hash = generate_password_hash(password)
    if _email_taken(email):
        return Registration(created=False)
    user = User(display_name=name, name_key=name.lower(), email=email, password_hash=password_hash)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # a simultaneous registration won the race
        db.session.rollback()
        _check_name_free(name)
        return Registration(created=False)
    _keep_first_look_alike(user)
    return Registration(created=True, user=user)


def _keep_first_look_alike(user: User) -> None:
    """Two people joining at once as "Jane" and "Jаne" both pass the check above; the
    later account (higher id) sees the earlier one after its commit and goes again."""
    earlier = db.session.scalar(
        select(User.id).where(User.name_skeleton == user.name_skeleton, User.id < user.id)
    )
    if user.name_skeleton and earlier is not None:
        db.session.delete(user)
        db.session.commit()
        raise ValidationError("That display name is taken.", {"display_name": TAKEN})


def _email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


def authenticate(identifier: str, password: str) -> User | None:
    """The account for this display name or email and password, else None.

    The same work is done whether or not the account exists.
    """
    identifier = " ".join((identifier or "").split()).lower()
    user = None
    if identifier:
        user = db.session.scalar(
            select(User).where(
                or_(User.name_key == identifier, func.lower(User.email) == identifier)
            )
        )
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        return None
    return user if user.check_password(password or "") else None


def change_password(user: User, current: str, new: str) -> None:
    """Replace the password and end every other session (the session version moves)."""
    if not user.check_password(current or ""):
        raise ValidationError(
            "Your current password was not right.", {"current_password": "Not right."}
        )
    check_password_rules(new, "new_password", user.display_name, user.email or "")
    user.set_password(new)
    user.end_sessions()
    db.session.commit()


def end_sessions(user: User) -> None:
    """Sign the person out everywhere: every session and remember-me cookie carries the
    account's login secret, so replacing it makes copies of old cookies worthless."""
    user.end_sessions()
    db.session.commit()


def set_shown_conditions(user: User, slugs: list[str], show_flair: bool | None = None) -> None:
    """Choose which conditions the public profile shows (unknown slugs are refused) and,
    when given, whether they and the time on azathioprine appear beside the name."""
    clean = []
    for slug in slugs:
        if vocabulary.get("condition", slug) is None:
            raise ValidationError("Unknown condition.", {"shown_conditions": "Unknown."})
        if slug not in clean:
            clean.append(slug)
    user.shown_conditions = ",".join(clean)
    if show_flair is not None:
        user.show_flair = bool(show_flair)
    db.session.commit()
