"""Download my data, delete my account, and emails shown to nobody but their owner."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from forum.extensions import db
from forum.models import HelpfulVote, Post, SearchChange, Thread, User
from forum.threads import service as threads
from tests import factories as f
from tests.conftest import csrf_from


def _vote_setup():
    leaving = f.user("leaving_lou", email="lou.private@example.net")
    stay = f.user("staying_sam", email="sam.private@example.net")
    third = f.user("third_tia")
    own = f.thread(
        leaving,
        title="Zebrafinch question about nausea",
        body="My own question mentions quokkaword.",
        replies=[(stay, "Sam answers the question")],
    )
    other = f.thread(
        stay,
        title="Sam asks about hair",
        replies=[(leaving, "Lou says wombatword"), (third, "Tia replies")],
    )
    tia_reply = other.posts[2]
    threads.mark_helpful(leaving, tia_reply)
    threads.mark_helpful(stay, other.posts[1])
    return leaving, stay, own, other, tia_reply


def test_download_my_data_has_everything_mine_and_nobody_elses_email(client, auth):
    leaving, stay, own, other, tia_reply = _vote_setup()
    auth.login("leaving_lou")
    resp = client.get("/account/data")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    data = json.loads(resp.get_data(as_text=True))
    assert data["profile"]["email"] == "lou.private@example.net"
    assert [t["title"] for t in data["threads"]] == ["Zebrafinch question about nausea"]
    assert data["threads"][0]["body"] == "My own question mentions quokkaword."
    assert data["threads"][0]["conditions"]  # the import format
    assert [r["body"] for r in data["replies"]] == ["Lou says wombatword"]
    assert [v["post_id"] for v in data["helpful_votes"]] == [tia_reply.id]
    assert "sam.private@example.net" not in resp.get_data(as_text=True)
    client.get("/logout")
    auth.logout()
    assert client.get("/account/data").status_code in (302, 401)


def test_emails_appear_only_on_the_owners_account_page(client, auth):
    leaving, stay, own, other, _ = _vote_setup()
    pages = ["/", f"/t/{own.id}", f"/t/{other.id}", "/u/leaving_lou", "/api/v1/threads",
             f"/api/v1/threads/{own.id}", "/feeds/latest.atom", "/search?q=nausea",
             "/api/v1/search?q=nausea", "/reports", "/reports.csv", "/api/v1/stats",
             "/following", "/notifications"]  # fmt: skip
    auth.login("staying_sam")
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "lou.private@example.net" not in html, path
    from forum import search
    from forum.search.service import search as run_search

    search.apply_now()
    # Emails are not indexed: the words only an address contains find nothing (the
    # name part, "lou", is a word of Lou's reply, so it would match for that reason).
    assert run_search('"lou private example net"').total == 0
    assert run_search("private example").total == 0
    account = client.get("/account").get_data(as_text=True)
    assert "sam.private@example.net" in account
    assert "lou.private@example.net" not in account


def _delete(client, mode, password="correct horse battery", confirm="yes"):
    token = csrf_from(client.get("/account/delete").get_data(as_text=True))
    return client.post(
        "/account/delete",
        data={"csrf_token": token, "mode": mode, "password": password, "confirm": confirm},
    )


def test_wrong_password_changes_nothing(client, auth):
    leaving, *_ = _vote_setup()
    auth.login("leaving_lou")
    resp = _delete(client, "erase", password="not my password")
    assert resp.status_code == 400
    assert "password" in resp.get_data(as_text=True).lower()
    resp = _delete(client, "", password="correct horse battery")
    assert resp.status_code == 400
    db.session.expire_all()
    assert User.by_name("leaving_lou") is not None
    assert db.session.scalar(select(func.count()).select_from(HelpfulVote)) == 2


def test_delete_keeping_replies_leaves_them_as_a_former_member(client, auth):
    leaving, stay, own, other, tia_reply = _vote_setup()
    uid = leaving.id
    before = db.session.scalar(select(func.max(SearchChange.id)))
    auth.login("leaving_lou")
    resp = _delete(client, "keep")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, uid) is None
    assert db.session.scalar(select(func.count()).select_from(User).where(
        User.email == "lou.private@example.net")) == 0  # fmt: skip
    # their vote is gone and the helpful counts are recounted
    assert db.session.scalar(select(HelpfulVote).where(HelpfulVote.user_id == uid)) is None
    assert db.session.get(Post, tia_reply.id).helpful_count == 0
    assert db.session.get(Thread, other.id).helpful_count == 1  # Sam's vote on Lou's reply
    # their words remain, anonymously
    kept = db.session.get(Thread, own.id)
    assert kept is not None and kept.author_id is None
    html = client.get(f"/t/{other.id}").get_data(as_text=True)
    assert "Lou says wombatword" in html and "a former member" in html
    assert "leaving_lou" not in html
    changed = set(
        db.session.scalars(select(SearchChange.thread_id).where(SearchChange.id > before))
    )
    assert {own.id, other.id} <= changed
    # signed out; the account cannot sign in again
    assert client.get("/account").status_code in (302, 401)
    assert "did not match" in auth.login("leaving_lou").get_data(as_text=True)


def test_delete_erasing_posts_removes_them_and_their_words_from_search(client, auth, app):
    from forum import search
    from forum.search.service import search as run_search

    leaving, stay, own, other, tia_reply = _vote_setup()
    search.apply_now()
    assert run_search("quokkaword").total == 1
    assert run_search("wombatword").total == 1
    auth.login("leaving_lou")
    resp = _delete(client, "erase")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Thread, own.id) is None  # their question, with its thread
    assert db.session.scalar(select(func.count()).select_from(Post).where(
        Post.body.contains("wombatword"))) == 0  # fmt: skip
    remaining = db.session.get(Thread, other.id)
    assert remaining.reply_count == 1
    assert remaining.helpful_count == 0
    assert run_search("quokkaword").total == 0
    assert run_search("wombatword").total == 0
    # optimised: the words are not left behind in any index file
    index_dir = Path(app.config["SEARCH_INDEX_DIR"])
    for path in index_dir.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert b"wombatword" not in raw and b"quokkaword" not in raw, path
    page = client.get("/search?q=wombatword").get_data(as_text=True)
    assert f"/t/{other.id}" not in page and "Lou says" not in page


def test_experience_reports_are_downloaded_and_deleted_with_the_account(client, auth):
    from forum.experiences import service as experiences
    from forum.experiences.models import ExperienceReport, ExperienceRevision

    lou = f.user("leaving_lou")
    experiences.save_report(
        lou,
        "lupus",
        {"dose_mg_per_day": 100, "weight_kg": 61, "steps": [], "side_effects": []},
        confirmed=True,
    )
    auth.login("leaving_lou")
    data = json.loads(client.get("/account/data").get_data(as_text=True))
    assert data["experience_reports"][0]["condition"] == "lupus"
    assert data["experience_reports"][0]["weight_kg"] == 61  # private, but it is theirs
    assert "notification_settings" in data
    assert _delete(client, "keep").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ExperienceReport)) == 0
    assert db.session.scalar(select(func.count()).select_from(ExperienceRevision)) == 0
