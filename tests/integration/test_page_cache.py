"""The anonymous page cache: fast for readers, never stale, never shared across sessions."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from forum import create_app
from forum.cache import content_version
from forum.extensions import db
from forum.models import User
from tests import factories


@pytest.fixture
def cached_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "PAGE_CACHE": True,
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def anonymous_get(app, path):
    """A reader without any cookie (a fresh client each time, like a new visitor)."""
    return app.test_client().get(path)


def test_second_anonymous_read_is_served_from_cache(cached_app):
    factories.thread(title="Does aza make anyone else tired?")
    first = anonymous_get(cached_app, "/")
    second = anonymous_get(cached_app, "/")
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Page-Cache"] == "miss"
    assert second.headers["X-Page-Cache"] == "hit"
    assert first.get_data() == second.get_data()


def test_a_new_thread_shows_at_once_after_a_cached_read(cached_app):
    factories.thread(title="First question about TPMT tests")
    anonymous_get(cached_app, "/")
    assert anonymous_get(cached_app, "/").headers["X-Page-Cache"] == "hit"
    factories.thread(title="Second question about blood monitoring")
    page = anonymous_get(cached_app, "/")
    assert "Second question about blood monitoring" in page.get_data(as_text=True)
    assert page.headers["X-Page-Cache"] == "miss"


def test_every_commit_bumps_the_version_and_a_failed_one_does_not(cached_app):
    before = content_version()
    factories.user("version_bumper")
    after = content_version()
    assert int(after) > int(before)
    db.session.add(User(display_name="Version_Bumper", name_key="version_bumper"))
    with pytest.raises(IntegrityError):
        db.session.commit()  # the same name: refused, rolled back with its bump
    db.session.rollback()
    assert content_version() == after


def test_a_reader_with_a_cookie_is_never_served_from_cache(cached_app):
    factories.thread(title="Cookie question")
    anonymous_get(cached_app, "/")
    client = cached_app.test_client()
    client.set_cookie("session", "anything")
    resp = client.get("/")
    assert "X-Page-Cache" not in resp.headers


def test_pages_that_start_a_session_are_never_shared(cached_app):
    """A CSRF token belongs to one visitor: two visitors of the sign-in page get their own."""
    first = anonymous_get(cached_app, "/login")
    second = anonymous_get(cached_app, "/login")
    if first.status_code == 404:
        pytest.skip("no /login page yet")
    assert "X-Page-Cache" not in second.headers
    assert first.get_data() != second.get_data()


def test_an_anonymous_thread_page_sets_no_cookie_and_is_cached(cached_app):
    thread = factories.thread(title="Thread pages for readers")
    first = anonymous_get(cached_app, f"/t/{thread.id}")
    assert first.status_code == 200
    assert "Set-Cookie" not in first.headers
    assert anonymous_get(cached_app, f"/t/{thread.id}").headers["X-Page-Cache"] == "hit"


def test_a_cached_page_keeps_its_security_headers(cached_app):
    factories.thread(title="Headers question")
    first = anonymous_get(cached_app, "/")
    second = anonymous_get(cached_app, "/")
    assert second.headers["X-Page-Cache"] == "hit"
    assert first.headers["Content-Security-Policy"]
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Content-Type"):
        assert second.headers[name] == first.headers[name]
    head = cached_app.test_client().head("/")
    assert head.status_code == 200 and head.get_data() == b""


def test_a_forged_host_header_cannot_poison_the_cache(cached_app):
    thread = factories.thread(title="Canonical links")
    forged = cached_app.test_client().get(f"/t/{thread.id}", headers={"Host": "evil.example"})
    assert "evil.example" in forged.get_data(as_text=True)  # the canonical link
    honest = anonymous_get(cached_app, f"/t/{thread.id}")
    assert "evil.example" not in honest.get_data(as_text=True)
