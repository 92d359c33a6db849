"""Changing a service plan: its operational risks added, and an action or risk edited or
withdrawn; and the rule every change of a plan keeps.

A plan changes only in the states ``plans.editable_in`` of ``policies/framework.yaml`` (the
states where actions and risks are added), by a role of ``plans.own_service`` for its own
service or ``plans.any_service`` for any; under review or once agreed, every change is refused,
naming the state the plan is at and those it changes in. An edit changes the fields given and
is audited with each one before and after (an edit that changes nothing writes and audits
nothing); a withdrawal needs a reason and keeps the row, marked with who withdrew it, when and
why, its quarterly statuses kept: nothing is deleted. A withdrawn action takes no more status
and counts towards neither a complete plan nor a quarter's return (the committee reports of
the quarters up to its withdrawal still show it: ``plan_views.actions_of_year``); a withdrawn
action or risk no longer changes.

A plan's operational risks are entries of the risk register (``plans.risk_register`` of
``framework.yaml``, the plan's service, linked to the plan), written by the register's own
rules (``pmf.risk_entries``): inherent and residual likelihood x impact on ``risk.yaml``'s
scale, cause and effect, controls, further actions, the measures and projects it threatens. So
each one is reviewed each quarter and escalated by ``risk.yaml``'s ladder like any other; a
withdrawn one leaves the register and stays on its plan. On the plan they are ``R1``, ``R2``,
... in the order added; on the register ``SERVICE-YEAR-R1`` (``HOUSING-2025-26-R1``). Each
addition, edit and withdrawal is audited once, on the plan, in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem
from pmf_engine.core.store import Instance, Service, WorkflowVersion, roles_held
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.plan_models import PlanAction
from pmf_engine.pmf.plan_views import next_risk_ref, plan_risk_code
from pmf_engine.pmf.policy import PlansPolicy, Reporting
from pmf_engine.pmf.reporting import audit_cycle
from pmf_engine.pmf.risk_entries import RESIDUAL, add_entry, checked, edit_entry, withdraw_entry
from pmf_engine.pmf.risk_models import Risk
from pmf_engine.pmf.riskpolicy import RiskPolicy

NARRATIVE = ("title", "cause", "effect", "controls", "actions")
"""A plan risk's fields checked as a plan's narrative (the register's lengths then apply)."""


class PlanChanges:
    """The rule of every change to a plan, and the edits and withdrawals of its actions and risks."""

    def __init__(self, engine: Engine, policy: PlansPolicy, reporting: Reporting, risk: RiskPolicy) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = engine.clock
        self.policy = policy
        self.reporting = reporting
        self.risk_policy = risk

    def edit_action(
        self,
        key: str,
        ref: str,
        *,
        what: str | None = None,
        owner: str | None = None,
        due: str | None = None,
        link: str | None = None,
        by: str,
    ) -> list[str]:
        """Change the fields given of action ``ref`` by the rules of adding one; the names of
        those that changed (none: nothing written or audited)."""
        wanted: dict[str, str] = {}
        if what is not None:
            wanted["what"] = (plan_text("what", what) or "").strip()
            if not wanted["what"]:
                raise InvalidInput("what", None, "an action needs a description of what is to be done")
        if owner is not None:
            wanted["owner"] = (checks.check_line("owner", owner) or "").strip()
        if due is not None:
            wanted["due"] = due_date(due)
        if link is not None:
            wanted["link"] = (checks.check_line("link", link) or "").strip()
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            action = self._action(s, inst, ref)
            before = {
                "what": action.what,
                "owner": action.owner,
                "due": action.due,
                "link": _link_of(s, action),
            }
            person = wanted.get("owner", action.owner)
            if person != action.owner and not roles_held(s, person, inst.organisation_id):
                raise InvalidInput(
                    "owner", owner, "holds no role in the organisation: an action needs an owner there"
                )
            changed = {name: [before[name], value] for name, value in wanted.items() if before[name] != value}
            if "link" in changed:
                action.measure_id, action.project_id = plan_link(s, inst.organisation_id, wanted["link"])
            for name in ("what", "owner", "due"):
                if name in changed:
                    setattr(action, name, wanted[name])
            if changed:
                data = {"ref": action.ref, "changed": changed}
                audit_cycle(s, inst, "plan.action_edited", by, data, self.clock.now())
        return list(changed)

    def withdraw_action(self, key: str, ref: str, *, reason: str, by: str) -> None:
        """Withdraw action ``ref`` from the plan, saying why; it is kept, marked withdrawn."""
        why = _reason(reason)
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            action = self._action(s, inst, ref)
            now = self.clock.now()
            action.withdrawn_by, action.withdrawn_at, action.withdrawn_reason = by, now, why
            data = {"ref": action.ref, "what": action.what, "reason": why}
            audit_cycle(s, inst, "plan.action_withdrawn", by, data, now)

    def add_risk(
        self,
        key: str,
        title: str,
        *,
        owner: str,
        likelihood: int,
        impact: int,
        inherent_likelihood: int | None = None,
        inherent_impact: int | None = None,
        cause: str = "",
        effect: str = "",
        controls: str = "",
        actions: str = "",
        measures: Sequence[str] = (),
        projects: Sequence[str] = (),
        by: str,
    ) -> str:
        """Raise an operational risk in the plan: an entry of the register (``plans.risk_register``,
        the plan's service) with its residual ``likelihood`` x ``impact`` (the inherent pair
        defaults to it) and the measures and projects it threatens; its reference (``R1``)."""
        values = _risk_values(
            title=title, owner=owner, cause=cause, effect=effect, controls=controls, actions=actions,
            residual_likelihood=likelihood, residual_impact=impact,
            inherent_likelihood=likelihood if inherent_likelihood is None else inherent_likelihood,
            inherent_impact=impact if inherent_impact is None else inherent_impact,
            measures=measures, projects=projects,
        )  # fmt: skip
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            ref = next_risk_ref(s, inst.id)
            service = s.get(Service, inst.service_id) if inst.service_id is not None else None
            code = plan_risk_code(service.code if service else None, inst.period, ref, inst.id)
            entry = checked({**values, "code": code, "register": self.policy.risk_register})
            org, service_id = inst.organisation_id, inst.service_id
            add_entry(s, self.risk_policy, org, entry, service_id, plan_id=inst.id, plan_ref=ref)
            data = {"ref": ref, "risk": code, "register": entry.register_name} | {
                name: list(v) if isinstance(v, tuple) else v
                for name, v in entry.model_dump(exclude={"code", "service", "register_name"}).items()
            }
            audit_cycle(s, inst, "plan.risk_added", by, data, self.clock.now())
        return ref

    def edit_risk(self, key: str, ref: str, *, by: str, **fields: Any) -> list[str]:
        """Change the fields given of risk ``ref`` (``R1``) by the register's rules (those of
        ``add_risk``: ``likelihood`` and ``impact`` are the residual pair); the register's names
        of those that changed (none: nothing written or audited)."""
        unknown = sorted(set(fields) - {*NARRATIVE, "owner", "inherent_likelihood", "inherent_impact",
                                        "measures", "projects", *RESIDUAL})  # fmt: skip
        if unknown:
            raise InvalidInput(unknown[0], None, "not a field of a plan's risk")
        given = {RESIDUAL.get(name, name): value for name, value in fields.items() if value is not None}
        wanted = _risk_values(**given)
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            row = self._risk(s, inst, ref)
            changed = edit_entry(s, self.risk_policy, row, wanted)
            if changed:
                data = {"ref": row.plan_ref, "risk": row.code, "changed": changed}
                audit_cycle(s, inst, "plan.risk_edited", by, data, self.clock.now())
        return list(changed)

    def withdraw_risk(self, key: str, ref: str, *, reason: str, by: str) -> None:
        """Withdraw risk ``ref`` from the plan, saying why: it leaves the register (no more
        reviews, no escalation) and stays on the plan, marked withdrawn."""
        why = _reason(reason)
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            row = self._risk(s, inst, ref)
            now = self.clock.now()
            withdraw_entry(row, reason=why, by=by, at=now)
            data = {"ref": row.plan_ref, "risk": row.code, "title": row.title, "reason": why}
            audit_cycle(s, inst, "plan.risk_withdrawn", by, data, now)

    # -- the rule of every change -----------------------------------------------------------

    def _plan(self, s: Session, key: str) -> Instance:
        found = s.execute(
            select(Instance, WorkflowVersion.name)
            .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
            .where(Instance.key == key)
        ).first()
        if found is None or found[1] != self.policy.workflow:
            raise NotFound("service plan", key)
        return found[0]

    def _editable(self, s: Session, key: str, by: str) -> Instance:
        """The plan ``key``, once ``by`` may write it and it is in a state it may change in."""
        inst = self._plan(s, key)
        if not self.policy.may_write(roles_held(s, by, inst.organisation_id), inst.service_id):
            who = " or ".join((*self.policy.own_service, *self.policy.any_service))
            raise PermissionDenied(key, "write_plan", inst.state, by, f"writing a service plan needs {who}")
        if inst.state not in self.policy.editable_in:
            wf = self.engine.catalog.workflow(self.policy.workflow)
            states = ", ".join(wf.state_label(state).lower() for state in self.policy.editable_in)
            raise NotNow(
                f"the plan {key} is at {wf.state_label(inst.state).lower()}: it changes only at {states}"
            )
        return inst

    def _action(self, s: Session, inst: Instance, ref: str) -> PlanAction:
        """The plan's action ``ref`` while it stands."""
        action = s.scalar(
            select(PlanAction).where(PlanAction.instance_id == inst.id, PlanAction.ref == ref.strip())
        )
        if action is None:
            raise NotFound("plan action", f"{inst.key} {ref}")
        if action.withdrawn_by is not None:
            raise NotNow(f"action {action.ref} was withdrawn from the plan: it no longer changes")
        return action

    def _risk(self, s: Session, inst: Instance, ref: str) -> Risk:
        """The plan's risk ``ref`` (``R2``) on the register while it stands."""
        row = s.scalar(select(Risk).where(Risk.plan_id == inst.id, Risk.plan_ref == ref.strip().upper()))
        if row is None:
            raise NotFound("plan risk", f"{inst.key} {ref}")
        if row.withdrawn_by is not None:
            raise NotNow(f"risk {row.plan_ref} was withdrawn from the plan: it no longer changes")
        return row


def _risk_values(**given: Any) -> dict[str, Any]:
    """A plan risk's fields as the register takes them: texts checked as a plan's narrative
    (``owner`` a line, and needed), links as tuples of codes."""
    found: dict[str, Any] = {}
    for name, value in given.items():
        if name in NARRATIVE:
            found[name] = (plan_text(name, value) or "").strip()
        elif name == "owner":
            found[name] = (checks.check_line("owner", value) or "").strip()
            if not found[name]:
                raise InvalidInput("owner", None, "a risk needs an owner")
        elif name in ("measures", "projects"):
            found[name] = tuple(code.strip() for code in value if code.strip())
        else:
            found[name] = value
    if "title" in found and not found["title"]:
        raise InvalidInput("title", None, "describe the risk")
    return found


def _reason(reason: str) -> str:
    why = (plan_text("reason", reason) or "").strip()
    if not why:
        raise InvalidInput("reason", None, "a withdrawal needs a reason: say why it is withdrawn")
    return why


def plan_text(field: str, text: str | None) -> str | None:
    """``text`` checked as a narrative field of a plan (``InvalidInput`` naming ``field``)."""
    checked = checks.check_text(field, text)
    too_long = text_problem(f"the {field.replace('_', ' ')}", checked, MAX_NARRATIVE)
    if too_long is not None:
        raise InvalidInput(field, None, too_long)
    return checked


def due_date(text: str) -> str:
    """An action's due date, ISO (``InvalidInput`` if it is not one)."""
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise InvalidInput("due", text, "not a date like 2026-03-31") from None


def code_id(s: Session, model: type[Measure] | type[Project], organisation_id: int, code: str) -> int | None:
    """The id of the organisation's measure or project ``code``."""
    return s.scalar(select(model.id).where(model.organisation_id == organisation_id, model.code == code))


def plan_link(s: Session, organisation_id: int, link: str) -> tuple[int | None, int | None]:
    """(measure id, project id) of a link naming a measure (``HOU-01``) or ``project CODE``."""
    if not link:
        return None, None
    if link.startswith("project "):
        code = link.removeprefix("project ").strip()
        found = code_id(s, Project, organisation_id, code)
        if found is None:
            raise NotFound("project", code)
        return None, found
    found = code_id(s, Measure, organisation_id, link)
    if found is None:
        raise NotFound("measure", link)
    return found, None


def _link_of(s: Session, action: PlanAction) -> str:
    """The action's link as it is written (``HOU-01``, ``project P-01``, or empty)."""
    if action.measure_id is not None:
        return s.scalar(select(Measure.code).where(Measure.id == action.measure_id)) or ""
    if action.project_id is not None:
        code = s.scalar(select(Project.code).where(Project.id == action.project_id))
        return f"project {code}" if code else ""
    return ""
