"""Download names a browser and every HTTP server can carry, in any script.

A header value must be Latin-1 (PEP 3333; gunicorn answers 500 otherwise), so a display
name in Cyrillic or Chinese cannot go raw into ``Content-Disposition``. RFC 6266 gives
the way: a plain ASCII ``filename`` for old clients and ``filename*`` (RFC 8187, UTF-8,
percent-encoded) that browsers prefer.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# RFC 8187 attr-char: what may stand unencoded in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _ascii(part: str) -> str:
    plain = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_]+", "-", plain).strip("-")


def ascii_filename(name: str, fallback: str = "download") -> str:
    """Letters, digits and underscores of ``name`` without accents, other runs as one
    dash, the extension kept; ``fallback`` when nothing of the name is left."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem, ext = _ascii(stem), _ascii(ext)
    if not stem:
        return fallback
    return f"{stem}.{ext}" if ext else stem


def attachment(filename: str, fallback: str = "download") -> str:
    """The ``Content-Disposition`` value that offers ``filename`` as a download.

    Always ASCII. ``filename`` is the ASCII form (dashes for what ASCII cannot say);
    ``filename*`` carries the real name when it differs. Control and format characters
    are dropped from both.
    """
    filename = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    simple = ascii_filename(filename, fallback)
    value = f'attachment; filename="{simple}"'
    if simple != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"
    return value
