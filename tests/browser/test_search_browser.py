"""Finding things in a real browser: facets that narrow results, similar questions on /ask."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .steps import register, search, unique

SICK = [
    ("Lupus", "Queasy all morning after the Imuran tablet"),
    ("Lupus", "Stomach turns an hour after taking aza with lupus"),
    ("Crohn's disease", "Throwing up in the first weeks of azathioprine for Crohn's"),
    ("Crohn's disease", "Sick to my stomach on aza, Crohn's flare or the drug?"),
    ("Rheumatoid arthritis", "Nausea from azathioprine with RA: does taking it at night help?"),
]
HAIR = "Hair falling out three months into azathioprine"


@pytest.fixture(scope="module")
def seeded(forum, tmp_path_factory):
    lines = [
        {
            "title": title,
            "body": "I feel nauseous most days since starting. Did splitting the dose help?",
            "author": f"seed_{i}",
            "created": f"2025-02-0{i + 1}T09:00:00Z",
            "conditions": [condition],
            "side_effects": ["nausea"],
            "medications": ["azathioprine"],
            "replies": [{"author": "seed_helper", "body": "Food first helped me."}],
        }
        for i, (condition, title) in enumerate(SICK)
    ]
    lines.append(
        {
            "title": HAIR,
            "body": "My brush is full every morning. Did it grow back for anyone?",
            "author": "seed_hair",
            "conditions": ["Ulcerative colitis"],
            "side_effects": ["hair loss"],
        }
    )
    path = tmp_path_factory.mktemp("seed") / "seed.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = forum.flask("forum", "import", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    return forum


def test_a_reader_narrows_search_results_to_their_condition(seeded, page):
    base = seeded.url
    search(page, base, "feeling sick on imuran", SICK[2][1])
    results = page.locator(".search-hits > li")
    for _, title in SICK:  # all of them, in whatever words they said it
        expect(page.get_by_role("link", name=title)).to_be_visible()
    facets = page.get_by_role("complementary", name="Narrow the results")
    expect(facets).to_contain_text("Crohn's disease")
    expect(facets).to_contain_text("(2)")

    facets.get_by_role("link", name="Crohn's disease").click()

    expect(page.get_by_role("heading", level=2, name=re.compile("found"))).to_have_text(
        "2 questions found"
    )
    expect(results).to_have_count(2)
    for _, title in [s for s in SICK if s[0] == "Crohn's disease"]:
        expect(page.get_by_role("link", name=title)).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(SICK[0][1])
    expect(page.get_by_role("searchbox", name="Search words")).to_have_value(
        "feeling sick on imuran"
    )
    expect(page.locator(".active-filters")).to_contain_text("Crohn's disease")


def test_similar_questions_appear_while_typing_a_title(seeded, page):
    base = seeded.url
    register(page, base, unique("typist"))
    page.goto(base + "/ask")
    page.get_by_label("Title").press_sequentially("hair thinning on aza", delay=60)
    similar = page.locator("#similar-questions")
    expect(similar.get_by_role("link", name=HAIR)).to_be_visible(timeout=10_000)
    # Every seeded question mentions aza; the one about hair is the best match.
    expect(similar.get_by_role("link").first).to_have_text(HAIR)
