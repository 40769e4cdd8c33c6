"""A hidden reply takes no "this helped me" and cannot be what resolved a question; the API
neither shows nor counts either (issue 12 item 6)."""

from __future__ import annotations

from sqlalchemy import func, select, text

from forum.extensions import db
from forum.models import HelpfulVote, Thread
from forum.moderation import service as moderation
from tests import factories as f
from tests.conftest import csrf_from


def _world():
    asker, replier = f.user("asking_ann"), f.user("replying_ray")
    f.user("voting_val")
    mod = f.user("mod_mo", role="moderator")
    thread = f.thread(asker, title="Does the rash fade?", replies=[(replier, "Mine faded.")])
    reply = thread.posts[1]
    moderation.set_post_hidden(mod, reply, True, "off topic")
    return thread, reply


def _post(client, path, data=None, page="/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


def test_voting_on_a_hidden_reply_is_refused_with_a_message(client, auth):
    thread, reply = _world()
    auth.login("voting_val")
    resp = _post(client, f"/posts/{reply.id}/helpful")
    assert resp.status_code == 400
    assert "hidden by the moderators" in resp.get_data(as_text=True)
    undo = _post(client, f"/posts/{reply.id}/helpful", {"undo": "1"})
    assert undo.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(HelpfulVote)) == 0
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).helpful_count == 0


def test_marking_a_hidden_reply_as_resolving_is_refused(client, auth):
    thread, reply = _world()
    auth.login("asking_ann")
    resp = _post(client, f"/t/{thread.id}/resolve", {"post_id": str(reply.id)})
    assert resp.status_code == 400
    assert "hidden by the moderators" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).resolved_post_id is None


def test_the_api_neither_shows_nor_counts_a_hidden_replys_mark_or_votes(client):
    """Rows from before the refusal (a vote and a mark on a now-hidden reply)."""
    thread, reply = _world()
    db.session.execute(text("UPDATE posts SET helpful_count = 3 WHERE id = :i"), {"i": reply.id})
    db.session.execute(
        text("UPDATE threads SET resolved_post_id = :p, helpful_count = 3 WHERE id = :t"),
        {"p": reply.id, "t": thread.id},
    )
    db.session.commit()
    data = client.get(f"/api/v1/threads/{thread.id}").get_json()["data"]
    assert data["resolved_reply_id"] is None and data["resolved"] is False
    assert data["helpful_count"] == 0
    assert [r["id"] for r in data["replies"]] == []
