"""The risk register's and the delivery plan's tables: risks with their links to measures and
projects, each quarter's review of a risk, the measures a project delivers, and each cycle's
headline per Council Plan theme."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmf_engine.core.store import Base, UTCDateTime


class Risk(Base):
    """A corporate or operational risk: its cause and effect, the likelihood and impact before
    (inherent) and after (residual) its controls, and what is being done about it. A risk
    raised in a service plan is linked to the plan (``plan_id``; ``R1``, ``R2``, ... there);
    one withdrawn leaves the register but is kept, marked with who withdrew it, when and why."""

    __tablename__ = "risks"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        Index("ix_risks_service", "service_id"),
        Index("ix_risks_plan", "plan_id", "plan_ref", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    register: Mapped[str] = mapped_column(String(32))
    """Which register it is on (``registers`` of ``policies/risk.yaml``: corporate, operational)."""
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    owner: Mapped[str] = mapped_column(String(64), default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    effect: Mapped[str] = mapped_column(Text, default="")
    inherent_likelihood: Mapped[int] = mapped_column()
    inherent_impact: Mapped[int] = mapped_column()
    residual_likelihood: Mapped[int] = mapped_column()
    """The current assessment: set by the import, then by each quarterly review."""
    residual_impact: Mapped[int] = mapped_column()
    controls: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[str] = mapped_column(Text, default="")
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), default=None)
    """The service plan (its workflow instance) the risk was raised in (``None``: the register's own)."""
    plan_ref: Mapped[str | None] = mapped_column(String(16), default=None)
    """``R1``, ``R2``, ... within its plan, in the order raised."""
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """Who withdrew it (``None``: it stands); a withdrawn risk leaves the register, kept with its history."""
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")


class RiskLink(Base):
    """A measure or a project a risk threatens; exactly one of the two is set."""

    __tablename__ = "risk_links"
    __table_args__ = (UniqueConstraint("risk_id", "measure_id"), UniqueConstraint("risk_id", "project_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"))
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("measures.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))


class RiskReview(Base):
    """A risk's residual likelihood and impact as one quarter's review recorded them, inside
    that quarter's cycle (a second review in the quarter adds a row: the newest counts)."""

    __tablename__ = "risk_reviews"
    __table_args__ = (Index("ix_risk_reviews_risk_period", "risk_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    period: Mapped[str] = mapped_column(String(16))
    likelihood: Mapped[int] = mapped_column()
    impact: Mapped[int] = mapped_column()
    previous_score: Mapped[int] = mapped_column()
    """The residual score the review started from: whether it rose is what ``worsening`` counts."""
    note: Mapped[str] = mapped_column(Text)
    reviewed_by: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProjectMeasure(Base):
    """A measure a project of the delivery plan is meant to move."""

    __tablename__ = "project_measures"
    __table_args__ = (UniqueConstraint("project_id", "measure_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id"))


class ThemeHeadline(Base):
    """The headline a cycle's report gives a Council Plan theme (history kept; the newest counts)."""

    __tablename__ = "theme_headlines"
    __table_args__ = (Index("ix_theme_headlines_instance", "instance_id", "theme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    theme: Mapped[str] = mapped_column(String(120))
    narrative: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())
