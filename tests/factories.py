"""Builders for test data; every write goes through the real services."""

from __future__ import annotations

import itertools

from forum.extensions import db
from forum.models import User
from forum.threads import service

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


def user(
    name: str | None = None,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    role: str = "member",
) -> User:
    n = next(_seq)
    name = name or f"member_{n}"
    u = User(
        display_name=name,
        name_key=name.lower(),
        email=email or f"{name.lower()}@example.org",
        role=role,
    )
    u.set_password(password)
    db.session.add(u)
    db.session.commit()
    return u


def thread(
    author: User | None = None,
    *,
    title: str | None = None,
    body: str = "A question.",
    conditions=("lupus",),
    side_effects=(),
    medications=("azathioprine",),
    replies=(),
):
    author = author or user()
    n = next(_seq)
    t, _ = service.create_thread(
        author,
        title or f"Question number {n}",
        body,
        list(conditions),
        list(side_effects),
        list(medications),
    )
    for reply_author, reply_body in replies:
        service.add_reply(reply_author, t, reply_body)
    return t
