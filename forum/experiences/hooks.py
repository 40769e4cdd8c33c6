"""How other parts of the forum see experience reports without importing this package:
template helpers for the thread page and the profile page (and, later, search facets)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ..extensions import db
from . import bp, charts, service
from .models import ExperienceReport


def thread_experiences(thread) -> list[dict]:
    """The reports the asker attached to this thread (for the question aside):
    condition slug and summary line each."""
    if thread is None:
        return []
    return [
        {"condition": r.condition, "summary": service.report_summary(r)}
        for r in service.reports_for_thread(thread)
    ]


def profile_experiences(user) -> list[dict]:
    """What the public profile may show: per condition the summary and its dated history.

    Only reports the person chose to show; summaries never include weight.
    """
    if user is None or getattr(user, "id", None) is None:
        return []
    reports = db.session.scalars(
        select(ExperienceReport)
        .where(ExperienceReport.user_id == user.id, ExperienceReport.show_on_profile.is_(True))
        .order_by(ExperienceReport.condition)
    )
    return [
        {
            "condition": r.condition,
            "summary": service.report_summary(r, date.today()),
            "timeline": [
                {"at": e["at"], "summary": e["summary"]} for e in service.timeline(r)[1:6]
            ],
        }
        for r in reports
    ]


@bp.app_context_processor
def _helpers() -> dict:
    return {
        "thread_experiences": thread_experiences,
        "profile_experiences": profile_experiences,
    }


@bp.app_template_global("side_effect_answer")
def _side_effect_answer(slug: str | None, condition: str | None = None):
    """The answer card's numbers (stats.side_effect_answer), or None."""
    if not slug:
        return None
    from . import stats

    return stats.side_effect_answer(slug, condition)


@bp.app_template_global("experience_chart")
def _chart(title: str, block: dict):
    return charts.breakdown_chart(title, block)


@bp.app_template_global("side_effect_chart")
def _side_effect_chart(block: dict):
    items = block["items"]
    desc = f"Share of {block['denominator']} reports mentioning each side effect: " + "; ".join(
        f"{i['name']} {i['percent']}%" for i in items
    )
    return charts.bar_chart(
        "Side effects by share of reports", desc, [(i["name"], i["percent"]) for i in items]
    )


@bp.app_template_global("experience_dose_chart")
def _dose_chart(report):
    """The owner's dose over time, from steps that give a week (or a date and a start)."""
    steps = []
    for s in report.steps:
        week = s.week
        if week is None and s.on_date and report.started_on:
            week = max(0, (s.on_date - report.started_on).days // 7)
        if week is not None:
            steps.append((week, s.dose_mg))
    if not steps:
        return ""
    steps.sort(key=lambda p: p[0])
    return charts.dose_chart(steps, report.weeks_on_treatment())


@bp.app_template_filter("exp_num")
def _num(value) -> str:
    """12.0 -> "12", 12.5 -> "12.5", None -> "—"."""
    return "—" if value is None else f"{value:g}"


def search_extras(_sender, thread=None, **_kw) -> dict[str, list[str]]:
    """Search facets for a thread whose asker attached a report: TPMT, outcome, moved to.

    save_report and delete_report record a search change for the attached thread(s), so
    the index follows every change.
    """
    reports = service.reports_for_thread(thread) if thread is not None else []
    return {
        "tpmt": [r.tpmt for r in reports if r.tpmt],
        "outcome": [r.outcome for r in reports if r.outcome],
        "moved_to": [r.moved_to for r in reports if r.moved_to],
    }


def search_extras_many(_sender, threads=(), **_kw) -> dict[int, dict[str, list[str]]]:
    """``search_extras`` for a batch of threads in one query (index rebuilds)."""
    askers = {t.id: t.author_id for t in threads if t.author_id is not None}
    found: dict[int, dict[str, list[str]]] = {}
    if not askers:
        return found
    rows = db.session.execute(
        select(
            ExperienceReport.thread_id,
            ExperienceReport.user_id,
            ExperienceReport.tpmt,
            ExperienceReport.outcome,
            ExperienceReport.moved_to,
        ).where(ExperienceReport.thread_id.in_(list(askers)))
    )
    for thread_id, user_id, tpmt, outcome, moved_to in rows:
        if askers.get(thread_id) != user_id:
            continue  # only the asker's own reports count
        extras = found.setdefault(thread_id, {"tpmt": [], "outcome": [], "moved_to": []})
        for key, value in (("tpmt", tpmt), ("outcome", outcome), ("moved_to", moved_to)):
            if value:
                extras[key].append(value)
    return found


def _connect_search() -> None:
    try:
        from ..search.documents import document_extras_many
    except ImportError:  # pragma: no cover - search package without the hook
        return
    document_extras_many.connect(search_extras_many)


_connect_search()
