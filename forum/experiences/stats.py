"""What patients report: aggregates over experience reports, with the privacy rules built in.

``compute(filters)`` is the single source for the /reports page, the CSV download and
``GET /api/v1/stats``, so all three always agree. The rules:

- only reports whose owner left "include my report in the summaries" on are counted;
- a filter selection with fewer than ``MIN_GROUP`` reports shows nothing but that fact, and
  so does one that differs from a wider selection by 1-4 reports (no differencing);
- any cell (a count in a group) below ``MIN_GROUP`` is suppressed, and when a breakdown
  has exactly one suppressed non-empty cell the next-smallest is suppressed too, so the
  hidden value cannot be worked out from the total;
- no minimum or maximum is ever reported, medians need ``MIN_GROUP`` values, and
  percentages are whole numbers.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import vocabulary
from ..cache import content_version
from ..extensions import db
from ..models import Thread
from ..services import ValidationError
from . import models as m
from .models import ExperienceReport

MIN_GROUP = 5

DOSE_BANDS = {
    "under-50": ("under 50 mg/day", 0, 50),
    "50-99": ("50–99 mg/day", 50, 100),
    "100-149": ("100–149 mg/day", 100, 150),
    "150-plus": ("150 mg/day or more", 150, float("inf")),
}
# Time on treatment, in days from the start to the stop date (or today).
DURATIONS = {
    "under-3-months": ("under 3 months", 0, 91),
    "3-12-months": ("3–12 months", 91, 365),
    "1-3-years": ("1–3 years", 365, 1096),
    "3-years-plus": ("3 years or more", 1096, 10**6),
}
HELP_BANDS = {
    "under-8": ("under 8 weeks", 0, 8),
    "8-12": ("8–12 weeks", 8, 13),
    "13-26": ("13–26 weeks", 13, 27),
    "over-26": ("over 26 weeks", 27, 10**6),
}
SEVERITY_KEYS = {**m.SEVERITIES, "unsaid": "not said"}


@dataclass(frozen=True)
class Filters:
    condition: str | None = None
    tpmt: str | None = None
    dose_band: str | None = None
    duration: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def describe(self) -> str:
        parts = []
        if self.condition:
            parts.append(vocabulary.name_of("condition", self.condition))
        if self.tpmt:
            parts.append(f"TPMT {m.TPMT[self.tpmt]}")
        if self.dose_band:
            parts.append(DOSE_BANDS[self.dose_band][0])
        if self.duration:
            parts.append(f"{DURATIONS[self.duration][0]} on aza")
        return ", ".join(parts) or "everyone"


def parse_filters(args: Any, condition: str | None = None) -> Filters:
    """Read filters from query arguments; an unknown value is a 400, not an empty page."""
    values = {
        "condition": condition or args.get("condition") or None,
        "tpmt": args.get("tpmt") or None,
        "dose_band": args.get("dose_band") or None,
        "duration": args.get("duration") or None,
    }
    known = {
        "condition": {t.slug for t in vocabulary.CONDITIONS},
        "tpmt": m.TPMT,
        "dose_band": DOSE_BANDS,
        "duration": DURATIONS,
    }
    errors = {k: "Unknown value." for k, v in values.items() if v and v not in known[k]}
    if errors:
        raise ValidationError("Unknown filter value.", errors)
    return Filters(**values)


def _in_band(value: float | None, band: tuple) -> bool:
    return value is not None and band[1] <= value < band[2]


def _days_on(report: ExperienceReport, today: date) -> int | None:
    if not report.started_on:
        return None
    return ((report.stopped_on or today) - report.started_on).days


def qualifying(
    filters: Filters, today: date | None = None, *, details: bool = True
) -> list[ExperienceReport]:
    """Reports counted for this selection: opted in, and matching every filter.

    ``details`` loads their side effects and steps too (not needed just to count).
    """
    today = today or date.today()
    query = (
        select(ExperienceReport)
        .where(ExperienceReport.include_in_summaries.is_(True))
        .order_by(ExperienceReport.id)
    )
    if details:
        query = query.options(
            selectinload(ExperienceReport.side_effects), selectinload(ExperienceReport.steps)
        )
    if filters.condition:
        query = query.where(ExperienceReport.condition == filters.condition)
    if filters.tpmt:
        query = query.where(ExperienceReport.tpmt == filters.tpmt)
    reports = list(db.session.scalars(query))
    if filters.dose_band:
        band = DOSE_BANDS[filters.dose_band]
        reports = [r for r in reports if _in_band(r.dose_mg_per_day, band)]
    if filters.duration:
        band = DURATIONS[filters.duration]
        reports = [r for r in reports if _in_band(_days_on(r, today), band)]
    return reports


# --- privacy-safe building blocks ---------------------------------------------------------


def pct(count: int, denominator: int) -> int:
    return round(100 * count / denominator) if denominator else 0


def cells(counts: Counter, labels: dict[str, str], *, drop_empty: bool = False) -> dict:
    """A breakdown whose categories partition its denominator, with small cells hidden."""
    denominator = sum(counts[k] for k in labels)
    if denominator < MIN_GROUP:
        return {"denominator": None, "enough": False, "rows": []}
    rows = [{"key": k, "label": v, "count": counts[k]} for k, v in labels.items()]
    hidden = {r["key"] for r in rows if r["count"] < MIN_GROUP}
    if len(hidden) == 1 and counts[next(iter(hidden))] > 0:
        visible = sorted((r for r in rows if r["key"] not in hidden), key=lambda r: r["count"])
        if visible:
            hidden.add(visible[0]["key"])
    out = []
    for r in rows:
        if r["key"] in hidden:
            if drop_empty and r["count"] == 0:
                continue
            out.append({**r, "count": None, "percent": None, "suppressed": True})
        else:
            out.append({**r, "percent": pct(r["count"], denominator), "suppressed": False})
    return {"denominator": denominator, "enough": denominator >= MIN_GROUP, "rows": out}


def median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None]
    if len(values) < MIN_GROUP:
        return None
    return round(float(statistics.median(values)), 1)


def _count(reports: list[ExperienceReport], key: Callable) -> Counter:
    return Counter(v for v in (key(r) for r in reports) if v)


# --- sections -------------------------------------------------------------------------------


def _side_effects(reports: list[ExperienceReport]) -> dict:
    n = len(reports)
    by_slug: dict[str, list] = {}
    for r in reports:
        for se in r.side_effects:
            by_slug.setdefault(se.side_effect, []).append(se)
    items = []
    for slug, rows in by_slug.items():
        if len(rows) < MIN_GROUP:
            continue
        settled_known = [se.settled for se in rows if se.settled is not None]
        settled = None
        if len(settled_known) >= MIN_GROUP:
            settled = {
                "answered": len(settled_known),
                "percent": pct(sum(settled_known), len(settled_known)),
            }
        items.append(
            {
                "slug": slug,
                "name": vocabulary.name_of("side_effect", slug),
                "count": len(rows),
                "percent": pct(len(rows), n),
                "severity": cells(Counter(se.severity or "unsaid" for se in rows), SEVERITY_KEYS),
                "median_onset_week": median(se.began_week for se in rows),
                "settled": settled,
                "median_settled_week": median(se.settled_week for se in rows if se.settled),
            }
        )
    items.sort(key=lambda i: (-i["count"], i["name"]))
    none = sum(1 for r in reports if not r.side_effects)
    return {
        "denominator": n,
        "items": items,
        "none_reported": {"count": none, "percent": pct(none, n)} if none >= MIN_GROUP else None,
        "unlisted": any(len(rows) < MIN_GROUP for rows in by_slug.values()),
    }


def _dose_band_of(dose: float | None) -> str | None:
    for key, band in DOSE_BANDS.items():
        if _in_band(dose, band):
            return key
    return None


def _final_week(report: ExperienceReport) -> int | None:
    """The week the last titration step began (from a date when only a date was given)."""
    last = report.steps[-1]
    if last.week is not None:
        return last.week
    if last.on_date and report.started_on:
        return max(0, (last.on_date - report.started_on).days // 7)
    return None


def _doses(reports: list[ExperienceReport]) -> dict:
    labels = {k: v[0] for k, v in DOSE_BANDS.items()}
    with_steps = [r for r in reports if r.steps]
    return {
        "bands": cells(_count(reports, lambda r: _dose_band_of(r.dose_mg_per_day)), labels),
        "median_dose": median(r.dose_mg_per_day for r in reports),
        "median_mg_per_kg": median(r.mg_per_kg for r in reports),
        "titration": {
            "reports": len(with_steps) if len(with_steps) >= MIN_GROUP else None,
            "median_start_dose": median(r.steps[0].dose_mg for r in with_steps),
            "median_steps": median(len(r.steps) for r in with_steps),
            "median_weeks_to_final": median(_final_week(r) for r in with_steps),
        },
    }


def _help_band(weeks: int | None) -> str | None:
    for key, band in HELP_BANDS.items():
        if _in_band(weeks, band):
            return key
    return None


def _time_to_help(reports: list[ExperienceReport]) -> dict:
    helped = [r for r in reports if r.helped == "yes"]
    return {
        "answers": cells(_count(reports, lambda r: r.helped), m.HELPED),
        "median_weeks": median(r.helped_after_weeks for r in helped),
        "bands": cells(
            _count(helped, lambda r: _help_band(r.helped_after_weeks)),
            {k: v[0] for k, v in HELP_BANDS.items()},
        ),
    }


def _outcomes(reports: list[ExperienceReport]) -> dict:
    stopped = [r for r in reports if r.outcome == "stopped"]
    moved = [r for r in reports if r.moved_to]
    how = {}
    for key, label in m.MOVED_TO.items():
        group = [r for r in moved if r.moved_to == key]
        if len(group) >= MIN_GROUP:
            how[key] = {
                "label": label,
                "went": cells(_count(group, lambda r: r.moved_to_outcome), m.MOVED_OUTCOMES),
            }
    return {
        "outcomes": cells(_count(reports, lambda r: r.outcome), m.OUTCOMES),
        "stop_reasons": cells(_count(stopped, lambda r: r.stop_reason), m.STOP_REASONS),
        "moved_to": cells(_count(moved, lambda r: r.moved_to), m.MOVED_TO),
        "moved_how": how,
    }


def _small_complement(filters: Filters, n: int, today: date | None) -> bool:
    """True when dropping one filter adds only 1-4 reports.

    Otherwise comparing "lupus" with "lupus, TPMT normal" would show what the few people
    left out reported, one subtraction at a time.
    """
    for key in filters.as_dict():
        wider = Filters(**{**filters.as_dict(), key: None})
        if 0 < len(qualifying(wider, today, details=False)) - n < MIN_GROUP:
            return True
    return False


def compute(filters: Filters, today: date | None = None) -> dict[str, Any]:
    """Every aggregate for this selection, already privacy-safe (see the module docstring)."""
    reports = qualifying(filters, today)
    enough = len(reports) >= MIN_GROUP and not _small_complement(filters, len(reports), today)
    result: dict[str, Any] = {
        "filters": filters.as_dict(),
        "min_group": MIN_GROUP,
        "enough": enough,
        "reports": len(reports) if enough else None,
    }
    if not enough:
        return result
    result["tpmt"] = cells(_count(reports, lambda r: r.tpmt), m.TPMT)
    result["side_effects"] = _side_effects(reports)
    result["doses"] = _doses(reports)
    result["time_to_help"] = _time_to_help(reports)
    result.update(_outcomes(reports))
    return result


# --- from a number to the threads behind it --------------------------------------------

CRITERIA = {
    "side_effect": lambda r, v: any(se.side_effect == v for se in r.side_effects),
    "outcome": lambda r, v: r.outcome == v,
    "stop_reason": lambda r, v: r.stop_reason == v,
    "moved_to": lambda r, v: r.moved_to == v,
    "helped": lambda r, v: r.helped == v,
    "band": lambda r, v: _dose_band_of(r.dose_mg_per_day) == v,
}


def describe_criteria(criteria: dict[str, str]) -> str:
    """Words for what a link counted: "report hair loss", "stopped: side effects"."""
    parts = []
    for key, value in criteria.items():
        if key == "side_effect":
            parts.append(f"report {vocabulary.name_of('side_effect', value).lower()}")
        elif key == "outcome":
            parts.append(m.OUTCOMES[value])
        elif key == "stop_reason":
            parts.append(f"stopped because of {m.STOP_REASONS[value]}")
        elif key == "moved_to":
            parts.append(f"moved to {m.MOVED_TO[value]}")
        elif key == "helped":
            parts.append(f"answered “has it helped?” with {m.HELPED[value]}")
        elif key == "band":
            parts.append(f"take {DOSE_BANDS[value][0]}")
    return " and ".join(parts) or "sent a report"


def condition_counts() -> list[tuple[str, str, int]]:
    """(slug, name, reports) for each condition with enough opted-in reports to summarise."""
    rows = db.session.execute(
        select(ExperienceReport.condition, func.count())
        .where(ExperienceReport.include_in_summaries.is_(True))
        .group_by(ExperienceReport.condition)
    )
    counts = dict(rows.all())
    total = sum(counts.values())
    return [
        (t.slug, t.name, counts[t.slug])
        for t in vocabulary.CONDITIONS
        if counts.get(t.slug, 0) >= MIN_GROUP and not 0 < total - counts[t.slug] < MIN_GROUP
    ]


def parse_criteria(args: Any) -> dict[str, str]:
    known = {
        "side_effect": {t.slug for t in vocabulary.SIDE_EFFECTS},
        "outcome": m.OUTCOMES,
        "stop_reason": m.STOP_REASONS,
        "moved_to": m.MOVED_TO,
        "helped": m.HELPED,
        "band": DOSE_BANDS,
    }
    crit = {k: args.get(k) for k in known if args.get(k)}
    if any(v not in known[k] for k, v in crit.items()):
        raise ValidationError("Unknown value.")
    return crit


def threads_behind(
    filters: Filters, criteria: dict[str, str], today: date | None = None
) -> tuple[int | None, list[Thread]]:
    """(number of reports matching, their visible attached threads).

    The number is None and no threads are listed when fewer than MIN_GROUP reports
    match, so a link can never narrow down to one person.
    """
    reports = [
        r for r in qualifying(filters, today) if all(CRITERIA[k](r, v) for k, v in criteria.items())
    ]
    if len(reports) < MIN_GROUP:
        return None, []
    ids = {r.thread_id for r in reports if r.thread_id}
    if not ids:
        return len(reports), []
    threads = db.session.scalars(
        select(Thread)
        .where(Thread.id.in_(ids), Thread.is_hidden.is_(False), Thread.is_deleted.is_(False))
        .order_by(Thread.last_activity_at.desc())
    )
    owners = {r.thread_id: r.user_id for r in reports}
    return len(reports), [t for t in threads if t.author_id == owners.get(t.id)]


# --- CSV ---------------------------------------------------------------------------------


def _v(value: Any) -> Any:
    return "" if value is None else value


def csv_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Flatten the aggregates into (section, item, detail, count, denominator, percent)."""
    rows: list[list[Any]] = [["section", "item", "detail", "count", "denominator", "percent"]]
    scope = result["filters"] or {}
    rows.append(["selection", Filters(**scope).describe(), "", _v(result["reports"]), "", ""])
    if not result["enough"]:
        rows.append(["selection", f"too few reports yet (fewer than {MIN_GROUP})", "", "", "", ""])
        return rows

    def breakdown(section: str, item: str, block: dict) -> None:
        for c in block["rows"]:
            count = c["count"] if not c["suppressed"] else "not shown (small group)"
            rows.append(
                [section, item, c["label"], count, _v(block["denominator"]), _v(c["percent"])]
            )

    breakdown("tpmt", "", result["tpmt"])
    se = result["side_effects"]
    for item in se["items"]:
        rows.append(
            [
                "side_effects",
                item["name"],
                "reported",
                item["count"],
                se["denominator"],
                item["percent"],
            ]
        )
        breakdown("side_effects", item["name"], item["severity"])
        rows.append(
            [
                "side_effects",
                item["name"],
                "median week of onset",
                _v(item["median_onset_week"]),
                "",
                "",
            ]
        )
        if item["settled"]:
            rows.append(
                [
                    "side_effects",
                    item["name"],
                    "settled",
                    "",
                    item["settled"]["answered"],
                    item["settled"]["percent"],
                ]
            )
    doses = result["doses"]
    breakdown("doses", "dose now", doses["bands"])
    rows.append(["doses", "median dose (mg/day)", "", _v(doses["median_dose"]), "", ""])
    rows.append(["doses", "median dose (mg/kg)", "", _v(doses["median_mg_per_kg"]), "", ""])
    t = doses["titration"]
    rows.append(
        [
            "titration",
            "median start dose (mg/day)",
            "",
            _v(t["median_start_dose"]),
            _v(t["reports"]),
            "",
        ]
    )
    rows.append(
        ["titration", "median number of steps", "", _v(t["median_steps"]), _v(t["reports"]), ""]
    )
    rows.append(
        [
            "titration",
            "median weeks to final dose",
            "",
            _v(t["median_weeks_to_final"]),
            _v(t["reports"]),
            "",
        ]
    )
    breakdown("time_to_help", "did it help", result["time_to_help"]["answers"])
    rows.append(
        [
            "time_to_help",
            "median weeks before it helped",
            "",
            _v(result["time_to_help"]["median_weeks"]),
            "",
            "",
        ]
    )
    breakdown("time_to_help", "weeks before it helped", result["time_to_help"]["bands"])
    breakdown("outcomes", "", result["outcomes"])
    breakdown("stop_reasons", "", result["stop_reasons"])
    breakdown("moved_to", "", result["moved_to"])
    for block in result["moved_how"].values():
        breakdown("moved_to", block["label"], block["went"])
    return rows


# --- answer cards: one side effect, in a sentence or two ----------------------------------


def side_effect_answer(
    slug: str, condition: str | None = None, today: date | None = None
) -> dict[str, Any] | None:
    """What the reports say about one side effect (optionally within one condition), for
    the answer card on search, side-effect pages and the ask form.

    Built from ``compute`` alone, so every rule above applies unchanged: None when the
    selection itself is too small to show; ``count`` None when fewer than ``MIN_GROUP``
    reports mention the side effect (nothing more is said about them then).
    """
    if vocabulary.get("side_effect", slug) is None:
        return None
    result = _side_effect_summary(condition, today or date.today())
    if result is None:
        return None
    item = result["items"].get(slug)
    answer: dict[str, Any] = {
        "slug": slug,
        "name": vocabulary.name_of("side_effect", slug),
        "condition": condition,
        "condition_name": vocabulary.name_of("condition", condition) if condition else None,
        "reports": result["reports"],
        "count": None,
        "min_group": MIN_GROUP,
    }
    if item is not None:
        answer.update(
            count=item["count"],
            percent=item["percent"],
            onset_week=item["median_onset_week"],
            settled=item["settled"],
            settled_week=item["median_settled_week"],
        )
    return answer


def _side_effect_summary(condition: str | None, today: date) -> dict[str, Any] | None:
    """``compute(Filters(condition=condition), today)``'s report count and side-effect items
    (by slug), or None when too few to show: what every answer card of that condition needs.

    Remembered per app for the database's content version (forum/cache.py), which every
    committed write bumps - a saved, changed or deleted report, an opt-out - and for the
    day, so a card is never older than the last write this process can see. Computing it
    loads every counted report with its side effects and steps (~15 ms at 136 reports),
    which a search naming a side effect paid on every request.
    """
    version = content_version()
    memo = current_app.extensions.get("side_effect_answers")
    if memo is None or memo["version"] != version:
        # A new dict, not clear(): a request still computing under the old version writes
        # into the old dict, never into this one.
        memo = current_app.extensions["side_effect_answers"] = {"version": version}
    key = (condition, today)
    if key not in memo:
        result = compute(Filters(condition=condition), today)
        memo[key] = (
            {
                "reports": result["reports"],
                "items": {i["slug"]: i for i in result["side_effects"]["items"]},
            }
            if result["enough"]
            else None
        )
    return memo[key]
