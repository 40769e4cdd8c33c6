"""Characters no person means to type, removed from every text a person enters.

One C0 control in a title made every Atom feed invalid XML for everyone. The contract:

* ``strip_controls(text)`` drops C0 controls except tab, newline and carriage return, DEL,
  the C1 controls (U+0080-U+009F), lone surrogates (U+D800-U+DFFF) and the Unicode
  noncharacters (U+FDD0-U+FDEF and the last two code points of every plane, U+FFFE and
  U+FFFF among them). What is left is valid XML 1.0 and prints as the person meant.
* The services call it first thing on titles, bodies, reasons, notes and drafts (so a
  title of nothing but controls is "empty", not a blank title).
* ``init_app`` adds a last line behind them: before every flush, each string attribute of
  every new or changed row is stripped, so no path (web form, API, import, a future
  service that forgets) can store one.
* The Atom feeds strip again as they serialise (``forum.feeds``), for rows stored before.
"""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session

# Two patterns: one over the BMP (fast: about 8 us for 2 KB of text), and the
# noncharacters of the other planes, searched only in text that has characters past the BMP
# (a class with astral members is some 70 times slower).
_BMP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_ASTRAL = re.compile(
    "["
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(1, 17))
    + "]"
)


def _astral(text: str) -> bool:
    return not text.isascii() and max(text) > "\uffff"


def has_controls(text: str) -> bool:
    """Whether ``text`` holds anything ``strip_controls`` removes."""
    if not text:
        return False
    return _BMP.search(text) is not None or (_astral(text) and _ASTRAL.search(text) is not None)


def strip_controls(text: str) -> str:
    """``text`` without control characters, surrogates or noncharacters (see above)."""
    if not has_controls(text):
        return text
    return _ASTRAL.sub("", _BMP.sub("", text))


@cache
def _string_keys(mapper) -> tuple[str, ...]:
    return tuple(
        prop.key
        for prop in mapper.column_attrs
        if any(isinstance(col.type, String) for col in prop.columns)
    )


def _strip_rows(session: Session, _context, _instances) -> None:
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        for key in _string_keys(state.mapper):
            value = state.dict.get(key)
            if isinstance(value, str) and has_controls(value):
                setattr(obj, key, strip_controls(value))


_installed = False


def init_app(_app=None) -> None:
    """Strip every string column of new and changed rows before each flush (once per
    process: the listener is on the Session class every app's session uses)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _strip_rows)
        _installed = True
