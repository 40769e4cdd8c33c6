"""When the database cannot answer: a clear 503 with Retry-After, never a 500, nothing
half-saved, and the typed text of a refused form shown back, ready to send again.

Two cases, told apart so the message is true:

* busy - a SQLite write lock held past the busy timeout, a lock or statement timeout on
  PostgreSQL: "very busy, try again in a few seconds", ``Retry-After: 5``.
* down - the server is stopped or unreachable, the connection dropped, the pool is
  exhausted, or any other ``OperationalError``: "cannot reach its database",
  ``Retry-After: 30``, logged as an error.

A form POST (ask, reply, edit, report, experience report, sign-in...) gets a page that
says nothing was posted and holds what was typed in a form that posts it again to the
same address (passwords are never echoed: their boxes come back empty). The API gets
the same message as JSON. While the database is down the page is drawn as for a
signed-out visitor, because knowing who is signed in takes the database.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, make_response, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .extensions import db, login_manager

log = logging.getLogger(__name__)

BUSY_WORDS = ("locked", "busy", "lock timeout", "lock_timeout", "statement timeout")
NEVER_ECHOED = ("password", "current_password", "new_password", "csrf_token")
LONG_TEXT = ("body", "note", "details", "text", "comment")
BUTTONS = ("submit", "preview", "action", "save")
SHORT_TEXT = ("title", "display_name", "email", "stop_reason_other", "name")
LABELS = {"body": "Your text", "stop_reason_other": "Other reason", "new_password": "New password"}
MESSAGES = {
    "busy": (
        "Busy, please try again",
        "The forum is very busy and could not save or load that just now. Nothing was "
        "changed: please try again in a few seconds.",
        "5",
    ),
    "down": (
        "The forum is briefly unavailable",
        "The forum cannot reach its database just now, so nothing can be saved or "
        "loaded. Nothing was changed: please try again in a minute.",
        "30",
    ),
}


def init_app(app: Flask) -> None:
    for exc_type in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(exc_type, database_unavailable)


def kind_of(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "busy" if any(word in text for word in BUSY_WORDS) else "down"


def database_unavailable(exc: Exception):
    """The 503 for a database that did not answer; the transaction is undone."""
    kind = kind_of(exc)
    _forget_transaction(kind)
    if kind == "down":
        log.error("database unavailable: %s", getattr(exc, "orig", None) or exc)
    name, message, retry_after = MESSAGES[kind]
    if request.path.startswith("/api/"):
        resp = jsonify(error=kind, message=message, status=503)
    else:
        err = _Err(503, name, message)
        fields = _typed_fields() if request.method == "POST" else None
        if fields:
            page = render_template("errors/unsaved.html", error=err, fields=fields,
                                   action=request.full_path.rstrip("?"))  # fmt: skip
        else:
            page = render_template("errors/error.html", error=err)
        resp = make_response(page)
    resp.status_code = 503
    resp.headers["Retry-After"] = retry_after
    return resp


def _forget_transaction(kind: str) -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection: SQLAlchemy discards it
        log.debug("rollback after a database error failed", exc_info=True)
    if kind == "down":
        g._login_user = login_manager.anonymous_user()


class _Err:
    def __init__(self, code: int, name: str, description: str):
        self.code, self.name, self.description = code, name, description


def _typed_fields() -> list[dict]:
    """The submitted form as fields to show again: text boxes for what was typed,
    hidden inputs for choices, empty boxes for passwords. [] when nothing was typed."""
    fields, typed = [], False
    for name in request.form:
        if name == "csrf_token":
            continue
        for value in request.form.getlist(name):
            if name in NEVER_ECHOED:
                fields.append({"name": name, "kind": "password", "value": ""})
                continue
            kind = _kind_for(name, value)
            typed = typed or (kind != "hidden" and bool(value.strip()))
            fields.append({"name": name, "kind": kind, "value": value})
    for field in fields:
        field["label"] = LABELS.get(field["name"]) or field["name"].replace("_", " ").capitalize()
    return fields if typed else []


def _kind_for(name: str, value: str) -> str:
    """Free text is shown (words have spaces); buttons and choices (slugs, ids) ride along."""
    if name in BUTTONS:
        return "hidden"
    if name in LONG_TEXT or "\n" in value or len(value) > 120:
        return "textarea"
    if name in SHORT_TEXT or " " in value.strip():
        return "text"
    return "hidden"
