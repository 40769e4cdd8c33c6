"""Atom feeds: parsed with ElementTree, required Atom 1.0 elements present, hidden and
deleted threads never listed, text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from forum.extensions import db
from forum.threads import service
from tests import factories

NS = {"a": "http://www.w3.org/2005/Atom"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse(client, path: str) -> ET.Element:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"a:{name}", NS) is not None and root.find(f"a:{name}", NS).text
    assert RFC3339.match(root.find("a:updated", NS).text)
    self_link = root.find("a:link[@rel='self']", NS)
    assert self_link is not None and self_link.get("href").endswith(path)
    for entry in root.findall("a:entry", NS):
        assert entry.find("a:id", NS).text.startswith("tag:")
        assert entry.find("a:title", NS).text
        assert RFC3339.match(entry.find("a:updated", NS).text)
        assert entry.find("a:link", NS).get("href").startswith("http://localhost/t/")
        assert entry.find("a:author/a:name", NS).text
    return root


def titles(root: ET.Element) -> list[str]:
    return [e.find("a:title", NS).text for e in root.findall("a:entry", NS)]


def test_latest_feed_lists_visible_threads_newest_first(app, client):
    first = factories.thread(title="Older question", body="First body")
    second = factories.thread(title="Newer question", body="Second body")
    root = parse(client, "/feeds/latest.atom")
    assert titles(root) == ["Newer question", "Older question"]
    entry = root.find("a:entry", NS)
    assert entry.find("a:author/a:name", NS).text == second.author.display_name
    assert entry.find("a:link", NS).get("href") == f"http://localhost/t/{second.id}"
    ids = [e.find("a:id", NS).text for e in root.findall("a:entry", NS)]
    assert len(set(ids)) == 2 and ids[1].endswith(f"thread:{first.id}")
    assert "Second body" in entry.find("a:content", NS).text


def test_hidden_and_deleted_threads_never_appear(app, client):
    factories.thread(title="Visible one")
    hidden = factories.thread(title="Hidden by a moderator", body="secret words")
    hidden.is_hidden = True
    gone = factories.thread(title="Deleted by its author")
    db.session.commit()
    service.delete_post(gone.author, gone.question)
    for path in (
        "/feeds/latest.atom",
        "/feeds/conditions/lupus.atom",
        "/feeds/medications/azathioprine.atom",
        "/feeds/search.atom?q=secret",
        "/feeds/search.atom?q=Deleted",
    ):
        root = parse(client, path)
        assert "Hidden by a moderator" not in titles(root), path
        assert "Deleted by its author" not in titles(root), path
        assert b"secret words" not in ET.tostring(root)


def test_topic_feeds_only_hold_their_topic(app, client):
    factories.thread(title="Lupus one", conditions=("lupus",), side_effects=("hair loss",))
    factories.thread(title="Crohn's one", conditions=("crohns-disease",))
    assert titles(parse(client, "/feeds/conditions/lupus.atom")) == ["Lupus one"]
    assert titles(parse(client, "/feeds/side-effects/hair-loss.atom")) == ["Lupus one"]
    assert client.get("/feeds/conditions/not-a-condition.atom").status_code == 404


def test_search_feed(app, client):
    factories.thread(title="Switching to methotrexate", body="My rheumatologist suggested it.")
    factories.thread(title="Sunburn", body="Wear a hat.")
    root = parse(client, "/feeds/search.atom?q=methotrexate")
    assert titles(root) == ["Switching to methotrexate"]
    assert "methotrexate" in root.find("a:title", NS).text
    assert client.get("/feeds/search.atom").status_code == 400


def test_markup_is_escaped_and_former_members_are_named_so(app, client):
    author = factories.user("leaving_soon")
    factories.thread(author, title='Tips & <tricks> for "bloods"', body="<b>not bold</b> & more")
    author_row = db.session.get(type(author), author.id)
    db.session.delete(author_row)
    db.session.commit()
    root = parse(client, "/feeds/latest.atom")
    entry = root.find("a:entry", NS)
    assert entry.find("a:title", NS).text == 'Tips & <tricks> for "bloods"'
    assert entry.find("a:author/a:name", NS).text == "a former member"
    content = entry.find("a:content", NS)
    assert content.get("type") == "html" and "<b>" not in content.text


def test_pages_advertise_their_feeds(app, client):
    html = client.get("/").get_data(as_text=True)
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Latest questions" '
        'href="/feeds/latest.atom">' in html
    )
    html = client.get("/conditions/lupus").get_data(as_text=True)
    assert 'href="/feeds/conditions/lupus.atom"' in html


def test_search_page_advertises_a_feed_of_that_search(app, client):
    factories.thread(title="Hair thinning on aza")
    html = client.get("/search?q=hair").get_data(as_text=True)
    assert (
        'type="application/atom+xml" title="Search: hair" href="/feeds/search.atom?q=hair"' in html
    )
    assert titles(parse(client, "/feeds/search.atom?q=hair")) == ["Hair thinning on aza"]
