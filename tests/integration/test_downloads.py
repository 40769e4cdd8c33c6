"""Downloads carry a name in any script (issue 12, item 2).

A display name in Cyrillic or Chinese went raw into ``Content-Disposition`` and the
server answered 500 (header values must be Latin-1). Now the header is ASCII: a plain
``filename`` plus RFC 6266 ``filename*`` with the real name.
"""

from __future__ import annotations

import json

import pytest
from werkzeug.http import parse_options_header

from forum.downloads import attachment
from tests import factories as f
from tests.conftest import csrf_from

PASSWORD = "blue kettle morning"


def _sign_in(client, name: str) -> None:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"display_name": name, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def _download(client, name: str):
    response = client.get("/account/data")
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    assert header.isascii(), header  # what a real server (gunicorn) can send at all
    kind, options = parse_options_header(header)
    assert kind == "attachment"
    assert json.loads(response.get_data(as_text=True))["profile"]["display_name"] == name
    return header, options


@pytest.mark.parametrize(
    "name", ["Иван Петров", "小明同学", "José Núñez", "O'Brien Ana", "Ελένη", "محمد علي"]
)
def test_people_with_any_script_can_download_their_data(client, name):
    token = csrf_from(client.get("/register").get_data(as_text=True))
    data = {"display_name": name, "email": "any.script@example.org", "password": PASSWORD}
    assert client.post("/register", data={**data, "csrf_token": token}).status_code == 302
    _sign_in(client, name)

    header, options = _download(client, name)

    wanted = "aza-forum-" + "-".join(name.lower().split()) + "-data.json"
    assert options["filename"] == wanted  # from filename*, as browsers read it
    assert header.startswith('attachment; filename="aza-forum-')


@pytest.mark.parametrize(
    "name", ["Sunny 😀 Days", 'Ann "Q"; filename=x.exe', "Zoë;\\ back\\slash", "ｆｕｌｌ width"]
)
def test_names_from_older_data_cannot_break_the_header(client, name):
    """Imported authors and older accounts may carry quotes, semicolons or emoji."""
    f.user(name, password=PASSWORD)
    _sign_in(client, name)

    header, options = _download(client, name)

    # Exactly the person's own name back, and no parameter a name smuggled in.
    assert options == {"filename": "aza-forum-" + "-".join(name.lower().split()) + "-data.json"}
    assert header.count('filename="') == 1 and header.count("filename*=") == 1


def test_plain_ascii_names_keep_a_single_plain_filename(client):
    f.user("sunny_days", password=PASSWORD)
    _sign_in(client, "sunny_days")
    header, options = _download(client, "sunny_days")
    assert header == 'attachment; filename="aza-forum-sunny_days-data.json"'


@pytest.mark.parametrize(
    ("filename", "plain"),
    [
        ("report-Иван.csv", "report.csv"),
        ("小明.json", "download"),
        ("a\r\nSet-Cookie: x=1.json", "aSet-Cookie-x-1.json"),
        ('q"uote;semi.json', "q-uote-semi.json"),
    ],
)
def test_attachment_header_is_ascii_and_one_line(filename, plain):
    value = attachment(filename)
    assert value.isascii() and "\r" not in value and "\n" not in value
    assert value.startswith(f'attachment; filename="{plain}"; filename*=')
    assert parse_options_header(value)[1]["filename"] == filename.replace("\r\n", "")
