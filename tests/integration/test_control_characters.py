"""Control characters typed by one member never reach storage or break a feed for everyone
(issue 12 item 3): web forms, the importer and rows stored before the fix."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from sqlalchemy import select, text

from forum.cleaning import has_controls, strip_controls
from forum.extensions import db
from forum.models import Post, Thread
from forum.moderation.models import Report
from tests import factories as f
from tests.conftest import csrf_from

# C0 (NUL, SOH, VT, FF, ESC), DEL, C1 (NEL, CSI), noncharacters, a lone surrogate
NASTY = "\x00\x01\x0b\x0c\x1b\x7f\x85\x9b\ufffe\uffff\U0010ffff\ud800"
WEB = NASTY[:-1]  # a form cannot carry a lone surrogate (UTF-8 has no bytes for it)
FEEDS = (
    "/feeds/latest.atom",
    "/feeds/conditions/lupus.atom",
    "/feeds/side-effects/rash.atom",
    "/feeds/medications/azathioprine.atom",
    "/feeds/search.atom?q=blotchy",
)


def _post(client, path, data, page=None):
    token = csrf_from(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def _every_feed_parses(client) -> list[ET.Element]:
    roots = []
    for path in FEEDS:
        resp = client.get(path)
        assert resp.status_code == 200, path
        roots.append(ET.fromstring(resp.data))  # raises on any XML-invalid character
    return roots


def _stored_texts() -> list[str]:
    db.session.expire_all()
    found = list(db.session.scalars(select(Thread.title)))
    for post in db.session.scalars(select(Post)):
        found += [post.body, post.body_html]
    for report in db.session.scalars(select(Report)):
        found += [report.note or ""]
    return found


def test_unit_strip_controls_keeps_tabs_newlines_and_real_text():
    assert strip_controls("a\tb\nc\r\n" + NASTY + "é 🙂 中") == "a\tb\nc\r\né 🙂 中"
    assert not has_controls(strip_controls(NASTY * 3))


def test_controls_typed_into_the_web_forms_are_stripped_and_feeds_stay_valid(client, auth):
    f.user("typist")
    reader = f.user("reader")
    auth.login("typist")
    resp = _post(
        client,
        "/ask",
        {
            "title": f"Blotchy{WEB} rash after starting",
            "body": f"Red{WEB} patches on my arms.\n\nSecond paragraph.",
            "conditions": ["lupus"],
            "side_effects": ["rash"],
            "medications": ["azathioprine"],
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    thread = db.session.scalar(select(Thread))
    assert thread.title == "Blotchy rash after starting"
    _post(client, f"/t/{thread.id}/reply", {"body": f"Mine{WEB} went away."}, f"/t/{thread.id}")
    auth.logout()
    auth.login("reader")
    question = thread.question
    resp = _post(
        client,
        f"/posts/{question.id}/report",
        {"reason": "spam", "note": f"Looks{WEB} odd"},
    )
    assert resp.status_code in (200, 302)
    assert reader.id
    texts = _stored_texts()
    assert len(texts) >= 5
    assert not [t for t in texts if has_controls(t)]
    assert any("Mine went away." in t for t in texts)
    roots = _every_feed_parses(client)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert "Blotchy rash after starting" in [e.text for e in roots[0].iterfind(".//a:title", ns)]


def test_controls_in_an_imported_line_are_stripped_and_feeds_stay_valid(client, runner, tmp_path):
    line = {
        "title": f"Blotchy{NASTY} rash on my shins",
        "body": f"Started 50 mg{NASTY} last month.",
        "author": "importer_kay",
        "conditions": ["lupus"],
        "side_effects": ["rash"],
        "medications": ["azathioprine"],
        "replies": [{"author": "importer_lee", "body": f"Same{NASTY} here."}],
        "experience": {
            "outcome": "stopped",
            "stop_reason": "other",
            "stop_reason_other": f"Itchy{NASTY} skin",
        },  # fmt: skip
    }
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = runner.invoke(args=["forum", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Thread.title)) == "Blotchy rash on my shins"
    assert not [t for t in _stored_texts() if has_controls(t)]
    reason = db.session.execute(text("SELECT stop_reason_other FROM experience_reports")).scalar()
    assert reason == "Itchy skin"
    _every_feed_parses(client)


def test_a_row_stored_before_the_fix_does_not_break_the_feeds(client):
    """Rows written before stripping existed (or by raw SQL): the feeds strip as they write."""
    thread = f.thread(title="Blotchy rash, older row", side_effects=["rash"])
    db.session.execute(
        text("UPDATE threads SET title = :t WHERE id = :i"),
        {"t": "Blotchy\x01\x1b rash, older row", "i": thread.id},
    )
    db.session.execute(
        text("UPDATE posts SET body_html = :b WHERE id = :i"),
        {"b": "<p>old\x0b\x7f text</p>", "i": thread.question.id},
    )
    db.session.commit()
    roots = _every_feed_parses(client)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert "Blotchy rash, older row" in [e.text for e in roots[0].iterfind(".//a:title", ns)]


def test_the_flush_guard_strips_any_text_column(app):
    """A service that forgets to strip still cannot store a control character."""
    user = f.user("guarded")
    thread = f.thread(user, title="Plain title")
    thread.title = "Plain\x07 title\x9b again"
    user.display_name = "guarded\x01"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).title == "Plain title again"
    assert db.session.scalar(
        text("SELECT display_name FROM users WHERE id = :i"), {"i": user.id}
    ) == ("guarded")
