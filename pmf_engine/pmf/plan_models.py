"""The tables of service plans: a plan's text (its self-evaluation and sections), its actions and
each action's status reported per quarter (an action withdrawn is kept, marked with who withdrew
it, when and why). Its operational risks are entries of the risk register (``risk_models.Risk``,
linked to the plan).

A plan is a workflow instance (``ORG/plans-2025-26/SERVICE``, see ``pmf.plans``); these rows
hang off that instance, so the plan's state, deadlines and audit trail are the engine's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmf_engine.core.store import Base, JsonType, UTCDateTime


class PlanText(Base):
    """What a service plan says: its self-evaluation and a text per section (newest wins)."""

    __tablename__ = "plan_texts"

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), primary_key=True)
    self_evaluation: Mapped[str] = mapped_column(Text, default="")
    sections: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    """Section name (``framework.yaml`` ``plans.sections``) -> its text."""
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlanAction(Base):
    """An action of a service plan: what, whose, by when, and the measure or project it serves."""

    __tablename__ = "plan_actions"
    __table_args__ = (UniqueConstraint("instance_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    ref: Mapped[str] = mapped_column(String(16))
    """``A1``, ``A2``, ... within the plan (or the reference an import gave)."""
    what: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    due: Mapped[str] = mapped_column(String(10))
    """ISO date."""
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("measures.id"), default=None)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """Who withdrew it (``None``: it stands); a withdrawn row is kept with its history."""
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")


class PlanActionUpdate(Base):
    """An action's status for one quarter, reported with the service's return (history kept)."""

    __tablename__ = "plan_action_updates"
    __table_args__ = (Index("ix_plan_action_updates_action_period", "action_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("plan_actions.id"))
    period: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
