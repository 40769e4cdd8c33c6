"""Shared pieces of the service layer: errors, the transaction boundary, search records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flask import current_app
from sqlalchemy import exc, insert

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


def insert_rows(model, rows: Sequence[dict]) -> None:
    """Insert ``rows`` (column -> value) into ``model``'s table in the current transaction,
    in order, returning nothing: one multi-row INSERT, or on PostgreSQL (psycopg) one
    ``COPY``, which spares the client the conversion of a statement with thousands of
    parameters and the server its parsing. Columns a row leaves out get their scalar
    defaults (a table with other client-side defaults takes the INSERT), and values go
    through their types' bind processing as an INSERT's do. A row the database refuses
    raises the ``IntegrityError`` (or other ``DBAPIError``) an INSERT would, with
    nothing of ``rows`` stored, and a lost connection is invalidated as SQLAlchemy's own
    statements invalidate it."""
    if not rows:
        return
    table = model.__table__
    conn = db.session.connection()
    dialect = conn.dialect
    columns = _copy_columns(table, rows) if dialect.driver == "psycopg" else None
    if columns is None:
        db.session.execute(insert(model), rows)
        return
    from psycopg import Error, sql

    names = [c.name for c in columns]
    defaults = {c.name: c.default.arg for c in columns if c.default is not None}
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    name = sql.Identifier(*([table.schema] if table.schema else []), table.name)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        name, sql.SQL(", ").join(map(sql.Identifier, names))
    )
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[n] if n in row else defaults.get(n) for n in names]
                for i, process in enumerate(processors):
                    if process is not None:
                        values[i] = process(values[i])
                copy.write_row(values)
    except Error as error:  # as SQLAlchemy wraps a statement's error (IntegrityError, ...)
        lost = dialect.is_disconnect(error, raw, None)
        if lost:
            conn.invalidate(error)
        raise exc.DBAPIError.instance(
            statement.as_string(raw), None, error, Error, connection_invalidated=lost
        ) from error


def _copy_columns(table, rows: Sequence[dict]) -> list | None:
    """The columns a COPY of ``rows`` fills (all but an autoincrement key the rows leave
    out), or None when a left-out column's default is not a plain value."""
    given = set().union(*(row.keys() for row in rows))
    columns = []
    for column in table.columns:
        if column.name in given:
            columns.append(column)
        elif column.primary_key and column.autoincrement in (True, "auto"):
            continue
        elif column.server_default is not None or (
            column.default is not None and not column.default.is_scalar
        ):
            return None
        else:
            columns.append(column)
    return columns
