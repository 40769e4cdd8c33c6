"""The bad-input suite: hostile markup, forged requests, the wrong people, odd searches,
oversized and broken bodies. Nothing may give a 500, and nothing refused may change data.

Counts (printed with -s, listed in the note): XSS payloads x {title, body, tags}, every
unsafe route x {no token, wrong token, oversized body, invalid UTF-8}, the authorisation
matrix, search torture strings x {/search, /api/v1/search, /feeds/search.atom}.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from html import unescape
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, text
from werkzeug.routing import IntegerConverter

from forum import create_app
from forum.extensions import db
from forum.models import Post, Thread, User
from tests import factories as f
from tests.conftest import csrf_from

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<base href="//evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>alert(1)//<</script>",
    "<img src=x:alert(1) onerror=eval(src)>",
    '<video><source onerror="alert(1)"></video>',
    "<audio src=x onerror=alert(1)>",
    "<style>@import 'javascript:alert(1)';</style>",
    '<link rel=stylesheet href="javascript:alert(1)">',
    '<p onclick="alert(1)">click me</p>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    "<img src=`javascript:alert(1)`>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "{{ 7*7 }}<script>alert(1)</script>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "javascript:alert(1)",
]

SEARCH_TORTURE = [
    "",
    " ",
    "\x00",
    "a" * 5000,
    '"',
    '"unterminated phrase',
    "((((fever",
    "AND OR NOT",
    "*",
    "?",
    "title:",
    "fever~2",
    "fever^999",
    "[a TO z]",
    "\\",
    "%",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "🙂🙂🙂",
    "\u202eevil",
    "café naïve",
    "a:b:c:d",
    "NOT NOT NOT",
    "-",
    "fever " * 200,
]

DANGEROUS_TAGS = {"iframe", "object", "embed", "base", "frame", "frameset", "applet", "svg", "math"}
URL_ATTRS = {"href", "src", "action", "formaction", "data", "xlink:href", "srcdoc", "poster"}
_OWN_SCRIPT = re.compile(r"^/static/js/[\w.-]+\.js$")


class _Inspector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not _OWN_SCRIPT.match(attrs.get("src") or ""):
            self.problems.append(f"script tag {attrs}")
        if tag in DANGEROUS_TAGS and not (tag == "svg" and attrs.get("class") == "avatar"):
            self.problems.append(f"<{tag}>")  # the site's own avatars are allowed
        if tag == "meta" and "refresh" in (attrs.get("http-equiv") or "").lower():
            self.problems.append("meta refresh")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name in URL_ATTRS or name == "style":
                squeezed = re.sub(r"[\s\x00-\x1f]", "", unescape(value or "")).lower()
                for bad in ("javascript:", "vbscript:", "data:text", "expression("):
                    if bad in squeezed:
                        self.problems.append(f"{tag} {name}={value!r}")

    handle_startendtag = handle_starttag


def assert_inert(html: str) -> None:
    """No script runs from this page: no foreign script, handler or javascript: URL."""
    inspector = _Inspector()
    inspector.feed(html)
    assert not inspector.problems, inspector.problems
    # Escaped text ("&lt;img onerror=...") is harmless; raw markup is not.
    assert not re.search(r"<[a-z][^<>]*\sonerror\s*=", html, re.IGNORECASE)
    assert not re.search(r'<script(?![^>]*src="/static/js/)', html, re.IGNORECASE)
    assert not re.search(r"""<[a-z][^<>]*\shref\s*=\s*["']?\s*javascript:""", html, re.I)


def _snapshot() -> str:
    """A digest of every row of every table: equal digests mean nothing changed."""
    digest = hashlib.sha256()
    db.session.expire_all()
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        digest.update(table.name.encode())
        digest.update(repr(sorted(map(repr, rows))).encode())
    extra = db.session.execute(text("SELECT key, value FROM settings ORDER BY key")).all()
    digest.update(repr(extra).encode())
    return digest.hexdigest()


def _token(client, path="/") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


# --- one app for the read-mostly parts ---------------------------------------------------


@pytest.fixture(scope="module")
def env():
    tmp = tempfile.mkdtemp(prefix="bad-input-")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp,
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "bad-input",
            "RATELIMIT_ENABLED": False,
            "NEW_ACCOUNT_LIMITS": False,
        }
    )
    with app.app_context():
        writer = f.user("xss_writer")
        f.user("csrf_member")
        mod = f.user("csrf_mod", role="moderator")
        thread = f.thread(writer, title="Target thread", replies=[(mod, "A reply")])
        client = app.test_client()
        client.post(
            "/login",
            data={
                "display_name": "xss_writer",
                "password": f.PASSWORD,
                "csrf_token": _token(client, "/login"),
            },  # fmt: skip
        )
        yield {"app": app, "client": client, "thread": thread}
        db.session.remove()
        db.engine.dispose()


def _ask(client, title, body, conditions=("lupus",), side_effects=()):
    return client.post(
        "/ask",
        data={
            "csrf_token": _token(client, "/ask"),
            "title": title,
            "body": body,
            "conditions": list(conditions),
            "side_effects": list(side_effects),
        },
        follow_redirects=True,
    )


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_title(env, payload):
    client = env["client"]
    resp = _ask(client, f"Title {payload}", "An ordinary question body.")
    assert resp.status_code in (200, 400)
    assert_inert(resp.get_data(as_text=True))
    assert_inert(client.get("/").get_data(as_text=True))
    assert_inert(client.get("/search", query_string={"q": "Title"}).get_data(as_text=True))


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_body(env, payload):
    client = env["client"]
    resp = _ask(client, "A body test", f"Before {payload} after")
    assert resp.status_code in (200, 400)
    assert_inert(resp.get_data(as_text=True))
    thread = env["thread"]
    resp = client.post(
        f"/t/{thread.id}/reply",
        data={"csrf_token": _token(client, f"/t/{thread.id}"), "body": payload},
        follow_redirects=True,
    )
    assert resp.status_code in (200, 400)
    assert_inert(resp.get_data(as_text=True))
    preview = client.post(
        f"/t/{thread.id}/reply",
        data={"csrf_token": _token(client, f"/t/{thread.id}"), "body": payload, "preview": "1"},
    )
    assert_inert(preview.get_data(as_text=True))


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_tags(env, payload):
    client = env["client"]
    # an unknown side effect is dropped with a warning that names it
    resp = _ask(client, "A tags test", "Body", side_effects=[payload])
    assert resp.status_code in (200, 400)
    assert_inert(resp.get_data(as_text=True))
    # an unknown condition is refused with a message that names it
    resp = _ask(client, "A tags test", "Body", conditions=["lupus", payload])
    assert resp.status_code == 400
    assert_inert(resp.get_data(as_text=True))
    for path in ("/conditions/", "/side-effects/", "/feeds/conditions/"):
        page = client.get(path + payload.replace("/", "%2F").replace("?", "%3F"))
        assert page.status_code < 500
        if page.mimetype == "text/html":
            assert_inert(page.get_data(as_text=True))


@pytest.mark.parametrize("q", SEARCH_TORTURE)
def test_search_torture(env, q):
    client = env["client"]
    for path in ("/search", "/api/v1/search", "/feeds/search.atom"):
        resp = client.get(path, query_string={"q": q})
        assert resp.status_code in (200, 400), (path, q[:40], resp.status_code)
        if resp.mimetype == "text/html":
            assert_inert(resp.get_data(as_text=True))


# --- every unsafe route -------------------------------------------------------------------


def _unsafe_rules() -> list[tuple[str, str, str]]:
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="routes-"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "x",
        }  # fmt: skip
    )
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "DELETE", "PATCH"}):
            found.append((rule.endpoint, rule.rule, method))
    return sorted(found)


UNSAFE = _unsafe_rules()
# One-click unsubscribe (RFC 8058): mail clients POST without a CSRF token; the signed token
# in the URL is the credential, so a forged or guessed one must still be refused.
CSRF_EXEMPT = {"notifications.unsubscribe"}
# Carry a signed-out reader's reply text on to the join or sign-in form and store nothing
# (those forms are protected): they answer 200 and the database must stay unchanged.
CARRY_ONLY = {"pages.join_to_reply", "pages.signin_to_reply"}


def _url(app, rule_text: str, thread: Thread) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    values = {}
    for name, conv in rule._converters.items():
        if hasattr(conv, "items"):
            values[name] = sorted(conv.items)[0]
        elif isinstance(conv, IntegerConverter):
            values[name] = thread.posts[-1].id if "post" in name else thread.id
        else:
            values[name] = "lupus"
    return rule.build(values)[1]


def test_the_suite_covers_every_unsafe_route():
    print(f"\nunsafe routes: {len(UNSAFE)} ({', '.join(sorted({e for e, _, _ in UNSAFE}))})")
    assert len(UNSAFE) >= 20
    assert any(e == "privacy.delete_account" for e, _, _ in UNSAFE)


@pytest.mark.parametrize("endpoint, rule, method", UNSAFE)
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_unsafe_route_refuses_bad_csrf_token(env, endpoint, rule, method, token):
    app, client = env["app"], env["client"]
    url = _url(app, rule, env["thread"])
    data = {"body": "forged", "title": "forged", "reason": "spam", "mode": "erase",
            "password": f.PASSWORD, "confirm": "yes", "conditions": "lupus"}  # fmt: skip
    if token == "wrong":
        data["csrf_token"] = "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.forged"
    before = _snapshot()
    resp = client.open(url, method=method, data=data)
    if endpoint in CSRF_EXEMPT:  # its own secret in the URL is the credential
        assert resp.status_code in (400, 403, 404), (url, resp.status_code)
    elif endpoint in CARRY_ONLY:
        assert resp.status_code == 200, (url, resp.status_code)
    else:
        assert resp.status_code == 400, (url, resp.status_code)
    assert _snapshot() == before, url


@pytest.mark.parametrize("endpoint, rule, method", UNSAFE)
def test_unsafe_route_refuses_oversized_and_broken_bodies(env, endpoint, rule, method):
    app, client = env["app"], env["client"]
    url = _url(app, rule, env["thread"])
    token = _token(client)
    before = _snapshot()
    big = client.open(url, method=method, data={"csrf_token": token, "body": "x" * 300_000})
    assert big.status_code == 413, (url, big.status_code)
    broken = client.open(
        url,
        method=method,
        data=b"csrf_token=" + token.encode() + b"&body=%C3%28%FF&title=\xff\xfe",
        content_type="application/x-www-form-urlencoded",
    )
    assert broken.status_code == 400, (url, broken.status_code)
    assert _snapshot() == before, url


# --- the authorisation matrix --------------------------------------------------------------

ROLES = ["anonymous", "other member", "author", "moderator"]
ACTIONS = ["view hidden", "edit", "delete", "hide", "export", "delete account"]
# What each role may do (True) or must be refused (False).
ALLOWED = {
    "anonymous": dict.fromkeys(ACTIONS, False),
    "other member": dict.fromkeys(ACTIONS, False),
    "author": {
        "view hidden": False,
        "edit": True,
        "delete": True,
        "hide": False,
        "export": True,
        "delete account": True,
    },  # fmt: skip
    "moderator": {
        "view hidden": True,
        "edit": False,
        "delete": False,
        "hide": True,
        "export": False,
        "delete account": False,
    },  # fmt: skip
}


def _matrix_world(client, auth, role):
    author = f.user("the_author", email="the.author@example.net")
    f.user("someone_else")
    f.user("the_mod", role="moderator")
    question_thread = f.thread(f.user("asker"), title="Matrix thread",
                               replies=[(author, "Author reply kiwiword")])  # fmt: skip
    hidden = f.thread(author, title="Hidden matrix thread", body="hidden text")
    hidden.is_hidden = True
    hidden.question.is_hidden = True
    db.session.commit()
    names = {"other member": "someone_else", "author": "the_author", "moderator": "the_mod"}
    if role != "anonymous":
        auth.login(names[role])
    return author, question_thread.posts[1], hidden


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_authorisation_matrix(client, auth, role, action):
    author, reply, hidden = _matrix_world(client, auth, role)
    allowed = ALLOWED[role][action]
    token = _token(client, "/login" if role == "anonymous" else "/")
    before = _snapshot()
    if action == "view hidden":
        resp = client.get(f"/t/{hidden.id}")
        assert resp.status_code == (200 if allowed else 404)
        assert ("hidden text" in resp.get_data(as_text=True)) == allowed
        assert _snapshot() == before
        return
    if action == "export":
        resp = client.get("/account/data")
        body = resp.get_data(as_text=True)
        if role == "anonymous":
            assert resp.status_code in (302, 401)
        else:
            assert resp.status_code == 200
        # only the author's own download carries the author's email and words
        assert ("the.author@example.net" in body) == allowed
        assert ("kiwiword" in body) == allowed
        return
    paths = {
        "edit": (f"/posts/{reply.id}/edit", {"body": "Edited by someone"}),
        "delete": (f"/posts/{reply.id}/delete", {}),
        "hide": (f"/moderation/posts/{reply.id}/hide", {}),
        "delete account": (
            "/account/delete",
            {"mode": "erase", "password": f.PASSWORD, "confirm": "yes"},
        ),  # fmt: skip
    }
    path, data = paths[action]
    resp = client.post(path, data={"csrf_token": token, **data})
    assert resp.status_code < 500
    db.session.expire_all()
    post = db.session.get(Post, reply.id)
    changed = {
        "edit": post is not None and post.body == "Edited by someone",
        "delete": post is None or post.is_deleted,
        "hide": post is not None and post.is_hidden,
        "delete account": db.session.get(User, author.id) is None,
    }[action]
    if action == "delete account" and role in ("other member", "moderator"):
        # they can only ever delete their own account; the author's is untouched
        assert not changed
        assert resp.status_code in (302, 400)
        return
    assert changed == allowed, (role, action, resp.status_code)
    if not allowed:
        assert resp.status_code in (302, 401, 403, 404)
        assert _snapshot() == before


# --- numbers past 64 bits, signs, underscores, spaces: every integer a request carries -----

HUGE_NUMBERS = [
    "99999999999999999999",
    "+99999999999999999999",
    "-99999999999999999999",
    "9223372036854775808",  # 2**63: SQLite's OverflowError
    "2147483648",  # one past PostgreSQL's INTEGER
    "+9",
    "9_999",
    "-1",
    " 1",
    "1 ",
    "1e3",
    "0x1f",
    "²",  # str.isdigit() says yes, int() says no
    "٣",  # an Arabic-Indic three: \d matches it
    "9" * 5000,  # past Python's int-from-string digit limit
]
# The query-string names any view reads as a number (forum/numbers.py callers), and the
# kinds of value that broke them, one of each (every GET route x these stays fast).
INT_QUERY_NAMES = ("page", "per_page", "thread")
QUERY_NUMBERS = ["99999999999999999999", "+99999999999999999999", "9223372036854775808",
                 "9_999", " 1", "-1", "²", "٣", "9" * 5000]  # fmt: skip
INT_FORM = {"post_id", "thread_id", "key"}


def _rules_with(kind: str) -> list[tuple[str, str]]:
    """(rule, method) for every route whose URL has an integer (kind="url"), or for every
    GET route (kind="query"), or for every POST route (kind="form"), from app.url_map."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="routes-"),
            "LOAD_DEMO_ON_FIRST_START": False,
            "SECRET_KEY": "x",
        }  # fmt: skip
    )
    found = set()
    for rule in app.url_map.iter_rules():
        has_int = any(isinstance(c, IntegerConverter) for c in rule._converters.values())
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            if (kind == "url" and has_int) or (
                kind == {"GET": "query", "POST": "form"}[method] and rule.endpoint != "static"
            ):
                found.add((rule.rule, method))
    return sorted(found)


def _fill(rule: str, ints: str | int) -> str:
    """The rule's path with every integer part set to ``ints`` (URL-quoted) and every other
    part set to something that exists."""
    from urllib.parse import quote

    def part(match: re.Match) -> str:
        spec = match.group(1)
        if spec.startswith("int:"):
            return quote(str(ints), safe="")
        if spec.startswith("any("):
            return spec[4:].split(",")[0].strip(" )")
        return "lupus"

    return re.sub(r"<([^>]+)>", part, rule)


@pytest.fixture(scope="module")
def mod_client(env):
    """A moderator's own client: moderation routes run their code instead of refusing."""
    client = env["app"].test_client()
    client.post(
        "/login",
        data={
            "display_name": "csrf_mod",
            "password": f.PASSWORD,
            "csrf_token": _token(client, "/login"),
        },  # fmt: skip
    )
    return client


@pytest.mark.parametrize("rule, method", _rules_with("url"))
def test_huge_or_odd_integers_in_the_url_are_404(env, mod_client, rule, method):
    token = _token(mod_client)
    before = _snapshot()
    for value in HUGE_NUMBERS:
        url = _fill(rule, value)
        data = {"csrf_token": token} if method == "POST" else None
        resp = mod_client.open(url, method=method, data=data)
        assert resp.status_code == 404, (method, url[:80], resp.status_code)
    assert _snapshot() == before


def test_the_integer_suites_cover_the_routes():
    urls, queries = _rules_with("url"), _rules_with("query")
    print(f"\ninteger URL routes: {len(urls)}, GET routes x int query names: {len(queries)}")
    assert len(urls) >= 12 and any(r == "/t/<int:thread_id>" for r, _ in urls)
    assert any(r == "/notifications" for r, _ in queries)


@pytest.mark.parametrize("rule, method", _rules_with("query"))
def test_huge_or_odd_integers_in_the_query_string_are_not_500(env, mod_client, rule, method):
    thread = env["thread"]
    for value in QUERY_NUMBERS:
        for name in INT_QUERY_NAMES:
            url = _fill(rule, thread.id)
            resp = mod_client.get(url, query_string={name: value, "q": "reply"})
            assert resp.status_code < 500, (url, name, value[:30], resp.status_code)
            if name == "page" and len(value.strip(" +-")) > 7 and rule != "/healthz":
                assert resp.status_code == 404, (url, value[:30])


@pytest.mark.parametrize("rule, method", _rules_with("form"))
def test_huge_or_odd_integers_in_form_fields_are_not_500(env, rule, method):
    """post_id (resolve), thread_id (drafts), key (follow) and any other id in a form."""
    if rule in ("/logout", "/account/delete", "/login", "/register", "/account/password"):
        return  # they read no number; they end the session or hash a password per request
    app, thread = env["app"], env["thread"]
    client = app.test_client()
    client.post(
        "/login",
        data={
            "display_name": "csrf_mod",
            "password": f.PASSWORD,
            "csrf_token": _token(client, "/login"),
        },  # fmt: skip
    )
    token = _token(client)
    for value in QUERY_NUMBERS:
        data = {"csrf_token": token, "kind": "thread", "draft_kind": "reply"}
        data.update(dict.fromkeys(INT_FORM, value))
        resp = client.post(_fill(rule, thread.id), data=data)
        assert resp.status_code < 500, (rule, value[:30], resp.status_code)


# --- display names: impersonation, look-alikes, invisible and bidi characters ---------------

BAD_NAMES = [
    "Moderator.",
    "Admin_",
    "\u0410dmin",  # Cyrillic capital A
    "ａｄｍｉｎ",  # fullwidth
    "Support Team",
    "A Former Member.",
    "Adm1n",
    "ＸSS_ＷＲＩＴＥＲ",  # fullwidth look-alike of the member xss_writer
    "xss-writer.",
    "X\u0455s_writer",  # Cyrillic dze for s
    "Ad\u200bmin",  # zero-width space
    "\u202eAdmin",  # right-to-left override
    "admin\u00ad",  # soft hyphen
    "Admin\u0301",  # combining accent
    "\u200d\u200d\u200d",
    "Jo\x00hn",
    "😀😀😀",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_display_names_get_a_clear_400_and_keep_what_was_typed(env, name):
    client = env["app"].test_client()
    before = _snapshot()
    response = client.post(
        "/register",
        data={
            "display_name": name,
            "email": "typed.email@example.org",
            "password": "blue kettle morning",
            "csrf_token": _token(client, "/register"),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="typed.email@example.org"' in html
    assert "display name" in html.lower() and "error" in html.lower()
    assert _snapshot() == before
