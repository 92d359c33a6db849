"""Read views of instances: state, the steps out of it, the open deadline with its reminder
and escalation steps, and children, built in a fixed number of queries whatever their count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from pmf_engine.core.clock import Clock
from pmf_engine.core.definition import TransitionDef, WorkflowDef
from pmf_engine.core.errors import NotFound
from pmf_engine.core.period import parse_period
from pmf_engine.core.store import Deadline, Instance, Step, WorkflowVersion
from pmf_engine.core.workdays import working_days_late


@dataclass(frozen=True, kw_only=True)
class NextStep:
    """One transition out of an instance's state as offered to people: a page's button, a command's choice."""

    trigger: str
    label: str
    dest: str
    roles: tuple[str, ...]
    reason_required: bool
    fields: tuple[str, ...]
    choices: tuple[tuple[str, str], ...] = ()
    """(data key, child workflow) of each cascade that acts only on the children named under
    that key: a page offers those children to pick (none picked: all of them)."""

    @classmethod
    def of(cls, t: TransitionDef) -> NextStep:
        """The step a transition offers."""
        return cls(
            trigger=t.trigger,
            label=t.shown_label,
            dest=t.dest,
            roles=t.roles,
            reason_required=t.reason_required,
            fields=t.fields,
            choices=tuple((c.only, c.children) for c in t.cascade if c.only),
        )

    @property
    def data_keys(self) -> tuple[str, ...]:
        """Every data key the step takes: its fields and its cascades' choices."""
        return (*self.fields, *(key for key, _ in self.choices))


@dataclass(frozen=True, kw_only=True)
class InstanceStatus:
    """An instance as pages and commands show it; ``workflow`` is the version's ``name@hash`` reference.

    ``version`` counts the instance's changes: pass it as ``expected_version`` to act only on what was seen.
    """

    key: str
    organisation: str
    period: str
    service: str | None
    workflow: str
    state: str
    state_label: str
    terminal: bool
    version: int
    entered_at: datetime
    next_steps: tuple[NextStep, ...]
    deadline: DeadlineStatus | None = None
    children: tuple[InstanceStatus, ...] = field(default=())


@dataclass(frozen=True, kw_only=True)
class DeadlineStatus:
    """An instance's open deadline: when it is due (``None``: ``problem`` says why), how far it escalated."""

    rule: str
    due_at: datetime | None
    problem: str | None
    late_working_days: int
    """0 when not late; else working days past the deadline."""
    escalation_rung: int
    """The highest escalation step fired so far (0: none)."""
    next_step: tuple[str, int, datetime] | None
    """(kind, rung, due) of the next step still to fire."""


def next_steps(wf: WorkflowDef, state: str, period: str | None = None) -> tuple[NextStep, ...]:
    """The transitions out of ``state`` (in ``period``) as a page or a command offers them."""
    tag = parse_period(period).tag if period else None
    return tuple(NextStep.of(t) for t in wf.allowed_from(state, tag))


class Definitions(Protocol):
    """Where stored definitions come from (``Versions``)."""

    def definition(self, version: WorkflowVersion) -> WorkflowDef:
        """The definition ``version`` was stored with."""
        ...


class Views:
    """Builds ``InstanceStatus`` values from rows, with stored definitions and the clock."""

    def __init__(self, definitions: Definitions, clock: Clock) -> None:
        self.definitions = definitions
        self.clock = clock

    def status(self, s: Session, inst: Instance, *, with_children: bool) -> InstanceStatus:
        """What ``inst`` looks like now, with its children if asked (in three queries)."""
        children: list[Instance] = []
        if with_children:
            children = list(
                s.scalars(
                    select(Instance)
                    .where(Instance.parent_id == inst.id)
                    .options(
                        joinedload(Instance.organisation),
                        joinedload(Instance.service),
                        joinedload(Instance.workflow_version),
                    )
                    .order_by(Instance.key)
                )
            )
        deadlines = self.deadline_statuses(s, [inst, *children])
        return self.view(inst, deadlines, tuple(self.view(c, deadlines, ()) for c in children))

    def view(
        self,
        inst: Instance,
        deadlines: Mapping[int, DeadlineStatus],
        children: tuple[InstanceStatus, ...],
    ) -> InstanceStatus:
        """One instance's status from its loaded row and the deadlines ``deadline_statuses`` already found."""
        wf = self.definitions.definition(inst.workflow_version)
        steps = next_steps(wf, inst.state, inst.period)
        return InstanceStatus(
            key=inst.key,
            organisation=inst.organisation.code,
            period=inst.period,
            service=inst.service.code if inst.service else None,
            workflow=inst.workflow_version.ref,
            state=inst.state,
            state_label=wf.state_label(inst.state),
            terminal=wf.is_terminal(inst.state),
            version=inst.version,
            entered_at=inst.entered_at,
            next_steps=steps,
            deadline=deadlines.get(inst.id),
            children=children,
        )

    def deadline_statuses(self, s: Session, instances: Sequence[Instance]) -> dict[int, DeadlineStatus]:
        """The open deadline of each instance with its steps: two queries, however many."""
        by_id = {i.id: i for i in instances}
        found = list(
            s.scalars(
                select(Deadline).where(Deadline.instance_id.in_(list(by_id)), Deadline.closed_at.is_(None))
            )
        )
        steps: dict[int, list[tuple[str, int, str, datetime]]] = {}
        if found:
            for deadline_id, kind, rung, state, due in s.execute(
                select(Step.deadline_id, Step.kind, Step.rung, Step.status, Step.due_at)
                .where(Step.deadline_id.in_([d.id for d in found]))
                .order_by(Step.due_at)
            ).all():
                steps.setdefault(deadline_id, []).append((kind, rung, state, due))
        now = self.clock.now()
        result: dict[int, DeadlineStatus] = {}
        for deadline in found:
            own = steps.get(deadline.id, [])
            rung = max((r for k, r, st, _ in own if k == "escalation" and st == "fired"), default=0)
            upcoming = next(((k, r, d) for k, r, st, d in own if st in ("pending", "claimed")), None)
            late = 0
            if deadline.due_at is not None:
                subdivision = by_id[deadline.instance_id].organisation.holiday_subdivision
                late = working_days_late(deadline.due_at, now, subdivision)
            result[deadline.instance_id] = DeadlineStatus(
                rule=deadline.rule,
                due_at=deadline.due_at,
                problem=deadline.problem,
                late_working_days=late,
                escalation_rung=rung,
                next_step=upcoming,
            )
        return result


def load_instance(s: Session, key: str) -> Instance:
    """The instance ``key`` with its organisation, service and version; ``NotFound`` if none."""
    inst = s.scalar(
        select(Instance)
        .where(Instance.key == key)
        .options(
            joinedload(Instance.organisation),
            joinedload(Instance.service),
            joinedload(Instance.workflow_version),
        )
    )
    if inst is None:
        raise NotFound("cycle or return", key)
    return inst
