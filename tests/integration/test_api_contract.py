"""/api/v1 against its own OpenAPI document: every endpoint's real answers (200, 304 and
errors) validate against the schema the document gives for that status; every /api/v1
route is in the document; list answers link to their next and previous pages; ETags let a
client poll for changes with If-None-Match."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from forum import create_app
from forum.extensions import db
from forum.threads import service
from tests import factories

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:jsonschema.*")


@pytest.fixture
def doc(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    document = resp.get_json()
    assert document["openapi"].startswith("3.1")
    return document


@pytest.fixture
def threads():
    asker = factories.user("asker", email="asker-secret@example.org")
    helper = factories.user("helper")
    first = factories.thread(
        asker,
        title="Rash after the dose went up",
        conditions=("lupus",),
        side_effects=("rash",),
        replies=[(helper, "Mine settled after a few weeks.")],
    )
    for n in range(4):
        factories.thread(helper, title=f"Blood test question {n}", conditions=("crohns",))
    return first


def _operation(doc, path: str) -> tuple[str, dict]:
    """The document's path template and GET operation that serve ``path``."""
    bare = path.split("?")[0].removeprefix(doc["servers"][0]["url"])
    for template, item in doc["paths"].items():
        parts, want = template.strip("/").split("/"), bare.strip("/").split("/")
        if len(parts) == len(want) and all(
            p == w or p.startswith("{") for p, w in zip(parts, want, strict=True)
        ):
            return template, item["get"]
    raise AssertionError(f"{bare} is not in the OpenAPI document")


def check(client, doc, path: str, status: int, **headers):
    """GET ``path``, expect ``status``, validate the body against the document."""
    resp = client.get(path, headers=headers)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    template, op = _operation(doc, path)
    documented = op["responses"].get(str(status))
    assert documented, f"{status} from {path} is not documented for {template}"
    if "content" in documented:
        schema = documented["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": doc["components"]}).validate(resp.get_json())
        for name in documented.get("headers", {}):
            assert name in resp.headers, f"{path} lacks the documented {name} header"
    else:
        assert resp.data == b""
    return template, resp


def test_every_endpoint_answers_as_documented(client, doc, threads):
    hidden = factories.thread(title="Hidden one")
    hidden.is_hidden = True
    db.session.commit()
    cases = [
        ("/api/v1/threads", 200),
        ("/api/v1/threads?per_page=2&page=2&condition=crohns", 200),
        ("/api/v1/threads?page=0", 400),
        ("/api/v1/threads?per_page=101", 400),
        ("/api/v1/threads?condition=spattergroit", 400),
        (f"/api/v1/threads/{threads.id}", 200),
        (f"/api/v1/threads/{hidden.id}", 404),
        ("/api/v1/threads/99999", 404),
        ("/api/v1/conditions", 200),
        ("/api/v1/side-effects", 200),
        ("/api/v1/medications", 200),
        ("/api/v1/search?q=rash", 200),
        ("/api/v1/search?q=blood&per_page=2&page=2", 200),
        ("/api/v1/search?condition=spattergroit", 400),
        ("/api/v1/stats", 200),
        ("/api/v1/stats?condition=lupus&tpmt=normal", 200),
        ("/api/v1/stats?tpmt=purple", 400),
    ]
    covered = {check(client, doc, path, status)[0] for path, status in cases}
    assert covered == set(doc["paths"]), "an endpoint in the document is never checked"


def test_every_api_route_is_in_the_document(app, doc):
    served = {
        rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and "GET" in rule.methods
    }
    assert served - {"/openapi.json", "/docs"} == set(doc["paths"])


def test_list_answers_link_to_next_and_previous_pages(client, doc, threads):
    seen, url = [], "/api/v1/threads?per_page=2&condition=crohns"
    while url:
        _t, resp = check(client, doc, url.removeprefix("http://localhost"), 200)
        body = resp.get_json()
        seen += [t["title"] for t in body["data"]]
        url = body["links"]["next"]
    assert sorted(seen) == [f"Blood test question {n}" for n in range(4)]
    assert body["page"] == 2 and "page=1" in body["links"]["prev"]
    assert "condition=crohns" in body["links"]["prev"]
    first = client.get("/api/v1/threads?per_page=2&condition=crohns").get_json()
    assert first["links"]["prev"] is None
    search = client.get("/api/v1/search?q=blood&per_page=3").get_json()
    assert search["total"] == 4 and "page=2" in search["links"]["next"]


def test_polling_a_thread_costs_a_304_until_it_changes(client, doc, threads):
    path = f"/api/v1/threads/{threads.id}"
    _t, first = check(client, doc, path, 200)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and "Cookie" in first.headers["Vary"]
    check(client, doc, path, 304, **{"If-None-Match": etag})
    service.add_reply(factories.user("late"), threads, "Same for me in the first month.")
    _t, changed = check(client, doc, path, 200, **{"If-None-Match": etag})
    assert changed.headers["ETag"] != etag
    listing = client.get("/api/v1/threads")
    check(client, doc, "/api/v1/threads", 304, **{"If-None-Match": listing.headers["ETag"]})


def test_page_cache_hits_answer_304_too(tmp_path):
    """The anonymous page cache serves repeat reads before Flask runs; a poll with the
    ETag it stored still gets a bodiless 304."""
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
        factories.thread(title="Cached question")
        first = app.test_client().get("/api/v1/threads")
        again = app.test_client().get("/api/v1/threads")
        assert again.headers.get("X-Page-Cache") == "hit"
        poll = app.test_client().get(
            "/api/v1/threads", headers={"If-None-Match": first.headers["ETag"]}
        )
        db.session.remove()
        db.engine.dispose()
    assert poll.status_code == 304 and poll.data == b""


def test_docs_page_is_readable_without_script(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script" not in html.split("<main", 1)[1]
    for heading in ("GET /api/v1/threads", "GET /api/v1/search", "Error"):
        assert heading in html
    assert 'href="/api/v1/openapi.json"' in html
