"""Scrutiny actions: what Scrutiny asked for, of whom, by when, chased until closed.

Each action is an instance of the workflow ``actions.workflow`` of ``policies/framework.yaml``
(shipped: ``scrutiny_action``) under its cycle, keyed with its ``prefix`` (``TDC/2024-25-Q1/SA-1``),
so it inherits the engine: its deadline is its ``due`` date, the reminder and escalation ladder
in ``policies/escalation.yaml`` chases the ``assignee``, the worker sends the messages, and
raising and closing it (with a note, by its ``close_trigger``) are audited transitions. Who
raises one, and in which states of the cycle, are ``raised_by`` and ``raised_in``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from pmf_engine.core import values as checks
from pmf_engine.core.clock import london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.store import (
    AuditEntry,
    Deadline,
    Instance,
    WorkflowVersion,
    find_organisation,
    roles_held,
)
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.policy import ActionsPolicy
from pmf_engine.pmf.reporting import cycle_of
from pmf_engine.pmf.words import joined


@dataclass(frozen=True)
class ActionView:
    """A Scrutiny action as people see it: what, whose, by when, its state and closing note."""

    key: str
    cycle: str
    what: str
    assignee: str
    due: str
    link: str
    """A measure code, ``project CODE``, or empty."""
    state: str
    raised_by: str
    note: str
    """The closing note, once closed."""
    closed_by: str
    overdue: bool
    closed: bool
    """In a terminal state of the actions workflow."""


class Actions:
    """Scrutiny's actions of an organisation's cycles: raised, closed and listed."""

    def __init__(self, engine: Engine, policy: ActionsPolicy | None) -> None:
        self.engine = engine
        self.store = engine.store
        self.tracked = policy
        """The ``actions`` section of ``framework.yaml``; ``None``: the deployment tracks none."""

    @property
    def policy(self) -> ActionsPolicy:
        """The ``actions`` section; ``NotNow`` when ``framework.yaml`` has none (no action is
        raised, closed or shown; lists of them are empty)."""
        self.check_tracked()
        assert self.tracked is not None
        return self.tracked

    def check_tracked(self) -> None:
        """``NotNow`` when ``framework.yaml`` has no ``actions`` section: what a page or command
        that is only about actions says first."""
        if self.tracked is None:
            raise NotNow("this deployment has no action tracking: framework.yaml has no 'actions' section")

    def _role_label(self, role: str) -> str:
        found = self.engine.catalog.roles.roles.get(role)
        return found.label if found is not None else role

    def may_raise(self, s: Session, cycle: Instance, username: str) -> bool:
        """Whether ``username`` may record an action on ``cycle`` now (its state and their roles)."""
        if self.tracked is None:
            return False
        workflow = s.scalar(
            select(WorkflowVersion.name).where(WorkflowVersion.id == cycle.workflow_version_id)
        )
        held = roles_held(s, username, cycle.organisation_id)
        return self.policy.may_raise(held, workflow or "", cycle.state)

    def add(self, cycle: str, what: str, *, assignee: str, due: str, by: str, link: str = "") -> ActionView:
        """Record an action Scrutiny raised on ``cycle``; chasing starts at once."""
        policy = self.policy
        what = checks.check_text("what", what) or ""
        checks.check_line("assignee", assignee)
        checks.check_line("link", link)
        if not what.strip():
            raise InvalidInput("what", None, "an action needs a description of what is to be done")
        try:
            when = date.fromisoformat(due)
        except ValueError:
            raise InvalidInput("due", due, "not a date like 2024-12-31") from None
        if when < london(self.engine.clock.now()).date():
            raise InvalidInput("due", due, "the due date is in the past")
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            if not policy.may_record(roles_held(s, by, inst.organisation_id)):
                raise PermissionDenied(
                    cycle,
                    "raise_action",
                    inst.state,
                    by,
                    f"raising an action needs {joined(self._role_label(r) for r in policy.raised_by)}",
                )
            workflow = s.scalar(
                select(WorkflowVersion.name).where(WorkflowVersion.id == inst.workflow_version_id)
            )
            if not policy.raised_now(workflow or "", inst.state):
                wf = self.engine.stored.by_id(s, inst.workflow_version_id)
                states = [wf.state_label(state) for state in policy.raised_in.get(workflow or "", ())]
                raise NotNow(
                    f"{cycle} is at {wf.state_label(inst.state)}: actions are raised at "
                    f"{joined(states) or 'no stage of this workflow'}"
                )
            if not roles_held(s, assignee, inst.organisation_id):
                raise InvalidInput(
                    "assignee", assignee, "holds no role in the organisation: an action needs an owner there"
                )
            _check_link(s, inst.organisation_id, link)
            context = {"what": what.strip(), "assignee": assignee, "due": when.isoformat(), "link": link}
            key = self.engine.add_child(s, cycle, policy.workflow, policy.prefix, context, by=by)
        return self.get(key)

    def close(self, key: str, *, note: str, by: str) -> ActionView:
        """Close an action with a note saying what was done (the ``close_trigger``)."""
        self.engine.fire(key, self.policy.close_trigger, by, reason=note)
        return self.get(key)

    def get(self, key: str) -> ActionView:
        """The action ``key``; ``NotFound`` if there is none."""
        if self.tracked is None:
            raise NotFound("action", key)
        with self.store.read() as s:
            found = self._views(s, Instance.key == key)
        if not found:
            raise NotFound("action", key)
        return found[0]

    def list_for(
        self, organisation: str, *, state: str | None = None, cycle: str | None = None
    ) -> list[ActionView]:
        """The organisation's actions (in ``state`` of the actions workflow; of one ``cycle``),
        oldest first; none when the deployment tracks none."""
        if self.tracked is None:
            return []
        if state is not None:
            states = self.engine.catalog.workflow(self.policy.workflow).states
            if state not in states:
                raise InvalidInput(
                    "state", state, f"not a state of an action: use one of {', '.join(states)}"
                )
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            views = self._views(s, Instance.organisation_id == org.id)
        return [
            v for v in views if (state is None or v.state == state) and (cycle is None or v.cycle == cycle)
        ]

    def _views(self, s: Session, where: object) -> list[ActionView]:
        parent = aliased(Instance)
        rows = s.execute(
            select(Instance, parent.key, WorkflowVersion)
            .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
            .join(parent, parent.id == Instance.parent_id)
            .where(WorkflowVersion.name == self.policy.workflow, where)  # type: ignore[arg-type]
            .order_by(Instance.id)
        ).all()
        if not rows:
            return []
        keys = [inst.key for inst, _, _ in rows]
        events: dict[str, dict[str, tuple[str, str]]] = {}
        for instance, event, actor, reason in s.execute(
            select(AuditEntry.instance, AuditEntry.event, AuditEntry.actor, AuditEntry.reason).where(
                AuditEntry.chain.in_({InstanceKey.organisation_of(k) for k in keys}),  # their own chains
                AuditEntry.instance.in_(keys),
                AuditEntry.event.in_(("child.started", "fired")),
            )
        ).all():
            events.setdefault(instance or "", {})[event] = (actor or "", reason or "")
        late = set(
            s.scalars(
                select(Deadline.instance_id).where(
                    Deadline.instance_id.in_([inst.id for inst, _, _ in rows]),
                    Deadline.closed_at.is_(None),
                    Deadline.due_at < self.engine.clock.now(),
                )
            )
        )
        return [
            ActionView(
                key=inst.key,
                cycle=cycle,
                what=str(inst.context.get("what", "")),
                assignee=str(inst.context.get("assignee", "")),
                due=str(inst.context.get("due", "")),
                link=str(inst.context.get("link", "")),
                state=inst.state,
                raised_by=events.get(inst.key, {}).get("child.started", ("", ""))[0],
                note=events.get(inst.key, {}).get("fired", ("", ""))[1],
                closed_by=events.get(inst.key, {}).get("fired", ("", ""))[0],
                overdue=inst.id in late,
                closed=self.engine.definition(version).is_terminal(inst.state),
            )
            for inst, cycle, version in rows
        ]


def _check_link(s: Session, organisation_id: int, link: str) -> None:
    """A link names a measure (``HOU-01``) or a project (``project P-01``) of the organisation."""
    if not link:
        return
    kind, _, code = link.partition(" ") if link.startswith("project ") else ("measure", "", link)
    model: type[Measure] | type[Project] = Project if kind == "project" else Measure
    found = s.scalar(
        select(model.id).where(model.organisation_id == organisation_id, model.code == code.strip())
    )
    if found is None:
        raise NotFound(kind, code.strip())
