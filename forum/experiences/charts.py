"""Accessible inline SVG bar charts: no JavaScript, scale to the screen, always titled.

Each chart is ``role="img"`` with a <title> and <desc> (read by screen readers) and is
meant to sit next to a real <table> holding the same numbers.
"""

from __future__ import annotations

import itertools

from markupsafe import Markup, escape

_ids = itertools.count(1)

ROW_H = 44  # a label line above each bar: long labels never need truncating on a phone
NOTE_H = 26  # a suppressed row: its label and "not shown" on one line
WIDTH = 360  # the dose chart's viewBox width
BAR_SHARE = 85  # a 100% bar spans this share of the chart's width (its label's line above)


def bar_chart(title: str, desc: str, bars: list[tuple[str, int | None]]) -> Markup:
    """Horizontal bars of percentages, as wide as the column they sit in.

    The SVG has no viewBox: x positions and bar widths are percentages of its width and
    text stays at the page's type size, so the chart fills a desktop column and stays
    readable on a phone. ``None`` (a suppressed cell) is one short muted line.
    """
    n = next(_ids)
    parts = []
    y = 0
    for label, percent in bars:
        if percent is None:
            parts.append(
                f'<text x="0" y="{y + 17}" class="chart-label">{escape(label)}'
                f'<tspan class="chart-note"> — not shown (small group)</tspan></text>'
            )
            y += NOTE_H
            continue
        share = max(0, min(percent, 100)) * BAR_SHARE / 100
        parts.append(
            f'<text x="0" y="{y + 15}" class="chart-label">{escape(label)}</text>'
            f'<rect x="0" y="{y + 21}" width="{max(share, 0.3):.2f}%" height="16" '
            f'class="chart-bar" rx="2"/>'
            f'<text x="{share + 1:.2f}%" y="{y + 34}" class="chart-value">{percent}%</text>'
        )
        y += ROW_H
    head = (
        f'<svg class="chart" role="img" aria-labelledby="chart-t{n} chart-d{n}" '
        f'width="100%" height="{max(y, 1) + 4}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title>'
        f'<desc id="chart-d{n}">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(parts) + "</svg>")  # noqa: S704 - texts escaped above


def breakdown_chart(title: str, block: dict) -> Markup:
    """A chart for a ``stats.cells`` breakdown."""
    rows = block["rows"]
    desc = "; ".join(
        f"{r['label']}: {'not shown (small group)' if r['suppressed'] else str(r['percent']) + '%'}"
        for r in rows
    )
    desc += f". Out of {block['denominator']} reports."
    return bar_chart(title, desc, [(r["label"], r["percent"]) for r in rows])


def dose_chart(steps: list[tuple[int, float]], now_week: int | None) -> Markup:
    """A step line of the daily dose by week, for the owner's own report.

    ``steps`` are (week, mg/day) in order; the line runs on to ``now_week`` when known.
    """
    n = next(_ids)
    end = max([w for w, _ in steps] + [now_week or 0, 1])
    top = max(d for _, d in steps) or 1
    w, h, left, bottom = WIDTH, 150, 44, 24
    x = lambda week: left + round((w - left - 10) * week / end)  # noqa: E731
    y = lambda dose: 8 + round((h - bottom - 8) * (1 - dose / top))  # noqa: E731
    points = []
    for i, (week, dose) in enumerate(steps):
        if i:
            points.append(f"{x(week)},{y(steps[i - 1][1])}")
        points.append(f"{x(week)},{y(dose)}")
    points.append(f"{x(end)},{y(steps[-1][1])}")
    desc = "; ".join(f"week {wk}: {d:g} mg/day" for wk, d in steps)
    return Markup(  # noqa: S704 - only numbers and escaped text are interpolated
        f'<svg class="chart dose-chart" role="img" aria-labelledby="chart-t{n} chart-d{n}" '
        f'viewBox="0 0 {w} {h}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">Daily dose by week</title>'
        f'<desc id="chart-d{n}">{escape(desc)}</desc>'
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" class="chart-axis"/>'
        f'<text x="{left - 4}" y="{y(top) + 5}" text-anchor="end" class="chart-value">'
        f"{top:g}</text>"
        f'<text x="{left - 4}" y="{h - bottom}" text-anchor="end" class="chart-value">0</text>'
        f'<text x="{left}" y="{h - 6}" class="chart-value">week 0</text>'
        f'<text x="{w - 10}" y="{h - 6}" text-anchor="end" class="chart-value">week {end}</text>'
        f'<polyline points="{" ".join(points)}" class="chart-line"/>'
        "</svg>"
    )
