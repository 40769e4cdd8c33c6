"""Demo experience reports (forum/demo/experiences.json, original and invented), loaded
with the demo threads so "What patients report" has summaries on first start.

Each item names its author by display name: a demo member from the threads when one has
that name, otherwise a new member without a usable password. An optional ``thread``
title attaches the report to that author's demo question; an optional ``earlier``
state is saved first, so the timeline shows an update. Loading twice adds nothing.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from importlib import resources

from sqlalchemy import select

from ..extensions import db
from ..models import Thread, User
from ..services import ServiceError
from . import service

DATA = "experiences.json"


def _member(name: str) -> User:
    # "FrostySparrow" and "frosty_sparrow" look alike: one demo member, not two.
    user = User.by_name(name) or User.looking_like(name)
    if user is None:
        user = User(display_name=name, name_key=name.lower(), email=None, password_hash=None)
        db.session.add(user)
        db.session.commit()
    return user


def _thread(user: User, title: str | None) -> Thread | None:
    if not title:
        return None
    return db.session.scalar(
        select(Thread).where(Thread.title == title, Thread.author_id == user.id)
    )


def load_demo_experiences(items: list[dict] | None = None) -> int:
    """Record the demo reports that are not there yet; returns how many were added."""
    if items is None:
        items = json.loads(resources.files("forum.demo").joinpath(DATA).read_bytes())
    added = 0
    for item in items:
        user = _member(item["author"])
        exp = item["experience"]
        if service.get_report(user, exp["condition"]) is not None:
            continue
        thread = _thread(user, item.get("thread"))
        try:
            earlier = item.get("earlier")
            if earlier:
                start = date.fromisoformat(exp["started"])
                when = datetime.combine(start + timedelta(weeks=earlier["weeks_in"]), time(9))
                service.experience_from_dict(user, None, earlier["experience"], when=when)
            service.experience_from_dict(user, thread, exp)
        except ServiceError:
            db.session.rollback()
            continue
        added += 1
    return added
