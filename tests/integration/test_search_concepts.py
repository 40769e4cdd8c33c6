"""Search rules that must hold for patients nobody has seen yet, on threads written for
these tests (not the judged sample): everyday words, shorthand, drug classes, questions,
misspellings, and "did you mean" from visible text only."""

from __future__ import annotations

import pytest

from tests import factories as f

# Threads about other things, so that no test word is in half the forum (a word in most
# threads rightly weighs almost nothing).
BACKGROUND = [
    ("Garden", "Snails have eaten every lettuce this spring."),
    ("Recipe swap", "A good soup for cold evenings, with barley."),
    ("Dog walking", "Long walks on the beach most weekends."),
    ("Knitting", "Finished a scarf for my niece."),
    ("Book club", "Reading a long novel about a lighthouse."),
    ("Allotment", "Runner beans doing well despite the wind."),
]


@pytest.fixture(autouse=True)
def background(app):
    author = f.user()
    for title, body in BACKGROUND:
        f.thread(author, title=title, body=body, conditions=["other"])


def search(client, q, **params):
    resp = client.get("/api/v1/search", query_string={"q": q, "per_page": 20, **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def ranked(client, q):
    return [r["id"] for r in search(client, q)["results"]]


def post(title, body, **kw):
    return f.thread(f.user(), title=title, body=body, **kw)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("LFTs", "Liver results back", "The liver function tests were fine this time."),
        ("rheumy", "Saw the specialist", "My rheumatologist wants to lower the dose."),
        ("WBC", "Latest numbers", "The white cell count was 3.1 at the last check."),
        ("FBC", "Monthly check", "Full blood count every four weeks for now."),
        ("Hb", "Feeling pale", "Haemoglobin 98, they are checking iron."),
        ("CRP", "Markers down", "Inflammatory markers are the lowest in years."),
        ("GI", "Clinic letter", "The gastroenterologist is happy with progress."),
        ("neuro", "Follow up", "Neurologist said to stay on it another year."),
        ("derm", "Skin appointment", "The dermatologist froze two patches."),
        ("HCQ", "Two tablets now", "Plaquenil was added to the aza last spring."),
        ("MTX", "Weekly injection", "Methotrexate makes me groggy on Saturdays."),
        ("IFX", "Infusion day", "Remicade every eight weeks at the unit."),
        ("pred", "Steroid course", "Prednisolone 30mg tapering by 5 a week."),
        ("TTC", "Planning a family", "We are trying to conceive next year."),
        ("AIH", "New diagnosis", "Autoimmune hepatitis confirmed by biopsy."),
        ("SLE", "Joint flare", "Lupus acting up in my wrists."),
    ],
)
def test_shorthand_finds_the_spelled_out_thread(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("pregnant", "Baby plans", "Trying for a baby and wondering about the tablets."),
        ("breastfeeding", "Newborn here", "Is it fine while nursing? Expressing milk too."),
        ("surgery", "Op next week", "Having an operation on my knee, general anaesthetic."),
        ("travel", "Long haul", "Flying to Australia next month."),
        ("jabs", "Autumn", "Booked my vaccination at the surgery."),
        ("missed dose", "Oops", "Forgot my tablet yesterday, take two today?"),
        ("taper", "Coming off slowly", "Weaning off over three months."),
        ("stopped working", "Back to square one", "Made no difference after a year."),
        ("sunscreen", "Summer", "Factor 50 and a hat every day now."),
        ("bloods", "Results", "Blood results came back and all fine."),
        ("tired", "Knackered", "Knackered by 3pm every day."),
        ("switch", "Next option", "Consultant suggests we swap to something else."),
        ("empty stomach", "Timing", "I take mine after food to stop the queasiness."),
    ],
)
def test_everyday_words_find_each_other(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.xfail(strict=True, reason="a concept does not yet score as one term (issue 13.1)")
def test_a_synonym_thread_ranks_with_the_plain_word_thread(client):
    """ "tired": a thread saying "knackered" is as much about it as one saying "fatigue";
    both beat a thread that only shares an incidental word."""
    fatigue = post("Afternoons", "The fatigue hits me hard most days.", conditions=["other"])
    knackered = post("Every day", "Honestly knackered by lunchtime.", conditions=["other"])
    noise = post("Really always", "I really always get my bloods done on Mondays.")
    order = ranked(client, "always really tired")
    assert set(order[:2]) == {fatigue.id, knackered.id}
    assert noise.id not in order[:2]


def test_patients_mean_different_things_by_related_words(client):
    thinning = post("Shedding", "My hair thinning is noticeable at the parting.")
    dye = post("Salon visit", "Can I still use hair colour at the hairdresser?")
    anxious = post("Nervous", "Panic attacks before every clinic.")
    low = post("Low", "Feeling down and tearful for weeks.")
    queasy = post("Mornings", "Queasy and nauseous after each dose.")
    sick = post("Evenings", "Throwing up twice last night.")
    assert dye.id not in ranked(client, "hair thinning")
    assert thinning.id not in ranked(client, "hair colour")
    assert low.id not in ranked(client, "panic attacks")
    assert anxious.id not in ranked(client, "low mood")
    nausea = ranked(client, "nausea")
    assert nausea.index(queasy.id) < nausea.index(sick.id)
    vomiting = ranked(client, "vomiting")
    assert vomiting.index(sick.id) < vomiting.index(queasy.id)
