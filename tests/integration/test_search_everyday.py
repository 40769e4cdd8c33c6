"""Everyday words, by category, on threads written for these tests (not the judged
sample): each query uses one way of saying a thing, each thread another. The words come
from leaflets, a formulary and consumer-health phrasing (see docs/search.md, "Where a
word goes"); one case per kind of word, and cases for words that must stay apart."""

from __future__ import annotations

import pytest

from tests.integration.test_search_concepts import background, post, ranked  # noqa: F401


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        # symptoms and side effects
        ("vomiting", "Rough night", "Couldn't keep anything down after the new tablets."),
        ("feeling sick", "Mornings", "Churning stomach for an hour after each dose."),
        ("loss of appetite", "Meals", "I just can't face food at the moment."),
        ("diarrhoea", "Toilet trips", "Running to the loo six times before lunch."),
        ("hair loss", "Shower drain", "Clumps of hair in the plughole every morning."),
        ("mouth ulcers", "Eating hurts", "Three ulcers on my tongue this week."),
        ("itching", "Arms", "Itchiness on my forearms, no spots at all."),
        ("bruising", "Legs", "Black and blue after the slightest knock."),
        ("chills", "Evening", "Shivering under two duvets with chattering teeth."),
        ("influenza", "Bedbound", "Proper flu, the whole house has had it."),
        ("uti", "Ouch", "Burning when I pee since Saturday."),
        ("jaundice", "Mirror", "My skin looks yellowish and so do my eyes."),
        ("dark urine", "Odd colour", "Tea coloured urine this morning, calling the GP."),
        ("pancreatitis", "A&E", "Awful pain radiating to my back, amylase was sky high."),
        ("palpitations", "Heart", "Skipped beats when I lie down at night."),
        ("breathless", "Stairs", "Can't catch my breath on the stairs lately."),
        ("swollen glands", "Neck", "Noticed lumps in my neck when shaving."),
        ("brain fog", "Memory", "So forgetful and muddled at work lately."),
        ("insomnia", "Nights", "Lying awake till 4am most nights."),
        ("weight gain", "Scales", "Piled on weight since starting steroids."),
        ("low platelets", "Dots", "Tiny red dots on my shins, the GP mentioned petechiae."),
        # blood tests
        ("mcv", "Blood cells", "Mean cell volume is creeping up, they said that is expected."),
        ("bilirubin", "Yellow", "Gilbert's syndrome was found on my liver bloods."),
        ("tpmt", "Before starting", "Turns out I'm an intermediate metaboliser."),
        ("metabolites", "Levels back", "I'm a shunter, so they added allopurinol."),
        # life events
        ("dentist", "Teeth", "Wisdom tooth out next Tuesday."),
        ("shingles vaccine", "Jab", "Had my Shingrix this week, sore arm only."),
        ("male fertility", "Dad to be", "Becoming a dad soon, any worries with aza for men?"),
        # dosing, stopping, not working
        ("mg/kg", "How much", "Dose for my weight works out at 150mg a day."),
        ("missed dose", "Oops", "I keep forgetting to take my evening tablet."),
        ("empty stomach", "Tummy", "I take with food now and the queasiness went."),
        ("stop", "Fed up", "Went cold turkey last week."),
        ("not working", "Nothing", "Eight months in and I'm a non responder."),
        ("how long to work", "Patience", "How long before it starts to work?"),
        ("alcohol", "Friday", "Is a pint at the weekend allowed?"),
        ("prescription cost", "Paying", "Got a medical exemption certificate at last."),
        # treatment and everyday life
        ("injections", "Pens", "Self injecting in my thigh every other week."),
        ("crushing tablets", "Swallowing", "I can't swallow tablets, is there a liquid version?"),
        ("libido", "Private", "Zero sex drive since the new meds."),
        ("occupational health", "Work", "My employer agreed reasonable adjustments."),
        ("clinical trial", "Research", "Signed up for a research study at the hospital."),
        ("stomach problems", "Digestion", "Gut issues every afternoon."),
        ("kidney transplant", "Two years on", "My new kidney is doing well."),
    ],
)
def test_an_everyday_phrase_finds_another_way_of_saying_it(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("exercise", "Toilet trips", "Running to the toilet all morning."),
        ("haemorrhoids", "Scales", "Piled on weight since the steroids."),
        ("live vaccine", "Jab", "Had my Shingrix this week, sore arm only."),
        ("grapefruit", "Breakfast", "Orange juice every morning with my tablets."),
        ("rash", "Sunburnt", "Burned in the sun after ten minutes in the garden."),
        ("appointment", "Research", "Signed up for a clinical trial."),
    ],
)
def test_words_that_mean_other_things_stay_apart(client, q, title, body):
    unwanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert unwanted.id not in ranked(client, q)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("s1p modulators", "Colitis", "Started Zeposia capsules after vedolizumab stopped."),
        ("dmts", "MS update", "Moved from Tecfidera to Kesimpta pens."),
        ("dmards", "Rheumy plan", "Plaquenil plus sulfasalazine for now."),
        ("immunomodulators", "Crohn's", "Mercaptopurine alongside the infusions."),
        ("vaccines", "Autumn", "Had my flu jab and the Shingrix on the same day."),
        ("beta blockers", "Heart", "Bisoprolol for the palpitations now."),
        ("antiplatelets", "After the stent", "Clopidogrel for a year, they said."),
        ("calcium channel blockers", "Pressure", "Amlodipine made my ankles puff up."),
        ("xanthine oxidase inhibitors", "Gout", "Febuxostat and aza together is a no."),
        ("tacro", "Transplant", "Advagraf once a day, levels checked monthly."),
        ("metho", "Weekly", "Methotrexate pen on Sundays."),
        ("zessly", "Infusion", "Switched from Remicade to the biosimilar infliximab."),
    ],
)
def test_a_formulary_class_or_brand_finds_threads_naming_a_member(client, q, title, body):
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.parametrize(
    ("q", "title", "body"),
    [
        ("soriasis", "Skin", "Psoriasis on my elbows is clearing."),
        ("emuran", "Tablets", "Imuran 100mg since March."),
        ("crones", "Gut", "Crohn's diagnosed at nineteen."),
        ("neumonia", "Chest", "Pneumonia twice this winter."),
        ("hemroids", "Bottom", "Piles flaring with the constipation."),
        ("micofenolate", "Kidney", "CellCept twice a day since the transplant."),
    ],
)
def test_a_misspelling_the_corrector_cannot_reach_finds_the_right_spelling(client, q, title, body):
    """First letter changed or more than two letters off: the spelling corrector keeps
    the first letter and a small edit distance, so these are listed in the vocabulary."""
    wanted = post(title, body, conditions=["other"], medications=["other-medication"])
    assert wanted.id in ranked(client, q)


@pytest.mark.parametrize(
    "q",
    [
        "hi everyone, should I be worried about bruising?",
        "is it common to get bruising, has anyone experienced it",
        "can aza cause bruising or is that unrelated",
    ],
)
def test_question_wording_weighs_less_than_the_topic(client, q):
    topic = post("Shins", "Bruises appearing on my shins for no reason.")
    chatty = post(
        "Hello everyone",
        "Hi everyone, I was worried and concerned it would cause problems, has anyone "
        "experienced that? Is it common? Should I be worried?",
    )
    order = ranked(client, q)
    assert order[0] == topic.id
    assert chatty.id not in order[:1]


def test_colds_and_sore_throats_are_not_cold_sores(client):
    """Phrases skip stopwords, so "colds and sore throats" would read as "cold sores"
    followed by "throats"; the whole phrase names infections and sore throats instead."""
    throats = post("Winter", "I keep getting colds and sore throats this year.")
    lip = post("Lip", "A cold sore on my top lip again.")
    assert throats.id in ranked(client, "sore throat")
    assert throats.id in ranked(client, "infections")
    order = ranked(client, "cold sores")
    assert order[0] == lip.id


def test_a_question_about_regrowth_finds_hair_threads(client):
    wanted = post("Temples", "Regrowth at my temples at last, six months on.")
    post("Nails", "Ridges on my thumbnails lately.")
    assert wanted.id in ranked(client, "did your hair grow back after stopping?")
