"""Headers, cookies, safe redirects, body limits, invalid UTF-8 and rate limits."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from werkzeug.routing import IntegerConverter

from forum import create_app
from forum.extensions import db
from forum.security import CSP, StripSearchTerms, safe_next
from tests import factories as f
from tests.conftest import csrf_from

OPEN_REDIRECTS = [
    "//evil.com",
    "///evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "https://evil.com",
    "http:evil.com",
    "https:evil.com",
    "//evil.com/%2F..",
    "/\t/evil.com",
    "/\n/evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    "@evil.com",
    " //evil.com",
    "%2F%2Fevil.com",
    "/%09/evil.com",  # harmless once decoded? kept relative: asserted below as same-site
]


def test_security_headers_on_every_kind_of_response(client):
    for path, status in (("/", 200), ("/no-such-page", 404), ("/api/v1/threads", 200),
                         ("/static/css/forum.css", 200), ("/login", 200)):  # fmt: skip
        resp = client.get(path)
        assert resp.status_code == status, path
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["X-Frame-Options"] == "DENY"


def test_no_inline_script_or_third_party_assets(client, auth):
    f.user("sunny_days")
    auth.login("sunny_days")
    for path in ("/", "/ask", "/account", "/search?q=fever"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "<script " not in html.replace('<script src="/', "")
        assert " on" + "click=" not in html
        for marker in ("googleapis", "gstatic", "cdn.", "analytics", "http://", "https://"):
            for tag in ("<script", "<link", "<img"):
                for chunk in html.split(tag)[1:]:
                    assert marker not in chunk.split(">")[0], (path, marker)


def test_no_store_for_signed_in_people_and_private_pages(client, auth):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    f.user("sunny_days")
    auth.login("sunny_days")
    for path in ("/", "/account", "/account/data", "/ask"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_cookies_httponly_lax_and_secure_over_https(client):
    resp = client.get("/login")
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    https = client.get("/login", base_url="https://forum.example")
    for cookie in https.headers.getlist("Set-Cookie"):
        assert "Secure" in cookie


def test_remember_cookie_is_httponly_and_dies_with_a_password_change(client, auth, app):
    user = f.user("sunny_days")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login",
        data={
            "display_name": "sunny_days",
            "password": f.PASSWORD,
            "remember": "y",
            "csrf_token": token,
        },  # fmt: skip
    )
    remember = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("remember_token")]
    assert remember and "HttpOnly" in remember[0]
    # another device: only the remember-me cookie
    value = remember[0].split(";")[0].split("=", 1)[1]
    other = app.test_client()
    other.set_cookie("remember_token", value)
    assert other.get("/account").status_code == 200
    # the person changes their password on the first device
    token = csrf_from(client.get("/account").get_data(as_text=True))
    changed = client.post(
        "/account/password",
        data={
            "current_password": f.PASSWORD,
            "new_password": "a new long passphrase 42",
            "csrf_token": token,
        },  # fmt: skip
    )
    assert changed.status_code == 302
    assert client.get("/account").status_code == 200  # this device stays signed in
    other2 = app.test_client()
    other2.set_cookie("remember_token", value)
    assert other2.get("/account").status_code in (302, 401)  # the old remember-me is dead
    assert other.get("/account").status_code in (302, 401)  # and the other session too
    assert user.id


@pytest.mark.parametrize("target", OPEN_REDIRECTS[:-1])
def test_safe_next_refuses_open_redirects(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target", ["/", "/t/1/some-title", "/search?q=fever", "/account#x"])
def test_safe_next_keeps_same_site_paths(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_login_never_redirects_off_site(client, target):
    f.user("sunny_days")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login",
        query_string={"next": target},
        data={"display_name": "sunny_days", "password": f.PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith("//"), location
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert "\\" not in location and "javascript" not in location.lower()
    print(f"next={target!r} -> {location}")


def test_oversized_body_gets_a_friendly_413(client, auth):
    f.user("sunny_days")
    auth.login("sunny_days")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    resp = client.post("/ask", data={"csrf_token": token, "body": "x" * (300 * 1024)})
    assert resp.status_code == 413
    assert "shorten" in resp.get_data(as_text=True)
    api = client.post("/api/v1/threads", data=b"{" + b" " * (300 * 1024) + b"}",
                      content_type="application/json")  # fmt: skip
    assert api.status_code == 413
    assert api.is_json and api.get_json()["status"] == 413


def test_invalid_utf8_body_is_a_400_not_a_500(client, auth):
    from forum.models import Thread

    f.user("sunny_days")
    auth.login("sunny_days")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    bodies = [
        b"csrf_token=" + token.encode() + b"&title=%FF%FE&body=ok&conditions=lupus",
        b"csrf_token=" + token.encode() + b"&title=caf\xe9&body=\xc3\x28&conditions=lupus",
    ]
    for raw in bodies:
        resp = client.post("/ask", data=raw, content_type="application/x-www-form-urlencoded")
        assert resp.status_code == 400, raw
    resp = client.post(
        "/api/v1/threads", data=b'{"title": "\xff"}', content_type="application/json"
    )
    assert resp.status_code in (400, 404, 405)
    assert db.session.query(Thread).count() == 0


def test_search_terms_are_stripped_from_dev_server_logs():
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, '%s - - "%s" %s',
        ("127.0.0.1", "GET /search?q=my+bloody+stools HTTP/1.1", "200"), None,
    )  # fmt: skip
    StripSearchTerms().filter(record)
    line = record.getMessage()
    assert "bloody" not in line and "/search?[query removed]" in line
    assert logging.getLogger("werkzeug").filters  # installed by create_app


@pytest.fixture
def limited_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "limited"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "test",
            "RATELIMIT_ENABLED": True,
            "RATE_LIMITS": {
                "login": "3 per minute",
                "search": "5 per minute",
                "posting": "2 per minute",
                "reporting": "2 per minute",
            },  # fmt: skip
            "NEW_ACCOUNT_LIMITS": False,
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_rate_limits_on_login_and_search_with_a_friendly_429(limited_app):
    client = limited_app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    statuses = [
        client.post(
            "/login", data={"display_name": "x", "password": "y", "csrf_token": token}
        ).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [400, 400, 400] and statuses[3:] == [429, 429]
    page = client.post("/login", data={"display_name": "x", "password": "y", "csrf_token": token})
    assert "Please slow down" in page.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # only attempts are limited
    searches = [client.get("/search", query_string={"q": f"fever {n}"}).status_code
                for n in range(7)]  # fmt: skip
    assert 429 in searches and searches[0] == 200
    categories = set(limited_app.extensions["forum_rate_limited"].values())
    assert {"login", "register", "posting", "reporting", "search"} <= categories


def test_rate_limits_on_posting_and_reporting(limited_app):
    from sqlalchemy import func, select

    from forum.models import Post
    from forum.moderation.models import Report

    t = f.thread(title="Limits")
    f.user("sunny_days")
    client = limited_app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"display_name": "sunny_days", "password": f.PASSWORD,
                                "csrf_token": token})  # fmt: skip
    token = csrf_from(client.get(f"/t/{t.id}").get_data(as_text=True))  # new at sign-in
    replies = [
        client.post(f"/t/{t.id}/reply", data={"csrf_token": token, "body": f"reply {n}"})
        for n in range(3)
    ]
    assert [r.status_code for r in replies] == [302, 302, 429]
    assert db.session.scalar(select(func.count()).select_from(Post)) == 3  # question + 2
    post_id = t.posts[0].id
    reports = [
        client.post(f"/posts/{post_id}/report", data={"csrf_token": token, "reason": "spam"})
        for _ in range(3)
    ]
    assert [r.status_code for r in reports] == [302, 302, 429]
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1  # merged


GET_SKIP = {"static", "health.check"}
CONTENT_TABLES = ("users", "threads", "posts", "helpful_votes", "thread_tags", "reports",
                  "moderation_actions", "experience_reports")  # fmt: skip


def test_no_content_changes_on_get(client, auth, app):
    """Every GET route, signed in, leaves threads, posts, accounts and votes untouched."""
    from sqlalchemy import text

    author = f.user("sunny_days")
    t = f.thread(author, title="Get test", replies=[(f.user(), "A reply")])

    def snapshot():
        db.session.expire_all()
        out = []
        for table in CONTENT_TABLES:
            out.append(db.session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all())
        return repr(out)

    auth.login("sunny_days")
    before = snapshot()
    tried = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in GET_SKIP:
            continue
        values = {}
        for name, conv in rule._converters.items():
            if hasattr(conv, "items"):
                values[name] = sorted(conv.items)[0]
            elif isinstance(conv, IntegerConverter):
                values[name] = t.posts[-1].id if "post" in name else t.id
            else:
                values[name] = "lupus"
        url = rule.build(values)[1]
        resp = client.get(url)
        assert resp.status_code < 500, url
        tried += 1
    assert snapshot() == before
    print(f"\nGET routes tried without content change: {tried}")


@pytest.mark.parametrize(
    "path",
    [
        "/t/1/%FF%FE",
        "/search?q=%FF%FE%00",
        "/conditions/%C0%AF",
        "/u/%ED%A0%80",
        "/api/v1/threads?page=%FF",
        "/t/99999999999999999999999",
    ],  # fmt: skip
)
def test_broken_urls_are_not_500(client, path):
    f.thread(title="One")
    assert client.get(path).status_code < 500


@pytest.mark.parametrize(
    "path",
    [
        "/?page=99999999999999999999",
        "/api/v1/threads?page=99999999999999999999&per_page=-5",
        "/search?q=fever&page=99999999999999999999",
        "/moderation/log?page=99999999999999999999",
        "/notifications?page=99999999999999999999",
        "/conditions/lupus?page=-1",
    ],  # fmt: skip
)
def test_huge_page_numbers_are_not_500(client, auth, path):
    f.user("boss", role="admin")
    auth.login("boss")
    assert client.get(path).status_code < 500


def test_two_workers_share_rate_limit_counts_through_redis(tmp_path):
    """Two app instances (as two gunicorn workers) on one Redis count sign-ins together."""
    import os
    import uuid

    url = os.environ.get("FORUM_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("FORUM_TEST_REDIS_URL is not set in CI")
        pytest.skip("FORUM_TEST_REDIS_URL is not set (.ci/services.sh starts a Redis)")
    config = {
        "TESTING": True,
        "LOAD_DEMO_ON_FIRST_START": False,
        "SECRET_KEY": "shared",
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "RATE_LIMITS": {"login": "3 per minute"},
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shared.db'}",
    }
    apps = [create_app({**config, "INSTANCE_PATH": str(tmp_path / f"w{n}")}) for n in (1, 2)]
    statuses = []
    for n in range(4):
        app = apps[n % 2]
        with app.app_context():
            client = app.test_client()
            token = csrf_from(client.get("/login").get_data(as_text=True))
            statuses.append(
                client.post(
                    "/login", data={"display_name": "x", "password": "y", "csrf_token": token}
                ).status_code
            )
            db.session.remove()
    assert statuses == [400, 400, 400, 429]
    for app in apps:
        with app.app_context():
            db.engine.dispose()
