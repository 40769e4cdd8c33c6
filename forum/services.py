"""Shared pieces of the service layer: errors, the transaction boundary, search records."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from . import signals
from .extensions import db
from .models import SearchChange


class ServiceError(Exception):
    """A request the service refuses; ``errors`` maps field names to messages."""

    status = 400

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ValidationError(ServiceError):
    status = 400


class PermissionDenied(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


def record_search_change(thread_ids: Iterable[int]) -> None:
    """Note in the current transaction that these threads must be re-read by the index."""
    for thread_id in set(thread_ids):
        db.session.add(SearchChange(thread_id=thread_id))


def commit() -> None:
    """Commit the current transaction, or roll it back and re-raise on failure.

    After a successful commit the ``committed`` signal lets the search index apply
    what was recorded; a rolled-back transaction never reaches it.
    """
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    signals.committed.send(current_app._get_current_object())
