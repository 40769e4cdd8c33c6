"""Settings in order: forum/config.py, instance/config.py, FORUM_* variables, test mapping.

``FORUM_*`` values are read as Flask reads them (JSON where they parse, else text), but
strictly where a mistake would silently flip a setting: a setting whose default is a
boolean takes only true/false/yes/no/on/off/1/0, one whose default is a number only a
whole number, and no value may hold `` #`` (systemd's EnvironmentFile keeps an inline
comment as part of the value). Anything else stops the start with ``ConfigError`` naming
the variable.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from flask import Flask

PREFIX = "FORUM_"
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True}
BOOLEANS.update({"false": False, "no": False, "off": False, "0": False})


class ConfigError(RuntimeError):
    """A setting that cannot be used as given; the message names it and says why."""


def load(app: Flask, test_config: dict | None) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_object("forum.config")
    app.config.from_pyfile("config.py", silent=True)
    _from_environment(app, os.environ)
    if test_config:
        app.config.update(test_config)
    instance = Path(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'forum.db'}"
    if not app.config.get("SEARCH_INDEX_DIR"):
        app.config["SEARCH_INDEX_DIR"] = str(instance / "search-index")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)


def _from_environment(app: Flask, environ) -> None:
    """Apply ``FORUM_*`` variables (``FORUM_A__B`` sets ``config["A"]["B"]``, as Flask's
    ``from_prefixed_env`` does), checked as the module docstring says."""
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name == PREFIX + "INSTANCE_PATH":
            continue
        raw = environ[name]
        *parents, key = name.removeprefix(PREFIX).split("__")
        target = app.config
        for part in parents:
            target = target.setdefault(part, {})
        target[key] = parse_value(name, raw, target.get(key))


def parse_value(name: str, raw: str, default):
    """The value of variable ``name``, typed like ``default``; ConfigError when unusable."""
    if re.search(r"\s#", raw):
        raise ConfigError(
            f"{name}={raw!r} holds a comment: systemd and most env-file readers keep an "
            "inline '# ...' as part of the value. Put the comment on its own line."
        )
    word = raw.strip().lower()
    if isinstance(default, bool):
        if word not in BOOLEANS:
            raise ConfigError(f"{name}={raw!r} is not true or false (or yes/no, on/off, 1/0).")
        return BOOLEANS[word]
    if isinstance(default, int) and not isinstance(default, bool):
        if not re.fullmatch(r"-?\d+", word):
            raise ConfigError(f"{name}={raw!r} is not a whole number.")
        return int(word)
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _instance_secret(instance: Path) -> str:
    """Generated once into the instance folder, readable only by its owner."""
    path = instance / "secret_key"
    if not path.exists():
        tmp = instance / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # first writer wins when several workers start at once
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        return path.read_text().strip()
    except PermissionError:
        raise ConfigError(
            f"{path} is not readable by this user (uid {os.getuid()}): was a command run as "
            "root? Give the instance folder back to the service user (chown -R)."
        ) from None
