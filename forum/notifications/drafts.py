"""Drafts: a question or reply being written, kept on the server per member and place.

Saved by the "Save draft" button (no JavaScript needed), by static/js/drafts.js every
few seconds and when the page is left, and when the person previews; read back to
prefill the form; discarded in the same transaction that posts the question or reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..cleaning import strip_controls
from ..extensions import db
from ..models import Thread, User, utcnow
from ..services import NotFound, ValidationError, commit
from .models import Draft

DRAFT_KINDS = ("ask", "reply")


def _scope(kind: str, thread_id: int | None) -> str:
    if kind not in DRAFT_KINDS:
        raise ValidationError("A draft is either a question or a reply.")
    if kind == "reply":
        if not thread_id:
            raise ValidationError("A reply draft needs its thread.")
        return f"reply:{int(thread_id)}"
    return "ask"


def get_draft(user, kind: str, thread_id: int | None = None) -> Draft | None:
    """The member's draft for this place, or None (also for anonymous visitors)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(
        select(Draft).where(Draft.user_id == user.id, Draft.scope == _scope(kind, thread_id))
    )


def _csv(values: Sequence[str] | None, limit: int) -> str:
    cleaned = [v.strip().replace(",", " ")[:60] for v in values or () if v and v.strip()]
    return ",".join(dict.fromkeys(cleaned))[:limit]


def save_draft(
    user: User,
    kind: str,
    thread_id: int | None = None,
    *,
    title: str = "",
    body: str = "",
    conditions: Sequence[str] = (),
    side_effects: Sequence[str] = (),
    medications: Sequence[str] = (),
) -> Draft | None:
    """Create or update the draft; an empty form removes it. Returns the draft or None."""
    scope = _scope(kind, thread_id)
    if kind == "reply" and db.session.get(Thread, int(thread_id)) is None:
        raise NotFound("That thread does not exist.")
    fields = {
        "title": " ".join(strip_controls(title or "").split())[:400] if kind == "ask" else "",
        "body": strip_controls(body or "")[: current_app.config["BODY_MAX"] * 2],
        "conditions": _csv(conditions, 400),
        "side_effects": _csv(side_effects, 1000),
        "medications": _csv(medications, 1000),
    }
    try:
        return _write(user, kind, scope, thread_id, fields)
    except IntegrityError:  # the autosave and the leave-beacon raced to create it
        return _write(user, kind, scope, thread_id, fields)


def _write(user: User, kind: str, scope: str, thread_id: int | None, fields: dict):
    draft = get_draft(user, kind, thread_id)
    if not fields["body"].strip() and not fields["title"]:
        if draft is not None:
            db.session.delete(draft)
            commit()
        return None
    if draft is None:
        draft = Draft(user_id=user.id, kind=kind, scope=scope, thread_id=thread_id or None)
        db.session.add(draft)
    for name, value in fields.items():
        setattr(draft, name, value)
    draft.updated_at = utcnow()
    commit()
    return draft


def discard(user: User, kind: str, thread_id: int | None) -> None:
    """Drop the draft inside the caller's transaction (the post that replaces it)."""
    # synchronize_session=False: no Draft is loaded here, and evaluating the criteria over
    # every object in the session made a batch import quadratic (one discard per thread).
    db.session.execute(
        delete(Draft).where(Draft.user_id == user.id, Draft.scope == _scope(kind, thread_id)),
        execution_options={"synchronize_session": False},
    )


def discard_asks(user_ids) -> None:
    """``discard(user, "ask", None)`` for many authors in one statement (a bulk import)."""
    if user_ids:
        db.session.execute(
            delete(Draft).where(
                Draft.user_id.in_(list(user_ids)), Draft.scope == _scope("ask", None)
            ),
            execution_options={"synchronize_session": False},
        )


def discard_draft(user: User, kind: str, thread_id: int | None = None) -> None:
    """The member threw the draft away."""
    discard(user, kind, thread_id)
    commit()


def form_data(user, kind: str, thread_id: int | None = None) -> dict | None:
    """Initial data for the ask or reply form from the member's draft (None: no draft)."""
    draft = get_draft(user, kind, thread_id)
    if draft is None:
        return None
    if kind == "reply":
        return {"body": draft.body}
    return {
        "title": draft.title,
        "body": draft.body,
        "conditions": draft.tag_list("condition"),
        "side_effects": draft.tag_list("side_effect"),
        "medications": draft.tag_list("medication"),
    }
