"""docs/deploy.md, read mechanically: its marked blocks, the env file parsed the way systemd
parses an ``EnvironmentFile``, and the nginx config moved onto loopback ports.

A block the test uses follows a ``<!-- deploy-test: NAME -->`` line in the guide. Only
addresses, ports and paths are rewritten (each rewrite must match, so a guide that changes
shape fails here rather than being tested half-way); every directive is kept as written.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
PLACEHOLDER = re.compile(r"<([a-z ]+)>")


def block(name: str) -> str:
    """The fenced block that follows ``<!-- deploy-test: name -->``."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.findall(
        rf"<!-- deploy-test: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", text, re.S
    )
    assert len(found) == 1, f"docs/deploy.md needs one block marked 'deploy-test: {name}'"
    return found[0]


def fill_placeholders(text: str) -> str:
    """``<secret key>`` -> ``secret-key``: what an operator types instead."""
    return PLACEHOLDER.sub(lambda m: m.group(1).replace(" ", "-"), text)


def systemd_environment(text: str) -> dict[str, str]:
    """Variables as systemd reads an EnvironmentFile: ``#`` or ``;`` starts a comment only
    at the start of a line; quotes ('...' literal, "..." with backslash escapes) may
    appear anywhere in a value; unquoted trailing whitespace is dropped; a backslash at the
    end of a line continues it. An inline ``# ...`` stays part of the value."""
    env: dict[str, str] = {}
    for line in re.sub(r"\\\n", "", text).splitlines():
        line = line.lstrip()
        if not line or line[0] in "#;":
            continue
        key, sep, raw = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        env[key.strip()] = _value(raw.lstrip())
    return env


def _value(raw: str) -> str:
    out: list[str] = []
    quote, keep, i = None, 0, 0  # keep: length left once unquoted trailing spaces go
    while i < len(raw):
        ch = raw[i]
        i += 1
        if quote == "'" and ch != "'":
            out.append(ch)
            keep = len(out)
            continue
        if ch == quote:
            quote, keep = None, len(out)
            continue
        if quote is None and ch in "'\"":
            quote = ch
            continue
        if ch == "\\" and i < len(raw) and (quote is None or raw[i] in '"\\`$'):
            ch = raw[i]
            i += 1
        elif quote is None and ch.isspace():
            out.append(ch)
            continue
        out.append(ch)
        keep = len(out)
    return "".join(out[:keep])


def rewrite(text: str, *pairs: tuple[str, str]) -> str:
    """Replace each regex with its replacement; every one must match."""
    for pattern, replacement in pairs:
        text, n = re.subn(pattern, replacement, text)
        assert n, f"docs/deploy.md no longer has {pattern!r}"
    return text


def nginx_site(tmp: Path, ports: dict[str, int], cert: Path, key: Path) -> str:
    """The guide's site config on 127.0.0.1: its two upstream servers, plain and TLS ports."""
    return rewrite(
        block("nginx"),
        (r"server 10\.0\.0\.11:8000", f"server 127.0.0.1:{ports['app1']}"),
        (r"server 10\.0\.0\.12:8000", f"server 127.0.0.1:{ports['app2']}"),
        (r"listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        (r"/etc/letsencrypt/live/forum\.example\.org/fullchain\.pem", str(cert)),
        (r"/etc/letsencrypt/live/forum\.example\.org/privkey\.pem", str(key)),
        (r"/var/log/nginx/forum\.access\.log", str(tmp / "forum.access.log")),
        (r"/srv/forum/app/static/", f"{ROOT / 'static'}/"),
        (r"allow 10\.0\.0\.0/24;", "allow 127.0.0.1;"),
    )


def nginx_main(tmp: Path, site: str) -> str:
    """Debian's nginx.conf in miniature: the site goes where conf.d/*.conf is included,
    with the pid file, logs and temporary folders in ``tmp``."""
    temps = "\n".join(
        f"  {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"pid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log {tmp / 'access.log'};\n"
        f"{temps}\n{site}\n}}\n"
    )
