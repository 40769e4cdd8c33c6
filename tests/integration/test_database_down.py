"""The database going away: a 503 with Retry-After and a true message, never a 500, and
the text a member was sending shown back to them with a way to send it again.

PostgreSQL (marked ``postgres``): a real server reached through a link the test cuts
for a while (tests/outage.py), as when the server stops. SQLite: the database file
cannot be opened (its folder is moved away) for a while.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from forum import create_app
from forum.extensions import db
from forum.models import Post
from tests import factories, pgtools
from tests.conftest import csrf_from
from tests.outage import CuttableLink

DOWN = "cannot reach its database"
NOT_POSTED = "Nothing was posted."


def _app(tmp_path, database_uri: str):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": False,
            "NEW_ACCOUNT_LIMITS": False,
            "SQLALCHEMY_DATABASE_URI": database_uri,
        }
    )


def _signed_in_on_a_thread(app):
    """A member signed in with a thread page open: (client, thread id, its CSRF token,
    the id of its first post)."""
    asker = factories.user("outage_asker")
    thread = factories.thread(asker, title="Taking it with food")
    factories.user("outage_replier")
    db.session.commit()
    thread_id = thread.id
    first_post = db.session.scalar(select(func.min(Post.id)).where(Post.thread_id == thread_id))
    db.session.remove()
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"display_name": "outage_replier", "password": factories.PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    token = csrf_from(client.get(f"/t/{thread_id}").get_data(as_text=True))
    return client, thread_id, token, first_post


def _during_the_outage(client, thread_id: int, token: str, first_post: int) -> None:
    for path in ("/", f"/t/{thread_id}", "/search?q=food", "/api/v1/threads"):
        resp = client.get(path)
        assert resp.status_code == 503, path
        assert resp.headers["Retry-After"] == "30", path
        assert DOWN in resp.get_data(as_text=True), path
    search = client.get("/search?q=food").get_data(as_text=True)
    assert "rebuilt" not in search  # the index is fine: the database is what is down
    typed = "Split the dose: half with breakfast,\nhalf with dinner <helped me>."
    form = {"body": typed, "csrf_token": token, "submit": "Post reply"}
    resp = client.post(f"/t/{thread_id}/reply", data=form)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
    assert NOT_POSTED in page and DOWN in page
    # The typed text is in a form that posts it again to the same address.
    assert f'action="/t/{thread_id}/reply"' in page
    shown = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert shown and shown.group(1) == typed.replace("<", "&lt;").replace(">", "&gt;")
    assert re.search(r'<label for="unsaved-\d+">', page)
    # A new question: title and text shown again, the ticked conditions kept.
    form = MultiDict([("title", "Does it help to take it at night?"), ("csrf_token", token),
                      ("body", "Asking for myself."), ("conditions", "lupus")])  # fmt: skip
    page = client.post("/ask", data=form).get_data(as_text=True)
    assert NOT_POSTED in page and 'value="Does it help to take it at night?"' in page
    assert ">Asking for myself.</textarea>" in page
    assert '<input type="hidden" name="conditions" value="lupus">' in page
    # A report: the chosen reason kept, the note shown again.
    form = {"reason": "spam", "note": "Selling pills in every reply.", "csrf_token": token}
    page = client.post(f"/posts/{first_post}/report", data=form).get_data(as_text=True)
    assert NOT_POSTED in page and ">Selling pills in every reply.</textarea>" in page
    assert '<input type="hidden" name="reason" value="spam">' in page


def _after_the_outage(app, client, thread_id: int) -> None:
    assert client.get(f"/t/{thread_id}").status_code == 200
    resent = client.get(f"/t/{thread_id}")  # fresh token, as the shown-again form has
    form = {"body": "Sent again once the forum was back.", "submit": "Post reply",
            "csrf_token": csrf_from(resent.get_data(as_text=True))}  # fmt: skip
    assert client.post(f"/t/{thread_id}/reply", data=form).status_code == 302
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Post).where(
            Post.thread_id == thread_id, Post.body.like("Split the dose%")))  # fmt: skip
        assert stored == 0  # nothing half-saved from the outage
        assert db.session.scalar(select(func.count()).where(Post.thread_id == thread_id)) == 2
        db.session.remove()


@pytest.mark.postgres
def test_postgresql_down_for_a_while(tmp_path, postgres_url):
    from sqlalchemy.engine import make_url

    with pgtools.migrated_database(postgres_url) as own:
        target = make_url(own)
        link = CuttableLink(target.host, target.port or 5432).restore()
        app = _app(tmp_path, link.url_for(own))
        try:
            with app.app_context():
                client, thread_id, token, first_post = _signed_in_on_a_thread(app)
                link.cut()
                _during_the_outage(client, thread_id, token, first_post)
                link.restore()
                _after_the_outage(app, client, thread_id)
        finally:
            link.cut()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def test_sqlite_file_unavailable_for_a_while(tmp_path, database_url):
    if database_url:
        pytest.skip("the SQLite pass covers this; test_postgresql_down_for_a_while the other")
    folder = tmp_path / "data"
    folder.mkdir()
    app = _app(tmp_path, f"sqlite:///{folder / 'forum.db'}")
    try:
        with app.app_context():
            client, thread_id, token, first_post = _signed_in_on_a_thread(app)
            db.session.remove()
            db.engine.dispose()
            folder.rename(tmp_path / "moved-away")
            try:
                _during_the_outage(client, thread_id, token, first_post)
            finally:
                (tmp_path / "moved-away").rename(folder)
            _after_the_outage(app, client, thread_id)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_api_answers_json_503_while_the_database_is_down(tmp_path, database_url):
    if database_url:
        pytest.skip("the SQLite pass covers this")
    folder = tmp_path / "data"
    folder.mkdir()
    app = _app(tmp_path, f"sqlite:///{folder / 'forum.db'}")
    try:
        with app.app_context():
            db.engine.dispose()
            folder.rename(tmp_path / "moved-away")
            resp = app.test_client().get("/api/v1/threads")
            (tmp_path / "moved-away").rename(folder)
            assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
            assert resp.get_json()["error"] == "down" and DOWN in resp.get_json()["message"]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
