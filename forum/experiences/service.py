"""Recording experience reports: validation, saving with history, import and export.

``save_report`` is the one write path: the web form, the importer and the demo loader
all call it, so range checks, vocabulary mapping and the history snapshot happen once.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import vocabulary
from ..cleaning import strip_controls
from ..extensions import db
from ..models import Thread, User, utcnow
from ..numbers import MAX_ID
from ..services import NotFound, ServiceError, ValidationError, commit, record_search_change
from . import models as m
from .models import ExperienceReport, ExperienceRevision, ReportedSideEffect, TitrationStep

DOSE_MAX = 1000  # mg/day; anything above is impossible, not a typo to question
DOSE_USUAL = (25, 300)  # outside this, ask the person to confirm
MG_PER_KG_USUAL = 3.5
WEIGHT_RANGE = (20, 350)
WEEK_MAX = 520
UNUSUAL = "That looks unusual — please check; tick 'yes, that's right' to save it."


class NeedsConfirmation(ValidationError):
    """Values that are possible but unusual: saved only once the person confirms them."""


FIELDS = (
    "started_on",
    "stopped_on",
    "dose_mg_per_day",
    "weight_kg",
    "tpmt",
    "blood_test_frequency",
    "helped",
    "helped_after_weeks",
    "outcome",
    "stop_reason",
    "stop_reason_other",
    "moved_to",
    "moved_to_outcome",
)
CHOICE_FIELDS = {
    "tpmt": m.TPMT,
    "blood_test_frequency": m.BLOOD_TESTS,
    "helped": m.HELPED,
    "outcome": m.OUTCOMES,
    "stop_reason": m.STOP_REASONS,
    "moved_to": m.MOVED_TO,
    "moved_to_outcome": m.MOVED_OUTCOMES,
}


def get_report(user: User, condition: str) -> ExperienceReport | None:
    return db.session.scalar(
        select(ExperienceReport).where(
            ExperienceReport.user_id == user.id, ExperienceReport.condition == condition
        )
    )


def reports_of(user: User) -> list[ExperienceReport]:
    return list(
        db.session.scalars(
            select(ExperienceReport)
            .where(ExperienceReport.user_id == user.id)
            .order_by(ExperienceReport.condition)
        )
    )


def reports_for_thread(thread: Thread) -> list[ExperienceReport]:
    """The asker's reports attached to this thread (only the asker's count)."""
    if thread is None or thread.author_id is None:
        return []
    return list(
        db.session.scalars(
            select(ExperienceReport).where(
                ExperienceReport.thread_id == thread.id,
                ExperienceReport.user_id == thread.author_id,
            )
        )
    )


def attachable_threads(user: User) -> list[Thread]:
    return list(
        db.session.scalars(
            select(Thread)
            .where(Thread.author_id == user.id, Thread.is_deleted.is_(False))
            .order_by(Thread.created_at.desc())
            .limit(50)
        )
    )


# --- validation ---------------------------------------------------------------------------


def _check_week(errors: dict, key: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= WEEK_MAX:
        errors[key] = f"Give a week between 0 and {WEEK_MAX} (ten years)."


def _check_dose(errors: dict, questions: dict, key: str, dose: float | None) -> None:
    if dose is None:
        return
    if not math.isfinite(dose) or dose <= 0 or dose > DOSE_MAX:
        errors[key] = f"A daily dose must be more than 0 and at most {DOSE_MAX} mg."
    elif not DOSE_USUAL[0] <= dose <= DOSE_USUAL[1]:
        questions[key] = UNUSUAL


def validate(data: dict[str, Any], today: date | None = None) -> tuple[dict, dict]:
    """Return (errors, questions): errors refuse the save, questions need a confirmation.

    Keys are form field names (``steps-2-dose_mg`` for the third titration row).
    """
    today = today or date.today()
    errors: dict[str, str] = {}
    questions: dict[str, str] = {}
    for key, allowed in CHOICE_FIELDS.items():
        if data.get(key) and data[key] not in allowed:
            errors[key] = "Choose one of the options."
    for key in ("started_on", "stopped_on"):
        value = data.get(key)
        if value and value > today:
            errors[key] = "That date is in the future."
        elif value and value.year < 1960:
            errors[key] = "Give a date after 1960."
    if data.get("started_on") and data.get("stopped_on") and "stopped_on" not in errors:
        if data["stopped_on"] < data["started_on"]:
            errors["stopped_on"] = "The stop date is before the start date."
    _check_dose(errors, questions, "dose_mg_per_day", data.get("dose_mg_per_day"))
    weight = data.get("weight_kg")
    if weight is not None and not WEIGHT_RANGE[0] <= weight <= WEIGHT_RANGE[1]:
        errors["weight_kg"] = f"Give a weight between {WEIGHT_RANGE[0]} and {WEIGHT_RANGE[1]} kg."
    dose = data.get("dose_mg_per_day")
    if dose and weight and not errors.get("weight_kg") and not errors.get("dose_mg_per_day"):
        if dose / weight > MG_PER_KG_USUAL:
            questions["dose_mg_per_day"] = UNUSUAL
    _check_week(errors, "helped_after_weeks", data.get("helped_after_weeks"))
    if data.get("stop_reason_other") and len(data["stop_reason_other"]) > 200:
        errors["stop_reason_other"] = "Keep this under 200 characters."
    for med in data.get("co_medications") or []:
        if not vocabulary.get("medication", med):
            errors["co_medications"] = "Choose medicines from the list."
    for i, step in enumerate(data.get("steps") or []):
        row = step.get("row", i)
        _check_week(errors, f"steps-{row}-week", step.get("week"))
        if step.get("on_date") and step["on_date"] > today:
            errors[f"steps-{row}-on_date"] = "That date is in the future."
        if step.get("dose_mg") is None:
            errors[f"steps-{row}-dose_mg"] = "Give the dose for this step."
        _check_dose(errors, questions, f"steps-{row}-dose_mg", step.get("dose_mg"))
    for i, se in enumerate(data.get("side_effects") or []):
        row = se.get("row", i)
        if not vocabulary.get("side_effect", se.get("side_effect") or ""):
            errors[f"side_effects-{row}-side_effect"] = "Choose the side effect from the list."
        if se.get("severity") and se["severity"] not in m.SEVERITIES:
            errors[f"side_effects-{row}-severity"] = "Choose mild, moderate or severe."
        _check_week(errors, f"side_effects-{row}-began_week", se.get("began_week"))
        _check_week(errors, f"side_effects-{row}-settled_week", se.get("settled_week"))
    return errors, questions


# --- writing ------------------------------------------------------------------------------


def _check_condition(condition: str) -> None:
    if not vocabulary.get("condition", condition or ""):
        raise NotFound("There is no such condition.")


def _check_thread(user: User, thread_id: int | None) -> None:
    if thread_id is None:
        return
    fits = isinstance(thread_id, int) and 0 < thread_id <= MAX_ID
    thread = db.session.get(Thread, thread_id) if fits else None
    if thread is None or thread.author_id != user.id or thread.is_deleted:
        raise ValidationError(
            "You can only attach your report to a question you asked.",
            {"thread_id": "Choose one of your own questions."},
        )


def save_report(
    user: User,
    condition: str,
    data: dict[str, Any],
    *,
    confirmed: bool = False,
    today: date | None = None,
    when: datetime | None = None,
) -> ExperienceReport:
    """Create or update ``user``'s report for ``condition`` and add a history snapshot.

    Raises ValidationError (impossible values, a thread that is not theirs), or
    NeedsConfirmation (unusual values) unless ``confirmed``; nothing is written then.
    """
    _check_condition(condition)
    if isinstance(data.get("stop_reason_other"), str):
        data = {**data, "stop_reason_other": strip_controls(data["stop_reason_other"]).strip()}
    errors, questions = validate(data, today)
    if errors:
        raise ValidationError("Please correct the marked answers.", errors)
    if questions and not confirmed:
        raise NeedsConfirmation("Please check the marked answers.", questions)
    _check_thread(user, data.get("thread_id"))
    report = get_report(user, condition)
    old_thread = report.thread_id if report else None
    if report is None:
        report = ExperienceReport(user_id=user.id, condition=condition, created_at=when or utcnow())
        db.session.add(report)
    _apply(report, data)
    report.updated_at = when or utcnow()
    db.session.flush()
    db.session.add(
        ExperienceRevision(
            report_id=report.id,
            created_at=report.updated_at,
            snapshot=json.dumps(snapshot(report)),
        )
    )
    record_search_change(t for t in (old_thread, report.thread_id) if t)
    commit()
    return report


def _apply(report: ExperienceReport, data: dict[str, Any]) -> None:
    for key in FIELDS:
        value = data.get(key)
        setattr(report, key, value if value not in ("", None) else None)
    report.co_medications = ",".join(dict.fromkeys(data.get("co_medications") or []))
    report.include_in_summaries = bool(data.get("include_in_summaries", True))
    report.show_on_profile = bool(data.get("show_on_profile", True))
    report.thread_id = data.get("thread_id")
    if report.outcome != "stopped":
        report.stop_reason = report.stop_reason_other = None
    if report.stop_reason != "other":
        report.stop_reason_other = None
    if not report.moved_to:
        report.moved_to_outcome = None
    report.steps = [
        TitrationStep(
            position=i, week=s.get("week"), on_date=s.get("on_date"), dose_mg=s["dose_mg"]
        )
        for i, s in enumerate(data.get("steps") or [])
    ]
    seen: set[str] = set()
    rows = []
    for i, se in enumerate(data.get("side_effects") or []):
        if se["side_effect"] in seen:
            continue  # one row per side effect; the first wins
        seen.add(se["side_effect"])
        rows.append(
            ReportedSideEffect(
                position=i,
                side_effect=se["side_effect"],
                severity=se.get("severity") or None,
                began_week=se.get("began_week"),
                settled=se.get("settled"),
                settled_week=se.get("settled_week") if se.get("settled") else None,
            )
        )
    report.side_effects = rows


def delete_report(user: User, condition: str) -> None:
    report = get_report(user, condition)
    if report is None:
        raise NotFound("You have no report for that condition.")
    if report.thread_id:
        record_search_change([report.thread_id])
    db.session.delete(report)
    commit()


# --- snapshots, summaries and the timeline ------------------------------------------------


def snapshot(report: ExperienceReport) -> dict[str, Any]:
    """The report as plain data for the history. Weight is deliberately left out."""
    return {
        "condition": report.condition,
        "started_on": report.started_on.isoformat() if report.started_on else None,
        "stopped_on": report.stopped_on.isoformat() if report.stopped_on else None,
        "dose_mg_per_day": report.dose_mg_per_day,
        "tpmt": report.tpmt,
        "blood_test_frequency": report.blood_test_frequency,
        "helped": report.helped,
        "helped_after_weeks": report.helped_after_weeks,
        "outcome": report.outcome,
        "stop_reason": report.stop_reason,
        "moved_to": report.moved_to,
        "moved_to_outcome": report.moved_to_outcome,
        "co_medications": report.co_medication_slugs,
        "steps": [
            {
                "week": s.week,
                "on_date": s.on_date.isoformat() if s.on_date else None,
                "dose_mg": s.dose_mg,
            }
            for s in report.steps
        ],
        "side_effects": [
            {
                "side_effect": se.side_effect,
                "severity": se.severity,
                "began_week": se.began_week,
                "settled": se.settled,
                "settled_week": se.settled_week,
            }
            for se in report.side_effects
        ],
    }


def fmt_dose(dose: float | None) -> str:
    if dose is None:
        return ""
    return f"{dose:g} mg/day"


def _weeks(snap: dict, as_of: date) -> int | None:
    if not snap.get("started_on"):
        return None
    start = date.fromisoformat(snap["started_on"])
    end = date.fromisoformat(snap["stopped_on"]) if snap.get("stopped_on") else as_of
    return max(0, (end - start).days // 7)


def _side_effect_phrase(se: dict) -> str:
    name = vocabulary.name_of("side_effect", se["side_effect"]).lower()
    if se.get("settled") and se.get("settled_week") is not None:
        return f"{name} settled by week {se['settled_week']}"
    if se.get("settled"):
        return f"{name} settled"
    if se.get("settled") is False:
        return f"{name} ongoing"
    return name


def summary_text(snap: dict, as_of: date | None = None) -> str:
    """One line a reader can take in at a glance, e.g.
    "Lupus (SLE), 18 weeks on aza, 100 mg/day, TPMT normal, nausea settled by week 4"."""
    parts = [vocabulary.name_of("condition", snap["condition"])]
    weeks = _weeks(snap, as_of or date.today())
    if weeks is not None:
        parts.append(f"{weeks} week{'s' if weeks != 1 else ''} on aza")
    if snap.get("dose_mg_per_day"):
        parts.append(fmt_dose(snap["dose_mg_per_day"]))
    if snap.get("tpmt"):
        parts.append(f"TPMT {m.TPMT[snap['tpmt']]}")
    parts.extend(_side_effect_phrase(se) for se in snap.get("side_effects") or [])
    if snap.get("helped"):
        helped = f"helped: {m.HELPED[snap['helped']]}"
        if snap["helped"] == "yes" and snap.get("helped_after_weeks") is not None:
            helped += f" (from week {snap['helped_after_weeks']})"
        parts.append(helped)
    if snap.get("outcome"):
        outcome = m.OUTCOMES[snap["outcome"]]
        if snap.get("stop_reason"):
            outcome += f" ({m.STOP_REASONS[snap['stop_reason']]})"
        parts.append(outcome)
    if snap.get("moved_to"):
        moved = f"moved to {m.MOVED_TO[snap['moved_to']]}"
        if snap.get("moved_to_outcome"):
            moved += f", {m.MOVED_OUTCOMES[snap['moved_to_outcome']]}"
        parts.append(moved)
    return ", ".join(parts)


def report_summary(report: ExperienceReport, as_of: date | None = None) -> str:
    return summary_text(snapshot(report), as_of)


_CHANGE_LABELS = {
    "dose_mg_per_day": "Dose",
    "tpmt": "TPMT",
    "blood_test_frequency": "Blood tests",
    "helped": "Helping",
    "outcome": "Outcome",
    "stop_reason": "Reason for stopping",
    "moved_to": "Moved to",
    "moved_to_outcome": "How the new medicine is going",
}


def _show(key: str, value: Any) -> str:
    if value in (None, ""):
        return "—"
    if key == "dose_mg_per_day":
        return fmt_dose(value)
    choices = CHOICE_FIELDS.get(key)
    return choices.get(value, str(value)) if choices else str(value)


def timeline(report: ExperienceReport) -> list[dict[str, Any]]:
    """Newest first: each save with its summary then and what changed from the one before."""
    entries = []
    previous: dict | None = None
    for rev in report.revisions:
        snap = json.loads(rev.snapshot)
        changes = []
        if previous is not None:
            for key, label in _CHANGE_LABELS.items():
                if previous.get(key) != snap.get(key):
                    changes.append(
                        f"{label}: {_show(key, previous.get(key))} → {_show(key, snap.get(key))}"
                    )
            old = {se["side_effect"]: se for se in previous.get("side_effects") or []}
            for se in snap.get("side_effects") or []:
                if se["side_effect"] not in old:
                    changes.append(f"New side effect: {_side_effect_phrase(se)}")
                elif old[se["side_effect"]] != se:
                    changes.append(f"Updated: {_side_effect_phrase(se)}")
        entries.append(
            {
                "at": rev.created_at,
                "summary": summary_text(snap, rev.created_at.date()),
                "changes": changes,
                "first": previous is None,
            }
        )
        previous = snap
    return list(reversed(entries))


# --- import and export --------------------------------------------------------------------


def _parse_date(value: Any, key: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValidationError(f"experience.{key} is not a date (YYYY-MM-DD).") from exc


def _parse_number(value: Any, key: str, kind=float):
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValidationError(f"experience.{key} must be a number.")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"experience.{key} must be a number.") from exc
    if not math.isfinite(number):
        raise ValidationError(f"experience.{key} must be a number.")
    return number


def _parse_text(value: Any, key: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError(f"experience.{key} must be text.")
    return value


def _parse_choice(value: Any, key: str) -> str | None:
    if value in (None, ""):
        return None
    slug = str(value).strip().lower().replace(" ", "_").replace("-", "_").replace("'", "")
    if slug not in CHOICE_FIELDS[key]:
        # Accept the display text too ("not tested", "every 2 months").
        by_label = {v.replace("'", ""): k for k, v in CHOICE_FIELDS[key].items()}
        slug = by_label.get(str(value).strip().lower().replace("'", ""), slug)
    if slug not in CHOICE_FIELDS[key]:
        raise ValidationError(f"experience.{key}: unknown value {value!r}.")
    return slug


def experience_from_dict(
    user: User, thread: Thread | None, data: dict[str, Any], *, when: datetime | None = None
) -> ExperienceReport:
    """Record an ``experience`` object from an import line for the thread's author.

    The condition defaults to the thread's first condition tag. Unusual doses are taken as
    confirmed (the file is a record, not a typing slip); impossible values raise
    ValidationError and nothing is written.
    """
    if not isinstance(data, dict):
        raise ValidationError("experience must be an object.")
    cond_name = data.get("condition")
    condition = vocabulary.resolve("condition", cond_name) if cond_name else None
    if condition is None and not cond_name and thread is not None:
        conds = thread.tag_slugs("condition")
        condition = conds[0] if conds else None
    if condition is None:
        raise ValidationError(f"experience.condition: unknown condition {cond_name!r}.")
    parsed: dict[str, Any] = {
        "started_on": _parse_date(data.get("started"), "started"),
        "stopped_on": _parse_date(data.get("stopped"), "stopped"),
        "dose_mg_per_day": _parse_number(data.get("dose_mg_per_day"), "dose_mg_per_day"),
        "weight_kg": _parse_number(data.get("weight_kg"), "weight_kg"),
        "helped_after_weeks": _parse_number(
            data.get("helped_after_weeks"), "helped_after_weeks", int
        ),
        "stop_reason_other": _parse_text(data.get("stop_reason_other"), "stop_reason_other"),
        "include_in_summaries": data.get("include_in_summaries", True) is not False,
        "show_on_profile": data.get("show_on_profile", True) is not False,
        "thread_id": thread.id if thread is not None and thread.author_id == user.id else None,
    }
    for key in CHOICE_FIELDS:
        parsed[key] = _parse_choice(data.get(key), key)
    parsed["co_medications"] = []
    for name in data.get("co_medications") or []:
        slug = vocabulary.resolve("medication", str(name))
        if slug and slug != "azathioprine":
            parsed["co_medications"].append(slug)
    parsed["steps"] = [
        {
            "week": _parse_number(s.get("week"), "steps.week", int),
            "on_date": _parse_date(s.get("date"), "steps.date"),
            "dose_mg": _parse_number(s.get("dose_mg"), "steps.dose_mg"),
        }
        for s in data.get("titration") or []
        if isinstance(s, dict)
    ]
    parsed["side_effects"] = []
    for se in data.get("side_effects") or []:
        if not isinstance(se, dict):
            continue
        slug = vocabulary.resolve("side_effect", str(se.get("name", "")))
        if slug is None:
            raise ValidationError(
                f"experience.side_effects: unknown side effect {se.get('name')!r}."
            )
        settled = se.get("settled")
        parsed["side_effects"].append(
            {
                "side_effect": slug,
                "severity": _parse_text(se.get("severity"), "side_effects.severity"),
                "began_week": _parse_number(se.get("began_week"), "began_week", int),
                "settled": settled if isinstance(settled, bool) else None,
                "settled_week": _parse_number(se.get("settled_week"), "settled_week", int),
            }
        )
    if when is None and thread is not None and get_report(user, condition) is None:
        when = thread.created_at  # a first report dates from the question it came with
    return save_report(user, condition, parsed, confirmed=True, when=when)


def experience_to_dict(
    report: ExperienceReport, *, include_private: bool = False
) -> dict[str, Any]:
    """The ``experience`` object of the import format. The private fields (weight, the
    "only you see this" stop reason: ``models.PRIVATE_FIELDS``) only when
    ``include_private`` (a member's own data download), never in a forum-wide export."""
    out: dict[str, Any] = {"condition": report.condition}
    if report.started_on:
        out["started"] = report.started_on.isoformat()
    if report.stopped_on:
        out["stopped"] = report.stopped_on.isoformat()
    for key in ("dose_mg_per_day", "helped_after_weeks"):
        if getattr(report, key) is not None:
            out[key] = getattr(report, key)
    for key in m.PRIVATE_FIELDS if include_private else ():
        if getattr(report, key) is not None:
            out[key] = getattr(report, key)
    for key in CHOICE_FIELDS:
        if getattr(report, key):
            out[key] = getattr(report, key)
    if report.co_medication_slugs:
        out["co_medications"] = report.co_medication_slugs
    if report.steps:
        out["titration"] = [
            {
                k: v
                for k, v in (
                    ("week", s.week),
                    ("date", s.on_date.isoformat() if s.on_date else None),
                    ("dose_mg", s.dose_mg),
                )
                if v is not None
            }
            for s in report.steps
        ]
    if report.side_effects:
        out["side_effects"] = [
            {
                k: v
                for k, v in (
                    ("name", se.side_effect),
                    ("severity", se.severity),
                    ("began_week", se.began_week),
                    ("settled", se.settled),
                    ("settled_week", se.settled_week),
                )
                if v is not None
            }
            for se in report.side_effects
        ]
    if not report.include_in_summaries:
        out["include_in_summaries"] = False
    if not report.show_on_profile:
        out["show_on_profile"] = False
    if include_private:  # the owner's download also carries the timeline (ignored on import)
        out["history"] = [
            {
                "saved": rev.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "report": json.loads(rev.snapshot),
            }
            for rev in report.revisions
        ]
    return out


def experiences_for_export(threads: list[Thread]) -> dict[int, dict[str, Any]]:
    """The ``experience`` object of each exported thread whose asker attached a report,
    by thread id: one query per chunk of threads, whatever the chunk size."""
    authors = {t.id: t.author_id for t in threads if t.author_id is not None}
    if not authors:
        return {}
    reports = db.session.scalars(
        select(ExperienceReport)
        .where(ExperienceReport.thread_id.in_(list(authors)))
        .options(selectinload(ExperienceReport.steps), selectinload(ExperienceReport.side_effects))
        .order_by(ExperienceReport.id)
    )
    out: dict[int, dict[str, Any]] = {}
    for r in reports:
        if authors.get(r.thread_id) == r.user_id and r.thread_id not in out:
            out[r.thread_id] = experience_to_dict(r)
    return out


def import_experience(thread_id: int, data: Any) -> str | None:
    """Record a thread line's ``experience`` for the thread's author, after the thread.

    Returns a warning (the thread stays imported, the experience is skipped) or None.
    """
    thread = db.session.get(Thread, thread_id)
    if thread is None or thread.author is None:
        return "experience skipped: the thread has no author"
    try:
        experience_from_dict(thread.author, thread, data)
    except ServiceError as exc:
        db.session.rollback()
        return f"experience skipped: {exc.message.rstrip('.')}"
    return None
