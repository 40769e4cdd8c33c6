"""The demo content: loaded on first start, once, through the real importer."""

from __future__ import annotations

import json
import re
from importlib import resources

from sqlalchemy import func, select

from forum import create_app
from forum.demo import load_demo
from forum.extensions import db
from forum.models import HelpfulVote, Thread, ThreadTag, User
from forum.threads import service


def demo_lines() -> list[dict]:
    text = resources.files("forum.demo").joinpath("threads.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def counts() -> tuple[int, int]:
    threads = db.session.scalar(select(func.count()).select_from(Thread))
    conditions = db.session.scalar(
        select(func.count(func.distinct(ThreadTag.slug))).where(ThreadTag.kind == "condition")
    )
    return threads, conditions


def test_demo_command_loads_threads_across_conditions_and_is_idempotent(runner):
    result = runner.invoke(args=["forum", "demo"])
    assert result.exit_code == 0, result.output
    threads, conditions = counts()
    assert threads >= 45 and conditions >= 10
    votes = db.session.scalar(select(func.count()).select_from(HelpfulVote))
    assert votes > 0

    again = runner.invoke(args=["forum", "demo"])
    assert again.exit_code == 0
    assert f"{threads} already present" in again.output
    assert counts() == (threads, conditions)
    assert db.session.scalar(select(func.count()).select_from(HelpfulVote)) == votes


def test_demo_threads_mostly_have_replies_and_some_are_unanswered(app):
    items = demo_lines()
    replies = [len(item["replies"]) for item in items]
    assert sum(2 <= n <= 5 for n in replies) >= len(items) * 0.6
    assert 1 <= replies.count(0) <= 6
    years = {item["created"][:4] for item in items}
    assert {"2023", "2024", "2025", "2026"} <= years


def test_demo_imports_cleanly_with_every_tag_mapped(app):
    report = load_demo()
    assert report.skipped == [] and report.warnings == []
    assert report.imported == len(demo_lines())


def test_demo_members_cannot_log_in_and_most_helpful_tab_has_content(app, client, auth):
    load_demo()
    kate = User.by_name("hedgerow_kate")
    assert kate.password_hash is None and kate.email is None
    for password in ("", "hedgerow_kate", "password1"):
        auth.login("hedgerow_kate", password)
        assert 'action="/logout"' not in client.get("/").get_data(as_text=True)
    helpful = db.session.scalars(
        select(Thread).where(Thread.helpful_count > 0).order_by(Thread.helpful_count.desc())
    ).all()
    assert len(helpful) >= 10
    resolved = db.session.scalars(select(Thread).where(Thread.resolved_post_id.is_not(None)))
    assert len(resolved.all()) >= 5
    page = client.get("/?tab=helpful").get_data(as_text=True)
    assert helpful[0].title.replace("'", "&#39;") in page


def test_first_start_loads_the_demo_once_and_keeps_what_users_wrote(tmp_path):
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "x",
        "LOAD_DEMO_ON_FIRST_START": True,
        "RATELIMIT_ENABLED": False,
    }
    first = create_app(config)
    # The demo is loaded as one bulk import: the search index must have caught up at its end.
    page = first.test_client().get("/search?q=allopurinol").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", page)  # matched words are highlighted
    assert "Gout flare - told allopurinol needs checking because of aza?" in text
    with first.app_context():
        loaded, _ = counts()
        assert loaded == len(demo_lines())
        # An erased account takes its thread with it: a later start must not bring it back.
        erased = db.session.scalars(select(Thread).order_by(Thread.id)).first()
        erased_title = erased.title
        db.session.delete(erased)
        member = User(display_name="new_here", name_key="new_here", email="n@example.org")
        member.set_password("a long enough password")
        db.session.add(member)
        db.session.commit()
        mine, _ = service.create_thread(member, "My own question", "Text.", ["lupus"])
        mine_id = mine.id
        db.session.remove()
        db.engine.dispose()

    second = create_app(config)
    with second.app_context():
        assert counts()[0] == loaded
        assert db.session.get(Thread, mine_id).title == "My own question"
        assert db.session.scalar(select(Thread).where(Thread.title == erased_title)) is None
        db.session.remove()
        db.engine.dispose()
