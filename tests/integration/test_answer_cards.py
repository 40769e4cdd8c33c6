"""Answer cards (issue 14): what the experience reports say about a side effect, above
search results, on its page and on the ask form, under the /reports privacy rules."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from forum.experiences import service as experiences
from forum.extensions import db
from forum.models import User
from tests import factories
from tests.conftest import csrf_from


def reports(n, condition="lupus", side_effect="fatigue", began=4, settled_week=10):
    for i in range(n):
        user = factories.user(f"{condition}_{side_effect}_{i}")
        experiences.save_report(
            user,
            condition,
            {
                "started_on": date.today() - timedelta(days=400),
                "steps": [],
                "side_effects": [
                    {
                        "side_effect": side_effect,
                        "severity": "mild",
                        "began_week": began,
                        "settled": i % 2 == 0,
                        "settled_week": settled_week if i % 2 == 0 else None,
                    }
                ],
            },
            confirmed=True,
        )


def test_search_for_a_side_effect_in_lay_words_shows_the_answer_card(client):
    reports(6)
    reports(4, condition="crohns", side_effect="nausea")
    factories.thread(title="Always tired", side_effects=("fatigue",))
    html = client.get("/search", query_string={"q": "always tired"}).get_data(as_text=True)
    card = html[html.index('class="answer-card"') :]
    card = card[: card.index("</section>")]
    assert "<strong>6 of 10</strong>" in card and "(60%) mention fatigue" in card
    assert "week 4" in card
    assert "Of 6 who said whether it settled, <strong>50%</strong>" in card
    assert 'href="/reports#h-se"' in card


def test_side_effect_page_card_and_small_groups_say_nothing_more(client):
    reports(6)
    reports(4, side_effect="hair-loss")
    html = client.get("/side-effects/fatigue").get_data(as_text=True)
    assert "<strong>6 of 10</strong>" in html
    html = client.get("/side-effects/hair-loss").get_data(as_text=True)
    assert "Fewer than 5 of the 10" in html and "of 10</strong>" not in html


def test_no_card_when_the_reports_are_too_few_to_show(client):
    reports(3)
    assert 'class="answer-card"' not in client.get("/side-effects/fatigue").get_data(as_text=True)


def test_ask_preview_shows_what_people_with_that_condition_report(client, auth):
    reports(6)
    reports(5, condition="crohns", side_effect="nausea")
    factories.user("sunny_days")
    auth.login("sunny_days")
    token = csrf_from(client.get("/ask").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "title": "Tired?",
        "body": "So tired.",
        "conditions": ["lupus"],
        "side_effects": ["fatigue"],
        "preview": "1",
    }
    html = client.post("/ask", data=data).get_data(as_text=True)
    assert "What people with Lupus (SLE) report about fatigue" in html
    assert "<strong>6 of 6</strong>" in html
    fragment = client.get(
        "/reports/answer", query_string={"condition": "lupus", "side_effect": "fatigue"}
    )
    assert fragment.status_code == 200 and "<strong>6 of 6</strong>" in fragment.get_data(
        as_text=True
    )
    assert client.get("/reports/answer?condition=lupus&side_effect=nope").status_code == 400


def test_reports_lead_with_plain_findings_and_caveats_below(client):
    reports(6)
    html = client.get("/reports").get_data(as_text=True)
    findings = html.index("In short, from 6 reports")
    assert "<strong>Fatigue</strong> is the side effect mentioned most: 6 of 6 (100%)" in html
    assert findings < html.index("Show reports from people with") < html.index("How to read these")


def _card(client, q="always tired"):
    html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    if 'class="answer-card"' not in html:
        return None
    card = html[html.index('class="answer-card"') :]
    return card[: card.index("</section>")]


def test_a_remembered_card_follows_every_change_to_the_reports(client):
    """The card's numbers are remembered between searches (they cost a load of every
    report); a new report, an opt-out and a deleted report each show on the next search."""
    factories.thread(title="Always tired", side_effects=("fatigue",))
    reports(5)
    assert "<strong>5 of 5</strong>" in _card(client)
    assert "<strong>5 of 5</strong>" in _card(client, "tired all the time")
    reports(1, condition="crohns", side_effect="nausea")
    assert "<strong>5 of 6</strong>" in _card(client)
    late = db.session.scalar(select(User).where(User.name_key == "crohns_nausea_0"))
    data = {"started_on": date.today() - timedelta(days=400), "include_in_summaries": False}
    experiences.save_report(late, "crohns", data, confirmed=True)
    assert "<strong>5 of 5</strong>" in _card(client)
    first = db.session.scalar(select(User).where(User.name_key == "lupus_fatigue_0"))
    experiences.delete_report(first, "lupus")
    assert _card(client) is None  # four reports: too few to show anything
