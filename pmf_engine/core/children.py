"""Child instances: the sets a state starts, the one-off children an application adds (a
Scrutiny action), and the children a parent's cascade acts on.

A child set is declared in the parent's ``children`` section: one instance per service, or one
per name listed (a committee, a reviewer), started when the parent enters ``spawn_on``. Every
child is keyed under its parent (``ORG/PERIOD/HR``, ``ORG/PERIOD/economy``,
``ORG/PERIOD/SA-1``). All of it runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import Clock
from pmf_engine.core.definition import CascadeDef, ChildSpec, TransitionDef, WorkflowDef
from pmf_engine.core.errors import GuardFailed, InvalidInput
from pmf_engine.core.instances import NEW_INSTANCES, InstanceRow, child_views
from pmf_engine.core.period import parse_period
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Instance, Organisation, Service
from pmf_engine.core.timekeeper import Stay, Timekeeper
from pmf_engine.core.versions import Versions


@dataclass(frozen=True, slots=True)
class Target:
    """One child a cascade acts on: its row, its workflow and the transition it takes."""

    row: InstanceRow
    workflow: WorkflowDef
    transition: TransitionDef


class Children:
    """Starts child instances and finds the ones a cascade moves."""

    def __init__(self, stored: Versions, timekeeper: Timekeeper, clock: Clock) -> None:
        self.stored = stored
        self.timekeeper = timekeeper
        self.clock = clock

    def spawn(
        self, s: Session, parent_id: int, parent_key: str, period: str, wf: WorkflowDef, state: str, by: str
    ) -> list[str]:
        """Start the child sets ``state`` asks for in this period: each member not started yet,
        with its deadline and steps, and one audit entry each."""
        specs = wf.children_spawned_on(state, parse_period(period).tag)
        if not specs:
            return []
        org_id, org_code, subdivision = s.execute(
            select(Organisation.id, Organisation.code, Organisation.holiday_subdivision)
            .join(Instance, Instance.organisation_id == Organisation.id)
            .where(Instance.id == parent_id)
        ).one()
        holders = self.timekeeper.holders(s, org_id)
        period_end = parse_period(period).end
        spawned: list[str] = []
        others = {c.name: c.workflow for c in child_views(s, parent_id)}  # every set's, read once
        for spec in specs:
            existing = {name for name, workflow in others.items() if workflow == spec.workflow}
            todo = [(sid, name) for sid, name in self._members(s, org_id, spec) if name not in existing]
            if not todo:
                continue
            _refuse_shared_keys(parent_key, spec, todo, others)
            others.update((name, spec.workflow) for _, name in todo)
            version = self.stored.register(s, spec.workflow)
            child_wf = self.stored.definition(version)
            now = self.clock.now()
            keys = [f"{parent_key}/{name}" for _, name in todo]
            ids = (
                s.connection()
                .execute(
                    NEW_INSTANCES,
                    [
                        {
                            "key": key,
                            "organisation_id": org_id,
                            "parent_id": parent_id,
                            "service_id": service_id,
                            "period": period,
                            "workflow_version_id": version.id,
                            "state": child_wf.initial,
                            "version": 1,
                            "context": {},
                            "created_at": now,
                            "entered_at": now,
                        }
                        for key, (service_id, _) in zip(keys, todo, strict=True)
                    ],
                )
                .scalars()
            )
            stays: list[tuple[Stay, dict[str, int]]] = [
                (Stay(child_id, org_id, service_id, subdivision, period_end, now), {})
                for child_id, (service_id, _) in zip(ids, todo, strict=True)
            ]
            self.timekeeper.enter_many(s, child_wf, child_wf.initial, stays, holders)
            member = "service" if spec.per == "service" else "member"
            audit.append_many(
                s,
                [
                    audit.AuditRecord(
                        event="child.spawned",
                        organisation=org_code,
                        instance=key,
                        to_state=child_wf.initial,
                        actor=by,
                        data=stamp({"workflow": version.ref, "parent": parent_key, member: name}),
                    )
                    for key, (_, name) in zip(keys, todo, strict=True)
                ],
                now,
            )
            spawned += keys
        return spawned

    @staticmethod
    def _members(s: Session, org_id: int, spec: ChildSpec) -> list[tuple[int | None, str]]:
        if spec.per == "service":
            rows = s.execute(
                select(Service.id, Service.code)
                .where(Service.organisation_id == org_id)
                .order_by(Service.code)
            ).all()
            return [(int(sid), str(code)) for sid, code in rows]
        return [(None, name) for name in spec.per]

    def add(
        self,
        s: Session,
        parent_key: str,
        workflow: str,
        prefix: str,
        context: dict[str, Any],
        *,
        by: str,
    ) -> str:
        """Start one ``workflow`` instance under ``parent_key``, keyed ``PARENT/PREFIX-N`` with
        the next free N: its deadline (``due`` and ``assignee`` from ``context``), steps and
        audit entry."""
        parent = InstanceRow.load(s, parent_key, lock=True)  # numbering is serialised per parent
        taken = s.scalars(select(Instance.key).where(Instance.parent_id == parent.id)).all()
        numbers = [int(k.rsplit("-", 1)[1]) for k in taken if k.startswith(f"{parent_key}/{prefix}-")]
        key = f"{parent_key}/{prefix}-{max(numbers, default=0) + 1}"
        version = self.stored.register(s, workflow)
        wf = self.stored.definition(version)
        now = self.clock.now()
        child = Instance(
            key=key,
            organisation_id=parent.organisation_id,
            parent_id=parent.id,
            period=parent.period,
            workflow_version_id=version.id,
            state=wf.initial,
            version=1,
            context=context,
            created_at=now,
            entered_at=now,
        )
        s.add(child)
        s.flush()
        period_end = parse_period(parent.period).end
        stay = Stay.of(child.id, parent.organisation_id, None, parent.subdivision, period_end, now, context)
        self.timekeeper.enter(s, wf, wf.initial, stay, {})
        audit.record(
            s,
            audit.AuditRecord(
                event="child.started",
                organisation=parent.organisation,
                instance=key,
                to_state=wf.initial,
                actor=by,
                data=stamp({"workflow": version.ref, "parent": parent_key, **context}),
            ),
            now,
        )
        return key

    def cascade_targets(
        self, s: Session, parent: InstanceRow, transition: TransitionDef, data: Mapping[str, Any]
    ) -> list[Target]:
        """The children ``transition``'s cascade moves, each locked; ``GuardFailed`` when the data
        names a child that is not there or cannot move (``Engine`` asks before it writes)."""
        targets: list[Target] = []
        for cascade in transition.cascade:
            targets += self._targets(s, parent, transition, cascade, data)
        return targets

    def _targets(
        self,
        s: Session,
        parent: InstanceRow,
        transition: TransitionDef,
        cascade: CascadeDef,
        data: Mapping[str, Any],
    ) -> list[Target]:
        named = _names(data.get(cascade.only)) if cascade.only else []
        children = child_views(s, parent.id, {cascade.children})
        by_name = {c.name: c for c in children}
        unknown = [n for n in named if n not in by_name]
        if unknown:
            raise GuardFailed(
                parent.key,
                transition.trigger,
                parent.state,
                "cascade",
                f"no {cascade.children} for {', '.join(unknown)}; there are: {', '.join(by_name) or 'none'}",
            )
        targets: list[Target] = []
        stuck: list[str] = []
        for child in [by_name[n] for n in named] if named else children:
            row = InstanceRow.load(s, child.key, lock=True)
            wf = self.stored.by_id(s, row.workflow_version_id)
            move = wf.transition(cascade.trigger, row.state, parse_period(row.period).tag)
            if move is not None:
                targets.append(Target(row, wf, move))
            elif named:
                stuck.append(f"{child.name} ({wf.state_label(row.state)})")
        if stuck:
            raise GuardFailed(
                parent.key,
                transition.trigger,
                parent.state,
                "cascade",
                f"{cascade.trigger!r} cannot be fired on {', '.join(stuck)} from where they stand",
            )
        return targets


def _names(value: Any) -> list[str]:
    """Child names given in a transition's data: a list, or one string of comma-separated names."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        return []
    return list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def _refuse_shared_keys(
    parent_key: str, spec: ChildSpec, todo: list[tuple[int | None, str]], others: Mapping[str, str]
) -> None:
    """A member named like a child of another set (a listed name spelled as a service's code:
    only the organisation's data can tell) would share its key: refused, naming both sets."""
    for _, name in todo:
        if name in others:
            raise InvalidInput(
                "child key",
                f"{parent_key}/{name}",
                f"the {spec.workflow!r} member {name!r} has the key of a {others[name]!r} child "
                "already started; rename the member in the workflow's children section",
            )
