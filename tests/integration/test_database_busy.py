"""A database write lock held past the busy timeout: a clear 503, and nothing half-saved."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select

from forum.extensions import db
from forum.models import Post
from tests import factories
from tests.conftest import csrf_from

pytestmark = pytest.mark.slow  # waits out SQLite's 10 s busy timeout


def test_a_post_during_a_long_write_lock_gets_a_clear_503_and_saves_nothing(app, client, auth):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite:///"):
        pytest.skip("a SQLite write lock")
    asker = factories.user("lock_asker")
    thread = factories.thread(asker, title="Holding the lock")
    factories.user("lock_replier")
    auth.login("lock_replier")
    token = csrf_from(client.get(f"/t/{thread.id}").get_data(as_text=True))
    db.session.remove()

    holder = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        resp = client.post(
            f"/t/{thread.id}/reply",
            data={"body": "Written while locked", "csrf_token": token, "submit": "Post reply"},
        )
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert "Nothing was changed" in resp.get_data(as_text=True)
    assert ">Written while locked</textarea>" in resp.get_data(as_text=True)  # shown back
    stored = db.session.scalar(select(func.count()).where(Post.body == "Written while locked"))
    assert stored == 0

    again = client.post(
        f"/t/{thread.id}/reply",
        data={"body": "Written after the lock", "csrf_token": token, "submit": "Post reply"},
    )
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).where(Post.body == "Written after the lock")) == 1
