"""The site's own pages (issue 14): favicon, logo, trust pages in the footer, the header."""

from __future__ import annotations

import re

import pytest

from tests import factories


def test_favicon_is_served_and_linked_from_every_page(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO header, not an HTML 404
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in html
    assert client.get("/static/favicon.svg").status_code == 200


def test_header_has_logo_and_a_menu_disclosure_for_phones(client):
    html = client.get("/").get_data(as_text=True)
    logo = r'<a class="brand"[^>]*><img class="logo-mark" src="/static/img/logo\.svg" alt=""'
    assert re.search(logo, html)
    menu = html[html.index('<details class="nav-menu">') :]
    assert "<summary>" in menu and "Menu</summary>" in menu
    assert 'href="/conditions"' in menu[: menu.index("</details>")]


@pytest.mark.parametrize(
    "path, words",
    [
        ("/about", ["Who runs it", "No ads, no trackers"]),
        ("/guidelines", ["Share experience, not instructions", "Report"]),
        ("/privacy", ["What is stored", "What is never shown", "Download my data", "Delete my"]),
        ("/contact", ["Report", "cannot answer medical questions"]),
    ],
)
def test_trust_pages_are_linked_from_the_footer(client, path, words):
    footer = client.get("/").get_data(as_text=True).split('<footer class="site-footer">')[1]
    assert f'href="{path}"' in footer
    html = client.get(path).get_data(as_text=True)
    for word in words:
        assert word in html


def test_every_page_has_exactly_one_not_advice_line(client):
    t = factories.thread(factories.user("asker"), title="Tired all the time")
    for path in ("/", "/about", "/conditions", f"/t/{t.id}"):
        html = client.get(path).get_data(as_text=True).lower()
        assert html.count("not medical advice") == 1, path


def test_hiding_the_welcome_sets_a_cookie_and_only_follows_same_site_next(client):
    assert "welcome-box" in client.get("/").get_data(as_text=True)
    resp = client.get("/welcome/hide", query_string={"next": "//evil.example/"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "welcome=hidden" in resp.headers["Set-Cookie"]
    assert "welcome-box" not in client.get("/").get_data(as_text=True)
    resp = client.get("/welcome/hide", query_string={"next": "/conditions"})
    assert resp.headers["Location"] == "/conditions"


def test_the_welcome_says_who_is_here_per_condition(client):
    asker, helper, quiet = factories.user("asker"), factories.user("helper"), factories.user("q")
    factories.thread(asker, title="Aza and lupus fatigue", replies=[(helper, "Week 6 for me.")])
    factories.thread(asker, title="Lupus and sun", conditions=("lupus",))
    factories.thread(quiet, title="Crohn's first month", conditions=("crohns",))
    html = client.get("/").get_data(as_text=True)
    box = html.split('class="welcome-box"')[1].split("</section>")[0]
    assert "Who is here:" in box
    assert ">Lupus (SLE)</a> (2 people, 2 questions)" in box
    assert ">Crohn" in box and "(1 person, 1 question)" in box
    assert box.index(">Lupus (SLE)</a>") < box.index(">Crohn")  # most people first
