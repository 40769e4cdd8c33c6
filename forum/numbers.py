"""Every whole number a request carries is read here: URL parts, query strings, form fields.

The contract, in one place so no view can forget it:

* A number is plain ASCII digits: no sign, space, underscore, exponent, ``0x`` or
  superscript/Arabic-Indic digits (Python's ``int()`` takes ``" +9_999"`` and ``int("²")``
  raises), and at most ``MAX_DIGITS`` of them.
* An id (``<int:...>`` in a route, ``post_id``, ``thread_id``, a followed thread's ``key``)
  fits a PostgreSQL INTEGER (``MAX_ID``), so no value reaches the database as an overflow
  (SQLite raises OverflowError past 2**63): an id past it is a 404, like any unknown id.
* A page number is 1 to ``MAX_PAGE``; ``?page=`` with more than 7 digits is a 404 "no such
  page" before any view runs. What a malformed page does is the caller's choice: HTML
  lists show page 1, the JSON API answers 400 with a message.

``init_app`` must run before any blueprint is registered: it replaces the ``int`` URL
converter every route uses.
"""

from __future__ import annotations

import re

from flask import Flask, abort, request
from werkzeug import routing

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER; SQLite overflows at 2**63
MAX_PAGE = 10**6 - 1
MAX_DIGITS = 12
_PLAIN = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def parse_int(raw: object, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``raw`` as an int when it is plain ASCII digits within ``low..high``, else None."""
    if not isinstance(raw, str) or not _PLAIN.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def arg_int(
    name: str, default: int, *, low: int = 1, high: int = MAX_PAGE, lenient: bool = False
) -> int:
    """The query-string number ``name``: ``default`` when missing or empty. Anything else
    that is not a plain number in ``low..high`` is a 400 naming the field and the range,
    or, when ``lenient``, ``default`` (a list page shows its first page)."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    value = parse_int(raw, low=low, high=high)
    if value is None:
        if lenient:
            return default
        abort(400, f"{name} must be a whole number from {low} to {high}.")
    return value


def form_id(name: str) -> int | None:
    """The form field ``name`` as an id: None when missing or empty, a 400 when it is not a
    plain number, a 404 when it is past any id the database can hold."""
    raw = (request.form.get(name) or "").strip()
    if raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        abort(400, f"{name} must be a whole number.")
    value = parse_int(raw, low=1)
    if value is None:
        abort(404, "There is nothing with that number.")
    return value


class IntegerConverter(routing.IntegerConverter):
    """``<int:name>`` in every route: ASCII digits up to ``MAX_ID``, else the route does not
    match (404). Werkzeug's own converter takes any Unicode digit and any size. (It keeps
    werkzeug's class name: tools and tests that walk ``app.url_map`` look for it.)"""

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        number = parse_int(value, low=self.min or 0, high=self.max or MAX_ID)
        if number is None:
            raise routing.ValidationError()
        return number


def _refuse_absurd_pages():
    """``?page=99999999999999999999``: no list has a millionth page; a plain 404."""
    page = request.args.get("page", "").strip().lstrip("+-")
    if len(page) > 7 and page.isdigit():
        abort(404, "There is no such page.")


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IntegerConverter
    app.before_request(_refuse_absurd_pages)
