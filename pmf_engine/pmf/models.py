"""The council framework's tables: measures, actuals, projects, milestones, project updates,
frozen report snapshots and exception reports, on the engine's declarative base."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmf_engine.core.store import Base, JsonType, UTCDateTime

ProjectState = Literal["on_track", "at_risk", "off_track", "complete"]
"""What a service reports of a project each quarter."""
PROJECT_STATES: tuple[ProjectState, ...] = ("on_track", "at_risk", "off_track", "complete")
QualityFlag = Literal["validated", "estimated", "provisional"]
"""How sure a reported figure is (data quality); the report marks the last two."""
QUALITY_FLAGS: tuple[QualityFlag, ...] = ("validated", "estimated", "provisional")


class Measure(Base):
    """A performance indicator of an organisation's Council Plan."""

    __tablename__ = "measures"
    __table_args__ = (UniqueConstraint("organisation_id", "code"), Index("ix_measures_service", "service_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    theme: Mapped[str] = mapped_column(String(120), default="")
    priority: Mapped[str] = mapped_column(String(120), default="")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    owner: Mapped[str] = mapped_column(String(64), default="")
    unit: Mapped[str] = mapped_column(String(32), default="")
    format: Mapped[str] = mapped_column(String(16), default="number")
    polarity: Mapped[str] = mapped_column(String(8))
    frequency: Mapped[str] = mapped_column(String(16), default="quarterly")
    data_source: Mapped[str] = mapped_column(String(200), default="")
    assurance: Mapped[str] = mapped_column(String(32), default="")
    targets: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    """Targets set for single quarters (``2024-25-Q1``); they win over the annual profile."""
    annual_targets: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    """Targets per financial year (``2024-25``), spread over the quarters by ``profile``."""
    profile: Mapped[list[float]] = mapped_column(JsonType, default=list)
    """Four quarterly weights of the annual target (empty: equal quarters)."""
    aggregation: Mapped[str] = mapped_column(String(8), default="mean")
    """How quarters add up to a year: sum (counts), mean (rates) or latest (snapshots)."""
    minimum: Mapped[float | None] = mapped_column(default=None)
    """The lowest figure the measure can take, if the measures file sets one (else its format's)."""
    maximum: Mapped[float | None] = mapped_column(default=None)
    """The highest figure the measure can take, if the measures file sets one (else its format's)."""
    definition: Mapped[str] = mapped_column(Text, default="")
    """What the measure counts, in words (data quality: the definition an auditor checks against)."""
    guidance: Mapped[str] = mapped_column(Text, default="")
    """How to compile the figure: what to include and leave out, where to look."""
    numerator: Mapped[str] = mapped_column(String(300), default="")
    """For a rate: what is counted on top (``applications decided in 8 weeks``)."""
    denominator: Mapped[str] = mapped_column(String(300), default="")
    """For a rate: what it is counted out of (``applications received``)."""
    data_owner: Mapped[str] = mapped_column(String(64), default="")
    """Who answers for the figure's data (the service's data owner, not the measure's lead)."""


class Actual(Base):
    """One reported value; a resubmission adds a row, so earlier values stay in history."""

    __tablename__ = "actuals"
    __table_args__ = (Index("ix_actuals_measure_period", "measure_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id"))
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column()
    narrative: Mapped[str] = mapped_column(Text, default="")
    forecast: Mapped[float | None] = mapped_column(default=None)
    """The service's forecast of the year-end outturn (the ``forecast`` RAG basis)."""
    restatement_reason: Mapped[str | None] = mapped_column(Text, default=None)
    """Set when the value corrects one already in a frozen report."""
    missing_reason: Mapped[str | None] = mapped_column(Text, default=None)
    """Why there is no figure (``value`` is ``None``): what lets a return be submitted without it."""
    quality: Mapped[str | None] = mapped_column(String(16), default=None)
    """How sure the figure is: a ``QualityFlag`` (validated, estimated, provisional), or ``None``
    where the service did not say."""
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Project(Base):
    """A project of the Council Plan delivery programme, tracked beside the measures."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("organisation_id", "code"), Index("ix_projects_service", "service_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    theme: Mapped[str] = mapped_column(String(120), default="")
    priority: Mapped[str] = mapped_column(String(120), default="")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    owner: Mapped[str] = mapped_column(String(64), default="")


class Milestone(Base):
    """A project's milestone: what is due when, and when it was completed."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("project_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    title: Mapped[str] = mapped_column(String(300))
    due: Mapped[str] = mapped_column(String(10))
    """ISO date."""
    completed_on: Mapped[str | None] = mapped_column(String(10), default=None)


class ProjectUpdate(Base):
    """A project's status for one quarter as its service reported it (newest wins; history kept)."""

    __tablename__ = "project_updates"
    __table_args__ = (Index("ix_project_updates_project_period", "project_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    period: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    """A ``ProjectState``: on_track, at_risk, off_track or complete."""
    narrative: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportSnapshot(Base):
    """The committee report's content as it stood at Leadership Team sign-off (append-only)."""

    __tablename__ = "report_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), unique=True)
    content: Mapped[str] = mapped_column(Text)
    """Canonical JSON of everything the report shows."""
    sha256: Mapped[str] = mapped_column(String(64))
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    frozen_by: Mapped[str] = mapped_column(String(64))


class ExceptionReport(Base):
    """Why a measure is red (or a project off track), what is being done, by whom, and when
    it will recover. Exactly one of ``measure_id`` and ``project_id`` is set."""

    __tablename__ = "exception_reports"
    __table_args__ = (
        UniqueConstraint("instance_id", "measure_id"),
        UniqueConstraint("instance_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("measures.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    reason: Mapped[str] = mapped_column(Text)
    remedial_action: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    recovery_date: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestSubscription(Base):
    """A person's choice of the weekly e-mail of what they need to do (opt-in)."""

    __tablename__ = "digest_subscriptions"

    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"), primary_key=True)
    weekly: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
