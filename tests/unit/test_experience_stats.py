"""Every aggregate of "What patients report", checked against numbers worked out by hand.

The data set (ten opted-in lupus reports R1..R10, one opted-out lupus report, one Crohn's
report) is laid out in ``lupus_reports``; the expected numbers are derived in comments.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from forum.experiences import service, stats
from forum.experiences.stats import Filters
from tests import factories

TODAY = date(2026, 6, 1)
RECENT = date(2026, 5, 1)  # 31 days before TODAY: under 3 months
HALF_YEAR = date(2025, 12, 1)  # 182 days: 3-12 months
LONG_AGO = date(2020, 1, 1)  # over 3 years


def save(user, condition="lupus", **data):
    data.setdefault("steps", [])
    data.setdefault("side_effects", [])
    return service.save_report(user, condition, data, confirmed=True, today=TODAY)


def se(slug, severity=None, began=None, settled=None, settled_week=None):
    return {
        "side_effect": slug,
        "severity": severity,
        "began_week": began,
        "settled": settled,
        "settled_week": settled_week,
    }


def steps(*pairs):
    return [{"week": w, "on_date": None, "dose_mg": d} for w, d in pairs]


@pytest.fixture
def lupus_reports(app):
    u = [factories.user(f"lupus_{i}") for i in range(1, 12)]
    nausea = [  # (severity, began, settled, settled_week) for R1..R7
        ("mild", 1, True, 4),
        ("mild", 2, True, 4),
        ("mild", 2, True, 6),
        ("mild", 3, True, 8),
        ("mild", 4, True, 8),
        ("moderate", 6, True, 10),
        ("moderate", 8, False, None),
    ]
    doses = [50, 100, 100, 100, 100, 100, 150, 150, 150, 150]
    tpmt = ["normal"] * 6 + ["intermediate"] * 3 + [None]
    started = [RECENT] * 4 + [HALF_YEAR] * 5 + [LONG_AGO]
    helped = [("yes", 6), ("yes", 8), ("yes", 10), ("yes", 12), ("yes", 12), ("yes", 20)]
    helped += [("no", None), ("not_yet", None), ("unsure", None), (None, None)]
    outcome = ["still_taking"] * 5 + ["dose_reduced"] + ["stopped"] * 4
    stop_reason = [None] * 6 + ["side_effects", "side_effects", "didnt_work", "remission"]
    moved = [None] * 6 + ["mycophenolate", "mycophenolate", None, None]
    titration = [
        steps((0, 25), (2, 50)),
        steps((0, 50), (4, 100)),
        steps((0, 50), (2, 75), (6, 100)),
        steps((0, 25), (2, 50), (4, 75), (8, 100)),
        steps((0, 50), (4, 100)),
        [  # dates only: the second step is 70 days (week 10) after the start
            {"week": None, "on_date": HALF_YEAR, "dose_mg": 50},
            {"week": None, "on_date": date(2026, 2, 9), "dose_mg": 100},
        ],
    ] + [[]] * 4
    for i in range(10):
        effects = []
        if i < 7:
            sev, began, settled, sw = nausea[i]
            effects.append(se("nausea", sev, began, settled, sw))
        if i < 5:
            effects.append(se("hair-loss"))
        if i == 7:
            effects.append(se("rash", "severe", 3))
        save(
            u[i],
            started_on=started[i],
            dose_mg_per_day=doses[i],
            weight_kg=50 if i < 5 else None,
            tpmt=tpmt[i],
            helped=helped[i][0],
            helped_after_weeks=helped[i][1],
            outcome=outcome[i],
            stop_reason=stop_reason[i],
            moved_to=moved[i],
            steps=titration[i],
            side_effects=effects,
        )
    # R11 opted out: would change every number if it were counted.
    save(
        u[10],
        started_on=RECENT,
        dose_mg_per_day=300,
        tpmt="low",
        outcome="stopped",
        stop_reason="blood_results",
        side_effects=[se("nausea", "severe", 1), se("pancreatitis", "severe", 2)],
        include_in_summaries=False,
    )
    for i in range(5):
        save(factories.user(f"crohns_{i}"), "crohns", dose_mg_per_day=125, tpmt="normal")
    return u


def row(block, key):
    return next(r for r in block["rows"] if r["key"] == key)


def test_counts_only_opted_in_reports_of_the_condition(lupus_reports):
    result = stats.compute(Filters(condition="lupus"), TODAY)
    assert result["enough"] is True
    assert result["reports"] == 10  # R11 opted out, the Crohn's report is another condition
    assert stats.compute(Filters(), TODAY)["reports"] == 15  # ten lupus + five Crohn's


def test_side_effects(lupus_reports):
    se_block = stats.compute(Filters(condition="lupus"), TODAY)["side_effects"]
    assert se_block["denominator"] == 10
    names = [i["slug"] for i in se_block["items"]]
    assert names == ["nausea", "hair-loss"]  # rash (1 report) is below the group minimum
    assert se_block["unlisted"] is True
    nausea, hair = se_block["items"]
    assert (nausea["count"], nausea["percent"]) == (7, 70)
    assert (hair["count"], hair["percent"]) == (5, 50)
    # Onset weeks 1,2,2,3,4,6,8 -> median 3; 6 of the 7 settled -> 86%; settled weeks
    # 4,4,6,8,8,10 -> median 7.
    assert nausea["median_onset_week"] == 3
    assert nausea["settled"] == {"answered": 7, "percent": 86}
    assert nausea["median_settled_week"] == 7
    # Severity: mild 5 of 7 (71%); moderate 2 and the empty cells are hidden.
    assert row(nausea["severity"], "mild")["percent"] == 71
    assert row(nausea["severity"], "mild")["count"] == 5
    assert row(nausea["severity"], "moderate")["suppressed"] is True
    assert row(nausea["severity"], "moderate")["count"] is None
    # Hair loss: nobody gave a week or a settled answer, so no median and no percentage.
    assert hair["median_onset_week"] is None and hair["settled"] is None
    assert row(hair["severity"], "unsaid")["count"] == 5
    assert se_block["none_reported"] is None  # R9 and R10: only 2


def test_doses_and_titration(lupus_reports):
    doses = stats.compute(Filters(condition="lupus"), TODAY)["doses"]
    bands = doses["bands"]
    assert bands["denominator"] == 10
    assert row(bands, "100-149")["count"] == 5 and row(bands, "100-149")["percent"] == 50
    for key in ("under-50", "50-99", "150-plus"):  # 0, 1 and 4 reports
        assert row(bands, key)["suppressed"] is True
    assert doses["median_dose"] == 100  # 50, 100 x5, 150 x4
    assert doses["median_mg_per_kg"] == 2  # 50/50 = 1, then 100/50 = 2 four times
    t = doses["titration"]
    assert t["reports"] == 6
    assert t["median_start_dose"] == 50  # 25, 25, 50, 50, 50, 50
    assert t["median_steps"] == 2  # 2, 2, 2, 2, 3, 4
    assert t["median_weeks_to_final"] == 5  # 2, 4, 4, 6, 8, 10 (R6 from its dates)


def test_time_to_help(lupus_reports):
    help_ = stats.compute(Filters(condition="lupus"), TODAY)["time_to_help"]
    answers = help_["answers"]
    assert answers["denominator"] == 9  # R10 did not answer
    assert row(answers, "yes")["count"] == 6 and row(answers, "yes")["percent"] == 67
    assert all(row(answers, k)["suppressed"] for k in ("no", "not_yet", "unsure"))
    assert help_["median_weeks"] == 11  # 6, 8, 10, 12, 12, 20
    # Bands 1, 4, 1, 0 out of 6: every cell is below the minimum.
    assert help_["bands"]["denominator"] == 6
    assert all(r["suppressed"] for r in help_["bands"]["rows"])


def test_tpmt_outcomes_and_small_denominators(lupus_reports):
    result = stats.compute(Filters(condition="lupus"), TODAY)
    assert result["tpmt"]["denominator"] == 9
    assert row(result["tpmt"], "normal")["percent"] == 67  # 6 of 9
    assert row(result["tpmt"], "low")["count"] is None  # only the opted-out report said low
    outcomes = result["outcomes"]
    assert row(outcomes, "still_taking")["percent"] == 50
    assert row(outcomes, "stopped")["suppressed"] is True  # 4
    # 4 people stopped and 2 moved: too few to break down at all, not even the total.
    assert result["stop_reasons"] == {"denominator": None, "enough": False, "rows": []}
    assert result["moved_to"]["enough"] is False
    assert result["moved_how"] == {}


def test_filters(lupus_reports):
    def n(**kw):
        return stats.compute(Filters(condition="lupus", **kw), TODAY)["reports"]

    assert n(tpmt="intermediate") is None  # 3 reports
    assert n(dose_band="100-149") == 5
    assert n(duration="3-12-months") == 5
    assert n(duration="3-years-plus") is None  # 1 report: hidden
    # Four reports: below the minimum, so nothing but "too few" (5 would be shown).
    under3 = stats.compute(Filters(condition="lupus", duration="under-3-months"), TODAY)
    assert under3 == {
        "filters": {"condition": "lupus", "duration": "under-3-months"},
        "min_group": 5,
        "enough": False,
        "reports": None,
    }


def test_a_selection_that_leaves_out_one_to_four_reports_is_hidden(lupus_reports):
    # TPMT normal: 6 of the 10 lupus reports. Showing it next to "all lupus" would let
    # anyone subtract and read what the other 4 reported, so it is hidden too.
    assert stats.compute(Filters(condition="lupus", tpmt="normal"), TODAY)["enough"] is False
    # Dose 100-149: 5 of 10, so the 5 others are a group big enough to show anyway.
    assert stats.compute(Filters(condition="lupus", dose_band="100-149"), TODAY)["reports"] == 5


def test_a_condition_is_hidden_when_the_other_conditions_are_one_to_four_reports(app):
    for i in range(6):
        save(factories.user(f"l_{i}"), dose_mg_per_day=100)
    for i in range(2):
        save(factories.user(f"c_{i}"), "crohns", dose_mg_per_day=100)
    assert stats.compute(Filters(), TODAY)["reports"] == 8
    assert stats.compute(Filters(condition="lupus"), TODAY)["enough"] is False  # 8 - 6 = 2
    save(factories.user("c_2"), "crohns")
    save(factories.user("c_3"), "crohns")
    save(factories.user("c_4"), "crohns")
    assert stats.compute(Filters(condition="lupus"), TODAY)["reports"] == 6  # 11 - 6 = 5


def test_cells_hide_small_groups_and_their_complement():
    labels = {"a": "A", "b": "B", "c": "C"}
    block = stats.cells(Counter(a=10, b=6, c=2), labels)
    # c (2) is hidden; b, the smallest shown, is hidden too or 18 - 10 - 6 would give c away.
    assert [r["count"] for r in block["rows"]] == [10, None, None]
    assert block["denominator"] == 18 and block["rows"][0]["percent"] == 56
    # A single empty cell gives nothing away, so nothing else is hidden.
    block = stats.cells(Counter(a=10, b=6), labels)
    assert [r["count"] for r in block["rows"]] == [10, 6, None]
    assert stats.cells(Counter(a=4), labels)["enough"] is False


def test_threads_behind_numbers_need_five_reports(lupus_reports):
    count, threads = stats.threads_behind(
        Filters(condition="lupus"), {"side_effect": "hair-loss"}, TODAY
    )
    assert count == 5 and threads == []  # nobody attached a question yet
    count, _ = stats.threads_behind(Filters(condition="lupus"), {"side_effect": "rash"}, TODAY)
    assert count is None


def test_csv_holds_the_same_aggregates(lupus_reports):
    rows = stats.csv_rows(stats.compute(Filters(condition="lupus"), TODAY))
    assert rows[0] == ["section", "item", "detail", "count", "denominator", "percent"]
    assert ["side_effects", "Nausea and vomiting", "reported", 7, 10, 70] in rows
    assert ["side_effects", "Nausea and vomiting", "mild", 5, 7, 71] in rows
    hidden = "not shown (small group)"
    assert ["side_effects", "Nausea and vomiting", "moderate", hidden, 7, ""] in rows
    assert ["titration", "median weeks to final dose", "", 5.0, 6, ""] in rows
    assert not any("lupus_" in str(cell) for r in rows for cell in r)
