"""The experience report form. Types are parsed here; ranges are the service's job, so the
importer and the form refuse the same things."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import Form
from wtforms.fields import (
    BooleanField,
    DateField,
    FieldList,
    FloatField,
    FormField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional
from wtforms.widgets import NumberInput

from .. import vocabulary
from ..numbers import parse_int
from ..threads.forms import MultiCheckboxField
from . import models as m
from .service import FIELDS

ROWS = 6  # blank rows offered for titration steps and side effects (no JavaScript needed)


def _opts(mapping: dict[str, str], blank: str = "— not saying —") -> list[SelectChoice]:
    return [SelectChoice("", blank), *(SelectChoice(k, v) for k, v in mapping.items())]


def _int_or_none(value: Any) -> int | None:
    if value in ("", None):
        return None
    if isinstance(value, int):
        return value
    number = parse_int(value, low=1)
    if number is None:
        raise ValueError("Not one of the choices.")
    return number


def _number(label: str, **kw) -> FloatField:
    return FloatField(label, validators=[Optional()], widget=NumberInput(step="any"), **kw)


def _week(label: str) -> IntegerField:
    return IntegerField(
        label, validators=[Optional(), NumberRange(min=0, message="Weeks cannot be negative.")]
    )


class _Select(SelectField):
    """Choices are checked by the service (one message for the form and the importer);
    a select missing from the request reads as "not saying"."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validate_choice", False)
        super().__init__(*args, **kwargs)


class StepRow(Form):
    week = _week("Week")
    on_date = DateField("or date", validators=[Optional()])
    dose_mg = _number("Dose (mg/day)")


class SideEffectRow(Form):
    side_effect = _Select(
        "Side effect", choices=_opts(dict(vocabulary.choices("side_effect")), "— none —")
    )
    severity = _Select("How bad", choices=_opts(m.SEVERITIES))
    began_week = _week("Began in week")
    settled = _Select(
        "Did it settle?",
        choices=[SelectChoice("", "— don't know yet —"), SelectChoice("yes"), SelectChoice("no")],
    )
    settled_week = _week("Settled by week")


class ExperienceForm(FlaskForm):
    started_on = DateField("When did you start azathioprine?", validators=[Optional()])
    stopped_on = DateField("If you stopped, when?", validators=[Optional()])
    dose_mg_per_day = _number("Dose now (mg per day)")
    weight_kg = _number("Your weight in kg (private: only used to work out mg/kg)")
    forget_weight = BooleanField("Forget the weight I gave before")
    dose_confirmed = BooleanField("Yes, that's right")
    tpmt = _Select("TPMT result", choices=_opts(m.TPMT))
    blood_test_frequency = _Select("How often are bloods taken now?", choices=_opts(m.BLOOD_TESTS))
    helped = _Select("Has it helped?", choices=_opts(m.HELPED))
    helped_after_weeks = _week("If it helped, from about which week?")
    outcome = _Select("Where are you now?", choices=_opts(m.OUTCOMES))
    stop_reason = _Select("If you stopped, why?", choices=_opts(m.STOP_REASONS))
    stop_reason_other = StringField("Other reason (a few words)", validators=[Length(max=200)])
    moved_to = _Select("Did you move to (or add) another medicine?", choices=_opts(m.MOVED_TO))
    moved_to_outcome = _Select("How is that going?", choices=_opts(m.MOVED_OUTCOMES))
    co_medications = MultiCheckboxField(
        "Other medicines you take with it",
        choices=[c for c in vocabulary.choices("medication") if c[0] != "azathioprine"],
    )
    include_in_summaries = BooleanField("Include my report in the summaries")
    show_on_profile = BooleanField("Show the summary on my profile")
    thread_id = _Select(
        "Attach to one of my questions", coerce=_int_or_none, choices=[SelectChoice("", "— none —")]
    )
    steps = FieldList(FormField(StepRow), min_entries=ROWS)
    side_effects = FieldList(FormField(SideEffectRow), min_entries=ROWS)


def pad_rows(form: ExperienceForm) -> None:
    """Always offer a couple of empty rows after the filled ones."""
    for rows in (form.steps, form.side_effects):
        filled = sum(1 for r in rows if any(v not in (None, "") for v in r.data.values()))
        while len(rows) < max(ROWS, filled + 2):
            rows.append_entry()


# The service's fields, plus the switches and the attachment only the form carries.
FORM_KEYS = (*FIELDS, "include_in_summaries", "show_on_profile", "thread_id")


def form_to_data(form: ExperienceForm, report: m.ExperienceReport | None) -> dict[str, Any]:
    """The service's input; blank rows are dropped but keep their row number for errors."""
    data: dict[str, Any] = {key: form[key].data for key in FORM_KEYS}
    if data["weight_kg"] is None and not form.forget_weight.data and report is not None:
        data["weight_kg"] = report.weight_kg  # blank means "keep what I gave before"
    data["stop_reason_other"] = (data["stop_reason_other"] or "").strip() or None
    data["co_medications"] = list(form.co_medications.data or [])
    data["steps"] = [
        {**row.data, "row": i}
        for i, row in enumerate(form.steps)
        if any(v is not None for v in row.data.values())
    ]
    data["side_effects"] = []
    for i, row in enumerate(form.side_effects):
        d = row.data
        if not any(v not in (None, "") for v in d.values()):
            continue
        settled = {"yes": True, "no": False}.get(d["settled"])
        data["side_effects"].append({**d, "settled": settled, "row": i})
    return data


def report_to_formdata(report: m.ExperienceReport | None) -> dict[str, Any]:
    """Initial form values: a new report starts opted in to summaries and the profile."""
    if report is None:
        return {"include_in_summaries": True, "show_on_profile": True}
    keys = [k for k in FORM_KEYS if k != "weight_kg"]  # weight is never sent back out
    data = {key: getattr(report, key) for key in keys}
    data["co_medications"] = report.co_medication_slugs
    data["steps"] = [
        {"week": s.week, "on_date": s.on_date, "dose_mg": s.dose_mg} for s in report.steps
    ]
    data["side_effects"] = [
        {
            "side_effect": se.side_effect,
            "severity": se.severity or "",
            "began_week": se.began_week,
            "settled": {True: "yes", False: "no"}.get(se.settled, ""),
            "settled_week": se.settled_week,
        }
        for se in report.side_effects
    ]
    for key in (
        "tpmt",
        "blood_test_frequency",
        "helped",
        "outcome",
        "stop_reason",
        "moved_to",
        "moved_to_outcome",
    ):
        data[key] = data.get(key) or ""
    return data
