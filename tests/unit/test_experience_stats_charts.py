"""The summary line and the SVG charts, on plain data (no database needed)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from forum.experiences import charts, service, stats


def snap(**kw):
    base = {"condition": "lupus", "side_effects": []}
    return {**base, **kw}


def test_summary_line_reads_like_a_person_would_say_it():
    s = snap(
        started_on="2026-01-01",
        dose_mg_per_day=100.0,
        tpmt="normal",
        side_effects=[{"side_effect": "nausea", "settled": True, "settled_week": 4}],
    )
    assert service.summary_text(s, date(2026, 5, 7)) == (
        "Lupus (SLE), 18 weeks on aza, 100 mg/day, TPMT normal, "
        "nausea and vomiting settled by week 4"
    )


def test_summary_line_for_someone_who_stopped_and_moved_on():
    s = snap(
        started_on="2025-01-01",
        stopped_on="2025-01-29",
        dose_mg_per_day=37.5,
        tpmt="not_tested",
        side_effects=[
            {"side_effect": "hair-loss", "settled": False},
            {"side_effect": "rash", "settled": None},
        ],
        helped="no",
        outcome="stopped",
        stop_reason="side_effects",
        moved_to="biologic",
        moved_to_outcome="better",
    )
    # Weeks count to the stop date, not to today.
    assert service.summary_text(s, date(2026, 1, 1)) == (
        "Lupus (SLE), 4 weeks on aza, 37.5 mg/day, TPMT not tested, hair loss ongoing, rash, "
        "helped: no, stopped (side effects), moved to a biologic, going better"
    )


def test_chart_is_an_accessible_full_width_image_with_escaped_text():
    svg = str(charts.bar_chart("<Title>", "a & b", [("<script>", 40), ("hidden", None)]))
    assert svg.startswith('<svg class="chart" role="img"')
    # As wide as its column, text at the page's size (no viewBox scaling it up or down).
    assert 'width="100%"' in svg and "viewBox=" not in svg
    assert "<title" in svg and "&lt;Title&gt;" in svg and "a &amp; b" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'width="34.00%"' in svg  # 40% of a full bar, which spans 85% of the width
    assert "not shown (small group)" in svg


def test_breakdown_chart_describes_every_bar():
    block = stats.cells(Counter(a=6, b=9), {"a": "Alpha", "b": "Beta"})
    svg = str(charts.breakdown_chart("Letters", block))
    assert "Alpha: 40%; Beta: 60%. Out of 15 reports." in svg


def test_dose_chart_steps_up_and_runs_on_to_now():
    svg = str(charts.dose_chart([(0, 50.0), (4, 100.0)], 10))
    assert 'role="img"' in svg and "week 0: 50 mg/day; week 4: 100 mg/day" in svg
    # x = 44 + 306 * week / 10, y = 8 + 118 * (1 - dose / 100): 50 mg to week 4, then 100.
    assert 'points="44,67 166,67 166,8 350,8"' in svg
