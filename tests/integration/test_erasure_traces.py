"""Erasure leaves no text of the member anywhere a person or a file can read it (issue 12
item 4): the moderation queue and audit log, the search index (results, suggestions,
snippets) and, on SQLite, the database file, its WAL and its free pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from forum.experiences import service as experiences
from forum.extensions import db
from forum.moderation import service as moderation
from forum.moderation.models import ModerationAction
from forum.threads import service as threads
from tests import factories as f
from tests.conftest import csrf_from

WORD = "zorblatquine"  # in no dictionary, vocabulary or other test
NAME = "quillfeather_eve"


def _member_who_wrote_everywhere():
    eve, other = f.user(NAME), f.user("steady_sam")
    mod = f.user("mod_maud", role="moderator")
    own = f.thread(eve, title=f"Does {WORD} rash fade?", body=f"My {WORD} patches itch.")
    elsewhere = f.thread(other, title="Tired on week six", replies=[(other, "Same here.")])
    reply = threads.add_reply(eve, elsewhere, f"The {WORD} fog lifted for me.")
    moderation.report_post(eve, elsewhere.posts[1], "spam", f"Looks like {WORD} spam")
    data = {"outcome": "stopped", "stop_reason": "other", "stop_reason_other": f"{WORD} itch",
            "steps": [], "side_effects": []}  # fmt: skip
    experiences.save_report(eve, "lupus", data, confirmed=True)
    # The audit log quotes her name and her thread title in labels and reasons.
    moderation.set_post_hidden(mod, reply, True, f"{NAME} wrote {WORD} again")
    moderation.set_post_hidden(mod, reply, False)
    moderation.set_thread_locked(mod, own, True, f"{WORD} thread is locked")
    moderation.set_suspended(mod, eve, True, f"{NAME} warned")
    moderation.set_suspended(mod, eve, False)
    return eve, own


def _login(client, name):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"display_name": name, "password": f.PASSWORD, "csrf_token": token})


def _erase(client, mode="erase"):
    _login(client, NAME)
    token = csrf_from(client.get("/account/delete").get_data(as_text=True))
    form = {"csrf_token": token, "mode": mode, "password": f.PASSWORD, "confirm": "yes"}
    assert client.post("/account/delete", data=form).status_code == 302  # signed out too


def _seen_by_a_moderator(client) -> str:
    """What a moderator reads: queue, audit log, lists, feeds, and search results, snippets
    and spelling suggestions (for near-misses of the word, so the query is not echoed)."""
    _login(client, "mod_maud")
    pages = ["/moderation", "/moderation/log", "/", "/feeds/latest.atom",
             f"/search?q={WORD[:-1]}", "/search?q=zorbaltquine", "/search?q=rash"]  # fmt: skip
    seen = [client.get(p).get_data(as_text=True) for p in pages]
    for q in (WORD, "rash", "fog"):
        found = client.get("/api/v1/search", query_string={"q": q}).get_json()
        seen.append(json.dumps([found["results"], found["suggestion"]]))
    return "\n".join(seen).lower()


def test_before_erasure_the_word_is_everywhere_the_probe_looks(client):
    """The check below is meaningful: the word and name are on these pages beforehand."""
    _member_who_wrote_everywhere()
    seen = _seen_by_a_moderator(client)
    assert WORD in seen and NAME in seen


def test_erasure_leaves_no_words_on_moderation_pages_or_search(client):
    _member_who_wrote_everywhere()
    _erase(client)
    seen = _seen_by_a_moderator(client)
    assert WORD not in seen and NAME not in seen
    # The facts stay: who did what, when, to which id.
    actions = db.session.scalars(select(ModerationAction)).all()
    assert {a.action for a in actions} >= {"hide_post", "lock", "suspend"}
    assert any(a.target_label.startswith("account ") for a in actions)
    for a in actions:
        assert WORD not in (a.target_label + a.reason).lower()
        assert NAME not in (a.target_label + a.reason).lower()


def test_erasure_leaves_no_words_in_the_database_files_or_index(app, client):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the file check is for the embedded SQLite database")
    _member_who_wrote_everywhere()
    _seen_by_a_moderator(client)  # the index has the word, pages were cached
    instance = Path(app.instance_path)
    assert any(WORD.encode() in p.read_bytes().lower() for p in instance.rglob("*") if p.is_file())
    _erase(client)
    _seen_by_a_moderator(client)
    leaks = [
        str(p.relative_to(instance))
        for p in instance.rglob("*")
        if p.is_file()
        and (WORD.encode() in (data := p.read_bytes().lower()) or NAME.encode() in data)
    ]
    assert leaks == []
    wal = instance / "forum.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0 or WORD.encode() not in wal.read_bytes()


def test_keeping_the_replies_still_removes_the_name_and_the_report_note(client):
    """Mode "keep": the posts stay (by "a former member"); the name, the report note and
    the experience report go, and the audit log keeps its rows without the name."""
    from forum.moderation.models import Report

    _member_who_wrote_everywhere()
    _erase(client, mode="keep")
    seen = _seen_by_a_moderator(client)
    assert NAME not in seen
    assert f"the {WORD} fog lifted for me." in seen or WORD in seen  # the kept reply
    assert [r.note for r in db.session.scalars(select(Report))] == [""]
    labels = [a.target_label + a.reason for a in db.session.scalars(select(ModerationAction))]
    assert labels and not [x for x in labels if NAME in x.lower()]
