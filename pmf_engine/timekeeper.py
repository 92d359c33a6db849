"""Deadlines and their steps in the database, written inside the engine's transactions.

Entering a state opens its deadline (resolved from the rule, the calendar and the instance)
and writes one row per reminder and escalation; leaving the state closes the deadline and
cancels the steps that have not fired. Moving a meeting recomputes every open deadline that
depends on it.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from pmf_engine.deadlines import MeetingInfo, resolve
from pmf_engine.definition import Catalog, WorkflowDef
from pmf_engine.escalation import ACTING, plan
from pmf_engine.store import Actor, Deadline, Meeting, RoleAssignment, Step
from pmf_engine.workdays import WorkingDays

_STEPS = cast(Table, Step.__table__)
_DEADLINES = cast(Table, Deadline.__table__)


@dataclass(frozen=True, slots=True)
class Holder:
    username: str
    role: str
    service_id: int | None


@dataclass(frozen=True, slots=True)
class Stay:
    """One instance entering one state: what a deadline needs to know about it."""

    instance_id: int
    organisation_id: int
    service_id: int | None
    subdivision: str
    period_end: date
    entered_at: datetime


class Timekeeper:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def holders(self, s: Session, organisation_id: int) -> list[Holder]:
        rows = s.execute(
            select(Actor.username, RoleAssignment.role, RoleAssignment.service_id)
            .join(Actor, Actor.id == RoleAssignment.actor_id)
            .where(RoleAssignment.organisation_id == organisation_id, Actor.active.is_(True))
        )
        return [Holder(*row) for row in rows]

    def enter(
        self,
        s: Session,
        wf: WorkflowDef,
        state: str,
        stay: Stay,
        pins: MutableMapping[str, int],
        holders: Sequence[Holder] | None = None,
        *,
        already_fired: Collection[tuple[str, int]] = (),
        now: datetime | None = None,
    ) -> int | None:
        """Open the deadline of ``state`` (if it has a rule) and write its steps.

        ``already_fired`` (kind, rung) pairs are left out unless they now fall after ``now``:
        a recomputed deadline does not repeat a reminder that was already sent.
        """
        rule = wf.states[state].rule
        if rule is None:
            return None
        workdays = WorkingDays(stay.subdivision)
        resolution = resolve(
            rule,
            period_end=stay.period_end,
            entered=stay.entered_at,
            workdays=workdays,
            find_meeting=lambda body, moment, strictly: _find_meeting(
                s, stay.organisation_id, body, moment, strictly
            ),
            get_meeting=lambda meeting_id: _get_meeting(s, meeting_id),
            pins=pins,
        )
        deadline_id = s.execute(
            insert(_DEADLINES).returning(_DEADLINES.c.id),
            {
                "instance_id": stay.instance_id,
                "organisation_id": stay.organisation_id,
                "state": state,
                "rule": str(rule),
                "due_at": resolution.due_at,
                "meeting_ids": resolution.meetings,
                "problem": resolution.problem,
                "opened_at": stay.entered_at,
            },
        ).scalar_one()
        if resolution.due_at is not None:
            skip = set(already_fired)
            self._write_steps(s, wf, state, stay, deadline_id, resolution.due_at, holders, skip, now)
        return int(deadline_id)

    def _write_steps(
        self,
        s: Session,
        wf: WorkflowDef,
        state: str,
        stay: Stay,
        deadline_id: int,
        due_at: datetime,
        holders: Sequence[Holder] | None,
        skip: Collection[tuple[str, int]] = (),
        now: datetime | None = None,
    ) -> None:
        policy = self.catalog.escalation
        ladder = policy.ladder(wf.name, state)
        planned = [
            step
            for step in plan(
                due_at,
                ladder,
                WorkingDays(stay.subdivision),
                policy.sending_hours,
                not_before=stay.entered_at,
            )
            if (step.kind, step.rung) not in skip or (now is not None and step.due_at > now)
        ]
        if not planned:
            return
        if holders is None:
            holders = self.holders(s, stay.organisation_id)
        acting = set(wf.acting_roles(state))
        rows: list[dict[str, Any]] = []
        for step in planned:
            roles = {r for name in step.to for r in (acting if name == ACTING else {name})}
            recipients = sorted({h.username for h in holders if h.role in roles and self._in_scope(h, stay)})
            rows.append(
                {
                    "deadline_id": deadline_id,
                    "instance_id": stay.instance_id,
                    "organisation_id": stay.organisation_id,
                    "kind": step.kind,
                    "rung": step.rung,
                    "due_at": step.due_at,
                    "recipients": recipients,
                    "status": "pending",
                }
            )
        s.execute(insert(_STEPS), rows)

    def _in_scope(self, holder: Holder, stay: Stay) -> bool:
        role = self.catalog.roles.roles.get(holder.role)
        if role is None or role.scope == "organisation":
            return True
        return holder.service_id is not None and holder.service_id == stay.service_id

    def leave(self, s: Session, instance_id: int, now: datetime) -> None:
        """Close the open deadline of an instance and cancel its steps that have not fired."""
        s.execute(
            update(_STEPS)
            .where(_STEPS.c.instance_id == instance_id, _STEPS.c.status.in_(("pending", "claimed")))
            .values(status="cancelled")
        )
        s.execute(
            update(_DEADLINES)
            .where(_DEADLINES.c.instance_id == instance_id, _DEADLINES.c.closed_at.is_(None))
            .values(closed_at=now)
        )

    def open_deadlines_using(self, s: Session, organisation_id: int, meeting_id: int) -> list[Deadline]:
        candidates = s.scalars(
            select(Deadline).where(Deadline.organisation_id == organisation_id, Deadline.closed_at.is_(None))
        )
        return [d for d in candidates if meeting_id in (d.meeting_ids or [])]


def _find_meeting(
    s: Session, organisation_id: int, body: str, moment: datetime, strictly_after: bool
) -> MeetingInfo | None:
    when = Meeting.starts_at > moment if strictly_after else Meeting.starts_at >= moment
    row = s.execute(
        select(Meeting.id, Meeting.body, Meeting.starts_at)
        .where(Meeting.organisation_id == organisation_id, Meeting.body == body, when)
        .order_by(Meeting.starts_at)
        .limit(1)
    ).first()
    return MeetingInfo(*row) if row else None


def _get_meeting(s: Session, meeting_id: int) -> MeetingInfo | None:
    row = s.execute(
        select(Meeting.id, Meeting.body, Meeting.starts_at).where(Meeting.id == meeting_id)
    ).first()
    return MeetingInfo(*row) if row else None
