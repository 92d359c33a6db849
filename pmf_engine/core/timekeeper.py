"""Deadlines and their steps in the database, written inside the engine's transactions.

Entering a state opens its deadline (resolved from the rule, the calendar and the instance)
and writes one row per reminder and escalation; leaving the state closes the deadline and
cancels the steps that have not fired. Moving a meeting recomputes every open deadline that
depends on it. A return to a state after the meeting its deadline hangs on has begun uses the
state's ``on_return`` rule, if it declares one (a return: the instance had a deadline in that
state before).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.deadlines import DeadlineRule, MeetingFinder, MeetingInfo, meeting_begun, resolve
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.escalation import ACTING, ASSIGNEE, plan
from pmf_engine.core.instances import InstanceRow
from pmf_engine.core.period import parse_period
from pmf_engine.core.raw import Statement
from pmf_engine.core.store import Actor, Deadline, Meeting, RoleAssignment, Step
from pmf_engine.core.tx import Tx
from pmf_engine.core.workdays import WorkingDays

_STEPS = cast(Table, Step.__table__)
_DEADLINES = cast(Table, Deadline.__table__)


@dataclass(frozen=True, slots=True)
class Holder:
    """Someone a step's message may go to: an active actor's role (``service_id`` ``None``: org-wide)."""

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
    due: date | None = None
    assignee: str | None = None

    @classmethod
    def of(
        cls,
        instance_id: int,
        organisation_id: int,
        service_id: int | None,
        subdivision: str,
        period_end: date,
        entered_at: datetime,
        context: Mapping[str, Any],
    ) -> Stay:
        """A stay whose ``due`` date and ``assignee`` come from the instance's context."""
        due = context.get("due")
        return cls(
            instance_id,
            organisation_id,
            service_id,
            subdivision,
            period_end,
            entered_at,
            date.fromisoformat(due) if isinstance(due, str) else None,
            context.get("assignee"),
        )

    @classmethod
    def of_row(cls, inst: InstanceRow, entered_at: datetime, context: Mapping[str, Any]) -> Stay:
        """The stay of an instance read by ``InstanceRow`` (its period's end from its key)."""
        return cls.of(
            inst.id,
            inst.organisation_id,
            inst.service_id,
            inst.subdivision,
            parse_period(inst.period).end,
            entered_at,
            context,
        )


_ALL_HOLDERS = (
    select(Actor.username, RoleAssignment.role, RoleAssignment.service_id)
    .join(Actor, Actor.id == RoleAssignment.actor_id)
    .where(RoleAssignment.organisation_id == bindparam("org"), Actor.active.is_(True))
)
_NEW_DEADLINE = insert(_DEADLINES).returning(_DEADLINES.c.id, sort_by_parameter_order=True)
_NEW_STEP = insert(_STEPS)
_OPEN_DEADLINES = select(_DEADLINES.c.id).where(
    _DEADLINES.c.instance_id == bindparam("instance"), _DEADLINES.c.closed_at.is_(None)
)
# leave(): two set-based statements, steps first (while their deadline is still open).
_CANCEL_STEPS = (
    update(_STEPS)
    .where(
        _STEPS.c.deadline_id.in_(_OPEN_DEADLINES.scalar_subquery()),
        _STEPS.c.status.in_([literal("pending"), literal("claimed")]),  # not expanding: compiled once
    )
    .values(status="cancelled")
)
_CLOSE_DEADLINES = (
    update(_DEADLINES)
    .where(_DEADLINES.c.instance_id == bindparam("instance"), _DEADLINES.c.closed_at.is_(None))
    .values(closed_at=bindparam("now"))
)
# Each with the name of the same write in PostgreSQL's ``pmf_apply`` (migration 0026).
_RAW_CANCEL_STEPS = Statement(_CANCEL_STEPS, server="cancel_steps")
_RAW_CLOSE_DEADLINES = Statement(_CLOSE_DEADLINES, server="close_deadlines")
_RAW_NEW_DEADLINE = Statement(_NEW_DEADLINE, server="new_deadline")
_RAW_NEW_STEP = Statement(_NEW_STEP, server="new_steps")
_RAW_HOLDERS_OF: dict[int, Statement] = {}


def _holders_of(count: int) -> Statement:
    """The active holders of ``count`` roles (one parameter each: ``role0``, ``role1``, ...),
    organisation-wide or of the ``service``; one statement per count, compiled once."""
    found = _RAW_HOLDERS_OF.get(count)
    if found is None:
        found = _RAW_HOLDERS_OF[count] = Statement(
            _ALL_HOLDERS.where(
                RoleAssignment.role.in_([bindparam(f"role{i}") for i in range(count)]),
                or_(RoleAssignment.service_id.is_(None), RoleAssignment.service_id == bindparam("service")),
            )
        )
    return found


class Timekeeper:
    """Opens, closes and recomputes deadlines and their steps, inside the caller's transaction."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def holders(
        self,
        s: Session | Tx,
        organisation_id: int,
        roles: Collection[str] | None = None,
        service_id: int | None = None,
    ) -> list[Holder]:
        """Active holders of roles in an organisation (of ``roles``, for ``service_id``, if given)."""
        rows: Sequence[Any]
        tx = Tx.of(s)
        if roles is None:
            rows = tx.connection.execute(_ALL_HOLDERS, {"org": organisation_id}).all()
        elif not roles:
            return []  # no role: nobody holds it (no query)
        else:
            values: dict[str, Any] = {f"role{i}": r for i, r in enumerate(sorted(roles))}
            values |= {"org": organisation_id, "service": service_id}
            rows = tx.raw.rows(_holders_of(len(roles)), values)
        return [Holder(*row) for row in rows]

    def enter(
        self,
        s: Session | Tx,
        wf: WorkflowDef,
        state: str,
        stay: Stay,
        pins: MutableMapping[str, int],
        holders: Sequence[Holder] | None = None,
        *,
        already_fired: Collection[tuple[str, int]] = (),
        now: datetime | None = None,
        arrived: datetime | None = None,
        deadline_id: int | None = None,
    ) -> int | None:
        """Open the deadline of ``state`` (if it has a rule) and write its steps.

        ``already_fired`` (kind, rung) pairs are left out unless they now fall after ``now``:
        a recomputed deadline does not repeat a reminder that was already sent. ``arrived`` is
        when the instance arrived at the state or came back to it: by default ``now``, else
        the stay's entry (a recomputation passes the deadline's opening). A fire on PostgreSQL
        passes the ``deadline_id`` it reserved: the rows are then deferred to its last round trip.
        """
        return self.enter_many(
            s,
            wf,
            state,
            [(stay, pins)],
            holders,
            already_fired=already_fired,
            now=now,
            arrived=arrived,
            deadline_id=deadline_id,
        )[0]

    def enter_many(
        self,
        s: Session | Tx,
        wf: WorkflowDef,
        state: str,
        stays: Sequence[tuple[Stay, MutableMapping[str, int]]],
        holders: Sequence[Holder] | None = None,
        *,
        already_fired: Collection[tuple[str, int]] = (),
        now: datetime | None = None,
        arrived: datetime | None = None,
        deadline_id: int | None = None,
    ) -> list[int | None]:
        """``enter`` for many instances at once (a cycle spawning its service returns): one
        multi-row INSERT for the deadlines and one for all their steps."""
        if wf.states[state].rule is None or not stays:
            return [None] * len(stays)
        tx = Tx.of(s)
        rules: list[DeadlineRule] = []
        resolutions = []
        for stay, pins in stays:
            arrival = arrived or now or stay.entered_at
            rule, entered = self._rule_for(tx, wf, state, stay, pins, arrival)
            rules.append(rule)
            resolutions.append(
                resolve(
                    rule,
                    period_end=stay.period_end,
                    entered=entered,
                    workdays=WorkingDays(stay.subdivision),
                    find_meeting=_finder(tx, stay.organisation_id),
                    get_meeting=lambda meeting_id: _get_meeting(tx.session, meeting_id),
                    pins=pins,
                    due=stay.due,
                    arrived=arrival,
                )
            )
        opened = [
            {
                "instance_id": stay.instance_id,
                "organisation_id": stay.organisation_id,
                "state": state,
                "rule": str(rule),
                "due_at": r.due_at,
                "meeting_ids": r.meetings,
                "problem": r.problem,
                "opened_at": stay.entered_at,
            }
            for (stay, _), rule, r in zip(stays, rules, resolutions, strict=True)
        ]
        raw = tx.raw
        if len(opened) == 1 and deadline_id is not None:  # a fire that reserved the id
            raw.defer(_RAW_NEW_DEADLINE, {**opened[0], "id": deadline_id})
            ids = [deadline_id]
        elif len(opened) == 1:  # a fire: one deadline, on the driver
            ids = [row[0] for row in raw.rows(_RAW_NEW_DEADLINE, opened[0])]
        else:
            ids = list(tx.connection.execute(_NEW_DEADLINE, opened).scalars())
        rows: list[dict[str, Any]] = []
        skip = set(already_fired)
        for (stay, _), resolution, opened_id in zip(stays, resolutions, ids, strict=True):
            if resolution.due_at is not None:
                rows += self._step_rows(tx, wf, state, stay, opened_id, resolution.due_at, holders, skip, now)
        if rows and len(opened) == 1:
            raw.defer(_RAW_NEW_STEP, rows)
        elif rows:
            tx.connection.execute(_NEW_STEP, rows)
        return [int(i) for i in ids]

    def _rule_for(
        self,
        tx: Tx,
        wf: WorkflowDef,
        state: str,
        stay: Stay,
        pins: Mapping[str, int],
        arrival: datetime,
    ) -> tuple[DeadlineRule, datetime]:
        """The rule this stay's deadline follows and the moment its ``entered`` means: the
        state's own, or on a return after its meeting began, the declared ``on_return`` rule
        counted from the return (``next_meeting`` is the own rule: ``resolve`` moves on)."""
        definition = wf.states[state]
        rule, declared = definition.rule, definition.return_rule
        assert rule is not None  # the caller checked
        if (
            declared is not None
            and meeting_begun(rule, pins, lambda meeting_id: _get_meeting(tx.session, meeting_id), arrival)
            and tx.session.execute(
                select(Deadline.id)
                .where(
                    Deadline.instance_id == stay.instance_id,
                    Deadline.state == state,
                    Deadline.opened_at < arrival,
                )
                .limit(1)
            ).first()
            is not None
        ):
            return declared, arrival
        return rule, stay.entered_at

    def _step_rows(
        self,
        tx: Tx,
        wf: WorkflowDef,
        state: str,
        stay: Stay,
        deadline_id: int,
        due_at: datetime,
        holders: Sequence[Holder] | None,
        skip: Collection[tuple[str, int]],
        now: datetime | None,
    ) -> list[dict[str, Any]]:
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
            return []
        acting = set(wf.acting_roles(state))

        def roles_of(names: Collection[str]) -> set[str]:
            return {r for name in names if name != ASSIGNEE for r in (acting if name == ACTING else {name})}

        if holders is None:
            wanted = roles_of([name for step in planned for name in step.to])
            holders = self.holders(tx, stay.organisation_id, wanted, stay.service_id)
        rows: list[dict[str, Any]] = []
        for step in planned:
            roles = roles_of(step.to)
            recipients = sorted(
                {h.username for h in holders if h.role in roles and self._in_scope(h, stay)}
                | ({stay.assignee} if ASSIGNEE in step.to and stay.assignee else set())
            )
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
        return rows

    def _in_scope(self, holder: Holder, stay: Stay) -> bool:
        role = self.catalog.roles.roles.get(holder.role)
        if role is None or role.scope == "organisation":
            return True
        return holder.service_id is not None and holder.service_id == stay.service_id

    def fired_steps(self, s: Session, instance_id: int) -> set[tuple[str, int]]:
        """(kind, rung) of the steps of the instance's open deadline that have already fired."""
        return {
            (kind, rung)
            for kind, rung in s.execute(
                select(Step.kind, Step.rung)
                .join(Deadline, Deadline.id == Step.deadline_id)
                .where(
                    Deadline.instance_id == instance_id, Deadline.closed_at.is_(None), Step.status == "fired"
                )
            )
        }

    def leave(self, s: Session | Tx, instance_id: int, now: datetime) -> None:
        """Close the open deadline of an instance and cancel its steps that have not fired."""
        raw = Tx.of(s).raw
        raw.defer(_RAW_CANCEL_STEPS, {"instance": instance_id})
        raw.defer(_RAW_CLOSE_DEADLINES, {"instance": instance_id, "now": now})

    def open_deadlines_using(self, s: Session, organisation_id: int, meeting_id: int) -> list[Deadline]:
        """The organisation's open deadlines reckoned from ``meeting_id`` (to redo when it moves),
        and those not resolved yet (a meeting added or moved may be the one they wait for)."""
        candidates = s.scalars(
            select(Deadline).where(Deadline.organisation_id == organisation_id, Deadline.closed_at.is_(None))
        )
        return [d for d in candidates if meeting_id in (d.meeting_ids or []) or d.due_at is None]


def _finder(tx: Tx, organisation_id: int) -> MeetingFinder:
    def find(body: str, moment: datetime, strictly_after: bool) -> MeetingInfo | None:
        return _find_meeting(tx.session, organisation_id, body, moment, strictly_after)

    return find


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
