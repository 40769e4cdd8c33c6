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
        ("6-MP", "Changed tablet", "Moved from aza to mercaptopurine last year."),
        ("6MP", "Changed again", "The 6-MP suits me better than aza did."),
        ("5-ASA", "Colitis tablets", "Octasa four times a day alongside aza."),
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


def test_a_class_finds_threads_that_name_a_member_below_the_class_word(client):
    named = post("Loading doses", "Started Humira injections last month, fortnightly.")
    generic = post("Infusions", "The vedolizumab infusion took an hour.")
    classy = post("Next step", "Consultant is talking about biologics for me now.")
    order = ranked(client, "biologics")
    assert {named.id, generic.id, classy.id} <= set(order)
    assert order[0] == classy.id


def test_a_class_search_marks_the_member_it_found(client):
    post("Loading doses", "Started Humira injections last month, fortnightly.")
    results = search(client, "biologics")["results"]
    assert "<mark>Humira</mark>" in results[0]["snippet"]


def test_a_member_is_not_a_synonym_of_its_class_mates(client):
    humira = post("Pen day", "Humira pen went in fine this week.")
    enbrel = post("Fridge", "Keeping the Enbrel pens cold on holiday.")
    order = ranked(client, "humira")
    assert order[0] == humira.id
    assert enbrel.id not in order


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("ace inhibitors", "Blood pressure", "GP added ramipril for my blood pressure."),
        ("ppi", "Heartburn", "Taking lansoprazole every morning now."),
        ("anticoagulants", "Clot", "On apixaban after the DVT."),
        ("bisphosphonates", "Bones", "Weekly alendronic acid since the steroids."),
        ("steroids", "Gut", "Budesonide for the flare instead of tablets."),
        ("antivirals", "Cold sore cream", "Valtrex for the shingles outbreak."),
        ("jak inhibitors", "New tablet", "Rinvoq has been great for my joints."),
        ("calcineurin inhibitors", "Levels", "Advagraf level came back a bit high."),
        ("aminosalicylates", "Colitis meds", "Octasa four times a day alongside aza."),
        ("thiopurines", "Switched", "Mercaptopurine suits me better than aza did."),
        ("anti-tnf", "Infusion", "Remicade every eight weeks at the unit."),
        ("ibd", "Gut trouble", "Crohn's since I was a teenager."),
    ],
)
def test_a_class_word_finds_a_member_named_thread(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("azathioprene side effects", "Starting out", "Imuran gave me a queasy first week."),
        ("azathiprine", "Blood checks", "Aza every morning, bloods monthly."),
        ("mycophenolat", "Clinic said", "MMF instead, starting on Monday."),
        ("mycofenolate", "Tablets changed", "CellCept twice a day since spring."),
        ("adalimumav", "Pens", "Humira every other Friday."),
        ("infliximabb", "Drip", "Remicade infusion went smoothly."),
    ],
)
def test_a_misspelled_drug_finds_its_brand_and_abbreviation_threads(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


def test_a_question_ranks_its_topic_over_shared_function_words(client):
    topic = post("Sunbeds", "Are sunbeds a bad idea with this medicine?")
    chatty = post(
        "Can I ask",
        "How long is it safe to keep a prescription before it goes off, should I ask?",
    )
    order = ranked(client, "how long is it safe to use sunbeds, should I?")
    assert order[0] == topic.id
    assert chatty.id not in order[:1]


def test_did_you_mean_never_suggests_a_word_only_a_hidden_post_has(app, client):
    """The hidden reply's thread shares an index segment with others (a full rebuild),
    so its old document lingers, deleted, in that segment's word list: a suggestion
    must come only from documents people can see."""
    from forum.moderation import service as moderation
    from forum.search import rebuild
    from forum.threads import service as threads

    mod = f.user("mod_zed", role="moderator")
    thread = post("Odd word", "Nothing special in the question itself.")
    reply = threads.add_reply(f.user(), thread, "My neighbour swears by quilliberry tea.")
    rebuild.rebuild()
    assert search(client, "quillibery").get("suggestion") == "quilliberry"
    moderation.set_post_hidden(mod, reply, True, "private details")
    data = search(client, "quillibery")
    assert "quilliberry" not in (data.get("suggestion") or "")
    assert thread.id not in [r["id"] for r in data["results"]]


def test_how_a_question_is_asked_weighs_less_than_its_topic(client):
    topic = post("Still spotty", "The rash has been there three weeks now.")
    timing = post("Kicking in", "It took four months to kick in for me.")
    order = ranked(client, "how long does a rash last?")
    assert order[0] == topic.id
    assert timing.id not in order[:1]
