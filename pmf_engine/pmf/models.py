"""The council framework's tables: measures, actuals, projects, milestones, project updates,
frozen report snapshots, exception reports, digest subscriptions, calendar feeds and the target
lifecycle (targets proposed, agreed and revised, and each stage's decision), on the engine's
declarative base."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false, true
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
    comparator_metric: Mapped[str | None] = mapped_column(String(32), default=None)
    """The measure's metric at comparator sources (an LG Inform metric type id), if it has one."""

    publish: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """Its figures are approved for publication (off: never on the public open-data feed or page)."""

    agreed_targets: Mapped[dict[str, list[list[str | float]]]] = mapped_column(JsonType, default=dict)
    """The lifecycle's annual targets in force (``target_setting``), written when one is agreed:
    ``{year: [[first quarter, value], ...]}``, the agreed target then each approved revision."""
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
    key_project: Mapped[bool] = mapped_column(default=False)
    """A key project of its theme: the delivery plan's headline names it."""


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


class AnnualReportSnapshot(Base):
    """An organisation's annual report of a financial year as it stood when its Q4 cycle was
    signed off, and its public version (append-only)."""

    __tablename__ = "annual_report_snapshots"
    __table_args__ = (UniqueConstraint("organisation_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[str] = mapped_column(String(16))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), unique=True)
    """The Q4 cycle whose sign-off froze it."""
    content: Mapped[str] = mapped_column(Text)
    """Canonical JSON of the report."""
    sha256: Mapped[str] = mapped_column(String(64))
    public_content: Mapped[str] = mapped_column(Text)
    """Canonical JSON of its public version (as published once Cabinet approves the Q4 cycle)."""
    public_sha256: Mapped[str] = mapped_column(String(64))
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


class ModernGovMeeting(Base):
    """A calendar meeting's ModernGov identity: its committee and meeting ids on the site, and
    the agenda item of the performance report once its agenda is published."""

    __tablename__ = "moderngov_meetings"
    __table_args__ = (UniqueConstraint("organisation_id", "meeting_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    meeting_ref: Mapped[int] = mapped_column()
    """ModernGov's meeting id (``MId``)."""
    committee_ref: Mapped[int] = mapped_column()
    """ModernGov's committee id (``CId``)."""
    uid: Mapped[str] = mapped_column(String(200))
    """The uid of the calendar's meeting (``meetings.uid``)."""
    agenda_item_ref: Mapped[int | None] = mapped_column()
    agenda_item_title: Mapped[str] = mapped_column(String(300), default="")
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """ModernGov lists the meeting as Provisional (a date pencilled in), as of the last sync."""


class ModernGovResponse(Base):
    """A ModernGov response that came with an ETag, kept for the next conditional GET."""

    __tablename__ = "moderngov_responses"
    __table_args__ = (UniqueConstraint("organisation_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    url: Mapped[str] = mapped_column(String(700))
    etag: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModernGovSync(Base):
    """When an organisation's calendar is next synchronised by the worker, and how the last went."""

    __tablename__ = "moderngov_syncs"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class CalendarFeed(Base):
    """The secret address of a person's .ics feed of their deadlines; only its SHA-256 is
    stored. A person has at most one live feed: a new one revokes the one before."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (Index("ix_calendar_feeds_actor", "actor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TargetSetting(Base):
    """A measure's annual target for a financial year as the service proposed it (``original``)
    or a mid-year ``revision`` of it, through agreement: ``proposed`` (awaiting the stage
    ``stage`` of the policy's list), ``agreed`` or ``sent_back``. Rows are never deleted."""

    __tablename__ = "target_settings"
    __table_args__ = (Index("ix_target_settings_measure_year", "measure_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id"))
    year: Mapped[str] = mapped_column(String(7))
    """The financial year, ``2024-25``."""
    kind: Mapped[str] = mapped_column(String(8))
    """``original`` or ``revision``."""
    value: Mapped[float] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[str] = mapped_column(String(16))
    """The first quarter the target counts for: Q1 of its year for an original."""
    state: Mapped[str] = mapped_column(String(16))
    stage: Mapped[int] = mapped_column(default=0)
    """How many of the policy's agreement stages have agreed it so far."""
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TargetDecision(Base):
    """One stage's decision on a target: agreed or sent back, by whom, when and why."""

    __tablename__ = "target_decisions"
    __table_args__ = (Index("ix_target_decisions_target", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("target_settings.id"))
    stage: Mapped[str] = mapped_column(String(80))
    decision: Mapped[str] = mapped_column(String(16))
    """``agreed`` or ``sent_back``."""
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
