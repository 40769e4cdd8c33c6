"""The warning-sign detector, measured on a labelled set of sentences written for it.

tests/data/warning_signs.jsonl holds one {"text", "label"} per line: 1 when the writer
describes having a sign that should send them to their care team today, 0 for
negations, resolved signs, advice lists, hypotheticals, the distant past and unrelated
uses of the words ("yellow t-shirt", "bleeding heart").
"""

import json
from pathlib import Path

import pytest

from forum.safety import WARNING_SIGNS, find_warning_signs, has_warning_signs

DATA = Path(__file__).parents[1] / "data" / "warning_signs.jsonl"


def _labelled():
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_labelled_set_is_large_and_balanced():
    rows = _labelled()
    positives = sum(r["label"] for r in rows)
    assert len(rows) >= 120
    assert positives >= 50 and len(rows) - positives >= 50


def test_precision_and_recall_on_labelled_set():
    tp = fp = fn = tn = 0
    misses = []
    for row in _labelled():
        predicted = has_warning_signs(row["text"])
        if predicted and row["label"]:
            tp += 1
        elif predicted:
            fp += 1
            misses.append(("false alarm", row["text"]))
        elif row["label"]:
            fn += 1
            misses.append(("missed", row["text"]))
        else:
            tn += 1
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(
        f"\nwarning signs: {tp + fp + fn + tn} sentences, tp={tp} fp={fp} fn={fn} tn={tn}, "
        f"precision={precision:.3f} recall={recall:.3f}"
    )
    for kind, text in misses:
        print(f"  {kind}: {text}")
    assert precision >= 0.9
    assert recall >= 0.9


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I've had a fever since last night", ["fever"]),
        ("my poo has been black for two days and my eyes look yellow", ["jaundice", "stools"]),
        ("Severe stomach pain since Tuesday", ["stomach_pain"]),
        ("Gums bleeding and bruises on my legs", ["bruising_bleeding"]),
    ],
)
def test_categories(text, expected):
    assert find_warning_signs(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "no fever",
        "No fever, no chills.",
        "fever's gone",
        "never had a sore throat",
        "Temperature normal at 36.9",
        "I wore a yellow t-shirt",
        "a bleeding heart in the garden",
        "hay fever is bad this year",
    ],
)
def test_does_not_fire(text):
    assert find_warning_signs(text) == []


def test_a_post_that_only_names_the_list_does_not_fire():
    post = (
        "Starting aza next week. My nurse went through what to watch for:\n"
        "- fever or chills\n"
        "- sore throat\n"
        "- unusual bruising or bleeding\n"
        "- yellow skin or eyes\n"
        "- black stools\n"
        "Is that the same list everyone else got?"
    )
    assert find_warning_signs(post) == []


def test_a_post_that_names_the_list_and_then_a_symptom_fires():
    post = (
        "They told me to watch for fever, bruising, sore throat and yellow eyes. "
        "Well, since Sunday I've had a sore throat and it's getting worse."
    )
    assert find_warning_signs(post) == ["sore_throat"]


def test_personal_symptom_list_fires():
    post = "My symptoms today:\n- fever of 38.9\n- a really sore throat"
    assert find_warning_signs(post) == ["fever", "sore_throat"]


def test_every_category_has_a_plain_label():
    assert len(WARNING_SIGNS) == 8
    assert all(label and label[0].islower() for label in WARNING_SIGNS.values())
