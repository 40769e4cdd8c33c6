"""Experience reports: one structured course on azathioprine per member and condition.

Every save also writes an ``ExperienceRevision`` (a JSON snapshot), so the report
becomes a timeline. Weight is stored only to work out mg/kg; it is never shown.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import Thread, User, utcnow

TPMT = {
    "normal": "normal",
    "intermediate": "intermediate",
    "low": "low",
    "not_tested": "not tested",
    "dont_know": "don't know",
}
BLOOD_TESTS = {
    "weekly": "weekly",
    "fortnightly": "fortnightly",
    "monthly": "monthly",
    "every_2_months": "every 2 months",
    "every_3_months": "every 3 months",
    "less_often": "less often",
}
HELPED = {"yes": "yes", "no": "no", "not_yet": "not yet", "unsure": "not sure"}
OUTCOMES = {"still_taking": "still taking", "dose_reduced": "dose reduced", "stopped": "stopped"}
STOP_REASONS = {
    "side_effects": "side effects",
    "didnt_work": "didn't work",
    "blood_results": "blood results",
    "liver_results": "liver results",
    "pregnancy_plans": "pregnancy plans",
    "remission": "in remission",
    "other": "other",
}
MOVED_TO = {
    "mycophenolate": "mycophenolate",
    "mercaptopurine": "mercaptopurine",
    "methotrexate": "methotrexate",
    "biologic": "a biologic",
    "other": "something else",
}
MOVED_OUTCOMES = {
    "better": "going better",
    "similar": "about the same",
    "worse": "going worse",
    "too_early": "too early to say",
}
SEVERITIES = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


# Fields that never leave their owner: not rendered for others, summarised, indexed or
# written by `flask forum export`; only the owner's own data download carries them.
PRIVATE_FIELDS = ("weight_kg", "stop_reason_other")


class ExperienceReport(db.Model):
    __tablename__ = "experience_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    condition: Mapped[str] = mapped_column(String(60), index=True)
    started_on: Mapped[date | None] = mapped_column(Date)
    stopped_on: Mapped[date | None] = mapped_column(Date)
    dose_mg_per_day: Mapped[float | None] = mapped_column(Float)
    # Private: only used to work out mg/kg. Never rendered, exported publicly or summarised.
    weight_kg: Mapped[float | None] = mapped_column(Float)
    tpmt: Mapped[str | None] = mapped_column(String(16))
    blood_test_frequency: Mapped[str | None] = mapped_column(String(20))
    helped: Mapped[str | None] = mapped_column(String(10))
    helped_after_weeks: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))
    stop_reason: Mapped[str | None] = mapped_column(String(20))
    stop_reason_other: Mapped[str | None] = mapped_column(String(200))
    moved_to: Mapped[str | None] = mapped_column(String(20))
    moved_to_outcome: Mapped[str | None] = mapped_column(String(12))
    co_medications: Mapped[str] = mapped_column(String(400), default="")
    include_in_summaries: Mapped[bool] = mapped_column(Boolean, default=True)
    # The summary (never the weight) on the member's public profile.
    show_on_profile: Mapped[bool] = mapped_column(Boolean, default=True)
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship()
    thread: Mapped[Thread | None] = relationship()
    steps: Mapped[list[TitrationStep]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="TitrationStep.position",
        passive_deletes=True,
    )
    side_effects: Mapped[list[ReportedSideEffect]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="ReportedSideEffect.position",
        passive_deletes=True,
    )
    revisions: Mapped[list[ExperienceRevision]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="ExperienceRevision.id",
        passive_deletes=True,
    )

    __table_args__ = (
        UniqueConstraint("user_id", "condition", name="uq_experience_reports_user_condition"),
    )

    @property
    def co_medication_slugs(self) -> list[str]:
        return [s for s in self.co_medications.split(",") if s]

    @property
    def mg_per_kg(self) -> float | None:
        if self.dose_mg_per_day and self.weight_kg:
            return round(self.dose_mg_per_day / self.weight_kg, 2)
        return None

    def weeks_on_treatment(self, today: date | None = None) -> int | None:
        """Whole weeks from the start to the stop date (or today); None without a start."""
        if not self.started_on:
            return None
        end = self.stopped_on or today or date.today()
        return max(0, (end - self.started_on).days // 7)


class TitrationStep(db.Model):
    """One step on the way to the current dose: a week (or a date) and the dose from then."""

    __tablename__ = "experience_titration_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("experience_reports.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    week: Mapped[int | None] = mapped_column(Integer)
    on_date: Mapped[date | None] = mapped_column(Date)
    dose_mg: Mapped[float] = mapped_column(Float)

    report: Mapped[ExperienceReport] = relationship(back_populates="steps")


class ReportedSideEffect(db.Model):
    __tablename__ = "experience_side_effects"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("experience_reports.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    side_effect: Mapped[str] = mapped_column(String(60), index=True)
    severity: Mapped[str | None] = mapped_column(String(10))
    began_week: Mapped[int | None] = mapped_column(Integer)
    # None: the person did not say (or it is too early to tell).
    settled: Mapped[bool | None] = mapped_column(Boolean)
    settled_week: Mapped[int | None] = mapped_column(Integer)

    report: Mapped[ExperienceReport] = relationship(back_populates="side_effects")


class ExperienceRevision(db.Model):
    """A snapshot of the report as saved, so the owner (and the profile) see a timeline."""

    __tablename__ = "experience_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("experience_reports.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    snapshot: Mapped[str] = mapped_column(Text, default="{}")

    report: Mapped[ExperienceReport] = relationship(back_populates="revisions")
