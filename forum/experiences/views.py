"""Experience pages: my reports, the edit form, "What patients report", CSV and the API."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from .. import vocabulary
from ..downloads import attachment
from ..numbers import MAX_ID, arg_int
from ..services import ValidationError
from . import bp, service, stats
from . import models as m
from .forms import ExperienceForm, form_to_data, pad_rows, report_to_formdata


def _condition_or_404(condition: str) -> str:
    if not vocabulary.get("condition", condition):
        abort(404, "There is no such condition.")
    return condition


@bp.get("/experiences")
@login_required
def mine():
    reports = service.reports_of(current_user)
    have = {r.condition for r in reports}
    addable = [c for c in vocabulary.CONDITIONS if c.slug not in have]
    return render_template(
        "experiences/mine.html",
        reports=reports,
        addable=addable,
        summary=service.report_summary,
        timeline=service.timeline,
    )


@bp.get("/experiences/new")
@login_required
def new():
    condition = request.args.get("condition", "")
    return redirect(url_for("experiences.edit", condition=_condition_or_404(condition)))


def _field_map(form) -> dict:
    """Every field by its full name, nested rows included (``steps-2-dose_mg``)."""
    out = {}
    for field in form:
        if field.type == "FieldList":
            for entry in field:
                for sub in entry.form:
                    out[sub.name] = sub
        else:
            out[field.name] = field
    return out


@bp.route("/experiences/<condition>/edit", methods=["GET", "POST"])
@login_required
def edit(condition: str):
    _condition_or_404(condition)
    report = service.get_report(current_user, condition)
    if request.method == "POST":
        form = ExperienceForm()
    else:
        form = ExperienceForm(data=report_to_formdata(report))
    threads = service.attachable_threads(current_user)
    form.thread_id.choices = [SelectChoice("", "— none —")] + [
        SelectChoice(str(t.id), t.title) for t in threads
    ]
    wanted = arg_int("thread", 0, high=MAX_ID, lenient=True)
    if request.method == "GET" and wanted in {t.id for t in threads}:
        form.thread_id.data = wanted  # from "attach your experience report" on a thread
    status, asked = 200, False
    if form.validate_on_submit():
        try:
            service.save_report(
                current_user,
                condition,
                form_to_data(form, report),
                confirmed=form.dose_confirmed.data,
            )
        except service.NeedsConfirmation as exc:
            asked = True
            _attach_errors(form, exc.errors)
        except ValidationError as exc:
            status = 400
            _attach_errors(form, exc.errors)
        else:
            flash("Your experience report is saved. Thank you for sharing it.", "success")
            return redirect(url_for("experiences.mine") + f"#report-{condition}")
    elif request.method == "POST":
        status = 400
        # Show the range refusals too, not only the type errors, so one round trip is enough.
        errors, _ = service.validate(form_to_data(form, report))
        fields = _field_map(form)
        _attach_errors(
            form, {k: v for k, v in errors.items() if k in fields and not fields[k].errors}
        )
    pad_rows(form)
    return (
        render_template(
            "experiences/edit.html",
            form=form,
            condition=condition,
            report=report,
            asked=asked,
            has_weight=bool(report and report.weight_kg),
        ),
        status,
    )


def _attach_errors(form, errors: dict[str, str]) -> None:
    fields = _field_map(form)
    for key, message in errors.items():
        field = fields.get(key)
        if field is None:
            flash(message, "error")
        else:
            field.errors = [*field.errors, message]


@bp.post("/experiences/<condition>/delete")
@login_required
def delete(condition: str):
    service.delete_report(current_user, _condition_or_404(condition))
    flash("Your report for that condition is deleted, with its history.", "success")
    return redirect(url_for("experiences.mine"))


# --- what patients report -----------------------------------------------------------------


@bp.get("/reports")
@bp.get("/reports/<condition>")
def reports(condition: str | None = None):
    if condition:
        _condition_or_404(condition)
    filters = stats.parse_filters(request.args, condition)
    result = stats.compute(filters)
    return render_template(
        "experiences/reports.html",
        result=result,
        filters=filters,
        condition_counts=stats.condition_counts() if not condition else [],
        DOSE_BANDS=stats.DOSE_BANDS,
        DURATIONS=stats.DURATIONS,
        TPMT=m.TPMT,
        MIN_GROUP=stats.MIN_GROUP,
    )


@bp.get("/reports/threads")
def report_threads():
    filters = stats.parse_filters(request.args)
    criteria = stats.parse_criteria(request.args)
    count, threads = stats.threads_behind(filters, criteria)
    return render_template(
        "experiences/report_threads.html",
        filters=filters,
        criteria=criteria,
        describe=stats.describe_criteria(criteria),
        count=count,
        threads=threads,
        MIN_GROUP=stats.MIN_GROUP,
    )


@bp.get("/reports.csv")
def reports_csv():
    filters = stats.parse_filters(request.args)
    buf = io.StringIO()
    csv.writer(buf).writerows(stats.csv_rows(stats.compute(filters)))
    name = "what-patients-report" + "".join(f"-{v}" for v in filters.as_dict().values())
    return Response(
        buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": attachment(f"{name}.csv", "what-patients-report.csv")},
    )


@bp.get("/api/v1/stats")
def api_stats():
    """The same aggregates as /reports (one function computes both), in the API's
    single-object envelope ``{"data": {...}}``."""
    filters = stats.parse_filters(request.args)
    return jsonify(data=stats.compute(filters))


@bp.get("/reports/answer")
def answer_cards():
    """The ask form's answer cards as an HTML fragment (static/js/answer-cards.js): the
    first chosen condition with up to three chosen side effects. Unknown values are a 400."""
    condition = request.args.get("condition") or None
    if condition:
        _condition_or_404(condition)
    slugs = request.args.getlist("side_effect")[:3]
    if any(vocabulary.get("side_effect", s) is None for s in slugs):
        abort(400, "Unknown side effect.")
    answers = [stats.side_effect_answer(s, condition) for s in slugs] if condition else []
    return render_template("experiences/_answer_cards.html", answers=answers)
