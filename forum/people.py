"""Who wrote it, as a person: generated avatars and the flair beside a name.

Avatars are made here, as inline SVG (initials on a colour), so no picture service ever
learns who reads what. The colour comes from a hash of the public, lower-cased display
name, never from anything secret, so the same person always has the same colour.

Flair is what a member chose to show beside their name: the conditions of the experience
reports they show on their profile (else the conditions they ticked for their profile) and
how long they have been on azathioprine, from the earliest of those reports' start dates -
"Lupus · on aza 2 yrs". ``User.show_flair`` (account page) switches it off.

Lists call the batch functions once per page: ``flair_for(users)`` and
``list_people(threads)`` each cost a fixed number of queries, whatever the page size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from markupsafe import Markup, escape
from sqlalchemy import func, select

from . import vocabulary
from .extensions import db
from .models import Post, Thread, User

MAX_FLAIR_CONDITIONS = 2
LAST_REPLIERS = 3


def initials(name: str) -> str:
    """One or two letters: the first of the first two words, else the first two letters."""
    words = [w for w in name.replace("_", " ").replace(".", " ").replace("-", " ").split() if w]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    word = words[0] if words else "?"
    return word[:2].capitalize() if len(word) > 1 else word.upper()


def hue(name: str) -> int:
    """A stable hue (0-359) for a display name: sha256 of the lower-cased name."""
    return int(hashlib.sha256(name.strip().lower().encode()).hexdigest()[:8], 16) % 360


def avatar(user: User | None, size: int = 40) -> Markup:
    """An inline SVG avatar (decorative: the name beside it is the accessible text)."""
    return _avatar(None if user is None else user.display_name, size)


@lru_cache(maxsize=4096)
def _avatar(name: str | None, size: int) -> Markup:
    """The avatar of a display name: a pure function of (name, size), so remembered (a
    thread page draws one per post, and the hash and formatting were ~0.1 ms each)."""
    if name is None:
        letters, fill = "?", "#6b7280"
    else:
        letters, fill = initials(name), f"hsl({hue(name)} 45% 32%)"
    return Markup(
        '<svg class="avatar" width="{s}" height="{s}" viewBox="0 0 40 40" aria-hidden="true" '
        'focusable="false"><circle cx="20" cy="20" r="20" fill="{fill}"/>'
        '<text x="20" y="20" dy=".35em" text-anchor="middle" font-size="{fs}" '
        'font-family="system-ui, sans-serif" font-weight="600" fill="#fff">{letters}</text></svg>'
    ).format(s=size, fill=fill, fs=16 if len(letters) > 1 else 18, letters=escape(letters))


def time_on_aza(started: date, stopped: date | None, today: date | None = None) -> str:
    """ "on aza 2 yrs", "on aza 5 mths", "new to aza"; "took aza 8 mths" once stopped."""
    end = stopped or today or date.today()
    months = max(0, (end.year - started.year) * 12 + end.month - started.month)
    if end.day < started.day:
        months = max(0, months - 1)
    verb = "took aza" if stopped else "on aza"
    if months < 1:
        return "took aza briefly" if stopped else "new to aza"
    if months < 12:
        return f"{verb} {months} mth{'s' if months != 1 else ''}"
    years = months // 12
    return f"{verb} {years} yr{'s' if years != 1 else ''}"


def flair_for(users: Iterable[User | None], today: date | None = None) -> dict[int, str]:
    """user id -> flair text, for those who show it and have something to show (one query)."""
    from .experiences.models import ExperienceReport

    wanted = {u.id: u for u in users if u is not None and u.show_flair}
    if not wanted:
        return {}
    reports: dict[int, list] = {}
    rows = db.session.execute(
        select(
            ExperienceReport.user_id,
            ExperienceReport.condition,
            ExperienceReport.started_on,
            ExperienceReport.stopped_on,
        )
        .where(ExperienceReport.user_id.in_(wanted), ExperienceReport.show_on_profile.is_(True))
        .order_by(ExperienceReport.user_id, ExperienceReport.started_on, ExperienceReport.id)
    )
    for row in rows:
        reports.setdefault(row.user_id, []).append(row)
    out = {}
    for uid, user in wanted.items():
        mine = reports.get(uid, [])
        slugs = [r.condition for r in mine] or user.shown_condition_slugs
        names = [
            vocabulary.name_of("condition", s) for s in slugs if vocabulary.get("condition", s)
        ]
        parts = names[:MAX_FLAIR_CONDITIONS]
        started = [r for r in mine if r.started_on]
        if started:
            first = started[0]
            ongoing = [r for r in started if r.stopped_on is None]
            stopped = None if ongoing else max(r.stopped_on for r in started)
            parts.append(time_on_aza(first.started_on, stopped, today))
        if parts:
            out[uid] = " · ".join(parts)
    return out


def helpful_received(user: User) -> int:
    """How many times people said the person's visible replies helped them."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Post.helpful_count), 0)).where(
                Post.author_id == user.id, Post.is_deleted.is_(False), Post.is_hidden.is_(False)
            )
        )
        or 0
    )


@dataclass
class ListPeople:
    """For one page of threads: the question's excerpt and the last few repliers of each."""

    excerpts: dict[int, str] = field(default_factory=dict)
    repliers: dict[int, list] = field(default_factory=dict)  # rows with .display_name


def _plain(body: str, limit: int = 220) -> str:
    """Markdown source reduced to one line of plain words for a list excerpt."""
    text = " ".join(
        line.lstrip("#>*-+ ").strip() for line in (body or "").splitlines() if line.strip()
    )
    for mark in ("**", "__", "`", "*", "_"):
        text = text.replace(mark, "")
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def list_people(threads: Iterable[Thread]) -> ListPeople:
    """Excerpts and last repliers for a page of threads, in three queries in all."""
    ids = [t.id for t in threads]
    found = ListPeople()
    if not ids:
        return found
    for thread_id, body in db.session.execute(
        select(Post.thread_id, Post.body).where(Post.thread_id.in_(ids), Post.is_question.is_(True))
    ):
        found.excerpts[thread_id] = _plain(body)
    latest = db.session.execute(
        select(Post.thread_id, Post.author_id, func.max(Post.id).label("last"))
        .where(
            Post.thread_id.in_(ids),
            Post.is_question.is_(False),
            Post.is_deleted.is_(False),
            Post.is_hidden.is_(False),
            Post.author_id.is_not(None),
        )
        .group_by(Post.thread_id, Post.author_id)
    ).all()
    per_thread: dict[int, list] = {}
    for row in sorted(latest, key=lambda r: -r.last):
        if len(per_thread.setdefault(row.thread_id, [])) < LAST_REPLIERS:
            per_thread[row.thread_id].append(row.author_id)
    user_ids = {uid for uids in per_thread.values() for uid in uids}
    # Only what a row shows of them (name and avatar): plain rows, not whole accounts.
    users = {
        u.id: u
        for u in db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    }
    for thread_id, uids in per_thread.items():
        found.repliers[thread_id] = [users[u] for u in uids if u in users]
    return found


def init_app(app) -> None:
    app.jinja_env.globals.update(avatar=avatar, flair_for=flair_for, list_people=list_people)
