"""Service plans: per service and financial year, maintained by its Head of Service.

A plan is an instance of the per-service workflow ``plans.workflow`` of ``policies/framework.yaml``
(shipped: ``service_plan``) under the organisation's yearly round ``plans.round``
(``service_planning``, keyed ``ORG/plans-2025-26``), so its approval is the engine's: the
self-evaluation, the action plan, its return when the actions are not SMART (with a reason)
and its agreement are audited transitions with deadlines, reminders and escalations
(``policies/escalation.yaml``). The guards ``self_evaluation_written`` and ``plan_complete``
keep a plan from moving on until it holds what it must.

What the plan says hangs off its instance: the self-evaluation and a text per section
(``plans.sections``), its actions (what, owner, due date, the measure or project it serves) and
its operational risks, which are entries of the risk register linked to the plan (scored,
reviewed each quarter and escalated as the register's are: ``pmf.plan_changes``). They change
only in the states ``plans.editable_in``, by a role of
``plans.own_service`` for its own service or ``plans.any_service`` for any; each change is audited
in the same transaction. An action or risk may be edited or withdrawn (kept, with a reason) by
the same rule (``pmf.plan_changes``). Every quarter each action's status (``plans.action_statuses``) is
reported with the service's return: by whoever reports the service's figures, while the return
is open and the report not frozen, as a project's status is. Actions also come from CSV, all or
nothing::

    service,ref,what,owner,due,measure,project
    HOUSING,A1,Cut void turnaround to 28 days,hos_housing,2026-03-31,HOU-01,
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.period import FinancialYear, parse_period
from pmf_engine.core.store import Instance, Service, WorkflowVersion, find_organisation, roles_held
from pmf_engine.core.views import InstanceStatus
from pmf_engine.pmf import tabular
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.plan_changes import PlanChanges, code_id, due_date, plan_link, plan_text
from pmf_engine.pmf.plan_models import PlanAction, PlanActionUpdate, PlanText
from pmf_engine.pmf.plan_views import (
    PlanActionView,
    PlanSummary,
    PlanView,
    actions_of_year,
    plan_actions,
    plan_counts,
    plan_risks,
)
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.reporting import (
    audit_cycle,
    closed_return,
    cycle_of,
    frozen_at,
    frozen_stage_of,
    may_report,
)

ACTION_COLUMNS = ("service", "what", "owner", "due")
OPTIONAL_COLUMNS = ("ref", "measure", "project")


class ServicePlans(PlanChanges):
    """The service plans of an organisation's years: started, written, approved and reported on
    (their risks added, and their actions and risks edited and withdrawn: ``PlanChanges``)."""

    # -- keys -------------------------------------------------------------------------------

    def round_key(self, organisation: str, year: str) -> str:
        """The key of the organisation's planning round for ``year`` (``ORG/plans-2025-26``)."""
        return self.engine.catalog.workflow(self.policy.round).instance_key(organisation, _year(year))

    def plan_key(self, organisation: str, year: str, service: str) -> str:
        """The key of ``service``'s plan for ``year`` (``ORG/plans-2025-26/HOUSING``)."""
        return f"{self.round_key(organisation, year)}/{service}"

    # -- the year's round -------------------------------------------------------------------

    def start(self, organisation: str, year: str, *, by: str) -> InstanceStatus:
        """Start the year's planning round: one plan per service of the organisation."""
        return self.engine.start_cycle(organisation, _year(year), by=by, workflow=self.policy.round)

    # -- writing a plan ---------------------------------------------------------------------

    def write(
        self,
        key: str,
        *,
        self_evaluation: str | None = None,
        sections: Mapping[str, str] | None = None,
        by: str,
    ) -> PlanView:
        """Set the plan's self-evaluation and the texts of the sections given (others kept)."""
        sections = dict(sections or {})
        unknown = sorted(set(sections) - set(self.policy.sections))
        if unknown:
            known = ", ".join(self.policy.sections)
            raise InvalidInput("section", unknown[0], f"not a section of a service plan; known: {known}")
        texts = {name: plan_text(name, text) or "" for name, text in sections.items()}
        evaluation = plan_text("self_evaluation", self_evaluation) if self_evaluation is not None else None
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            now = self.clock.now()
            row = s.get(PlanText, inst.id)
            sections_now = dict(row.sections) if row else {}
            changed = {name: text for name, text in texts.items() if sections_now.get(name, "") != text}
            if evaluation is not None and evaluation != (row.self_evaluation if row else ""):
                changed["self_evaluation"] = evaluation
            if changed:  # nothing is written, and nothing audited, when nothing changes
                if row is None:
                    row = PlanText(instance_id=inst.id, self_evaluation="", sections={})
                    s.add(row)
                row.sections = {**sections_now, **{k: v for k, v in changed.items() if k in texts}}
                if "self_evaluation" in changed:
                    row.self_evaluation = changed["self_evaluation"]
                row.updated_by, row.updated_at = by, now
                audit_cycle(s, inst, "plan.written", by, {"changed": changed}, now)
        return self.get(key)

    def add_action(
        self,
        key: str,
        what: str,
        *,
        owner: str,
        due: str,
        link: str = "",
        ref: str = "",
        by: str,
    ) -> str:
        """Add an action to the plan; return its reference (``A1``, ``A2``, ... unless given)."""
        what = (plan_text("what", what) or "").strip()
        checks.check_line("owner", owner)
        checks.check_line("link", link)
        checks.check_line("ref", ref)
        if not what:
            raise InvalidInput("what", None, "an action needs a description of what is to be done")
        if ref.strip() and _ref_problem(ref.strip()):
            raise InvalidInput("ref", ref, _ref_problem(ref.strip()) or "")
        when = due_date(due)
        with self.store.write() as s:
            inst = self._editable(s, key, by)
            if not owner.strip() or not roles_held(s, owner.strip(), inst.organisation_id):
                raise InvalidInput(
                    "owner", owner, "holds no role in the organisation: an action needs an owner there"
                )
            measure_id, project_id = plan_link(s, inst.organisation_id, link.strip())
            taken = set(s.scalars(select(PlanAction.ref).where(PlanAction.instance_id == inst.id)))
            ref = ref.strip() or _next_ref(taken)
            if ref in taken:
                raise InvalidInput("ref", ref, f"the plan already has an action {ref}")
            self._add_action(s, inst, ref, what, owner.strip(), when, measure_id, project_id, by)
            audit_cycle(
                s,
                inst,
                "plan.action_added",
                by,
                {"ref": ref, "what": what, "owner": owner.strip(), "due": when, "link": link.strip()},
                self.clock.now(),
            )
        return ref

    def import_actions(self, organisation: str, year: str, path: Path, *, by: str) -> int:
        """Add the actions of a CSV file (columns ``service,what,owner,due`` and optionally
        ``ref,measure,project``) to the year's plans: every row checked first, and a file with
        any problem adds nothing (``DataFileError`` naming each row and column)."""
        table = tabular.read_table(
            path, ACTION_COLUMNS, known=lambda c: c in ACTION_COLUMNS or c in OPTIONAL_COLUMNS
        )
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            plans: dict[str, Instance | str] = {}
            taken: dict[int, set[str]] = {}
            people: dict[str, bool] = {}
            rows: list[tuple[Instance, str, str, str, str, int | None, int | None]] = []
            for row in table.rows:
                service = row.get("service")
                if service not in plans:
                    plans[service] = self._writable(s, self.plan_key(organisation, year, service), by)
                inst = plans[service]
                if isinstance(inst, str):
                    table.problem(row.line, "service", inst)
                    continue
                what, owner, ref = row.get("what"), row.get("owner"), row.get("ref")
                if not what:
                    table.problem(row.line, "what", "an action needs a description of what is to be done")
                elif checks.formula_like(what):
                    table.problem(row.line, "what", "text starting = + - or @ is read as a formula")
                if owner not in people:
                    people[owner] = bool(owner) and bool(roles_held(s, owner, org.id))
                if not people[owner]:
                    table.problem(row.line, "owner", f"{owner!r} holds no role in {organisation}")
                try:
                    when = due_date(row.get("due"))
                except InvalidInput as invalid:
                    table.problem(row.line, "due", invalid.why)
                    continue
                links: list[int | None] = []
                for column, model in (("measure", Measure), ("project", Project)):
                    code = row.get(column)
                    found = code_id(s, model, org.id, code) if code else None
                    if code and found is None:
                        table.problem(row.line, column, f"no {column} {code!r} in {organisation}")
                    links.append(found)
                refs = taken.setdefault(
                    inst.id, set(s.scalars(select(PlanAction.ref).where(PlanAction.instance_id == inst.id)))
                )
                if ref and _ref_problem(ref):
                    table.problem(row.line, "ref", _ref_problem(ref) or "")
                ref = ref or _next_ref(refs)
                if ref in refs:
                    table.problem(row.line, "ref", f"the {service} plan already has an action {ref}")
                refs.add(ref)
                rows.append((inst, ref, what, owner, when, links[0], links[1]))
            table.done(None)
            now = self.clock.now()
            added: dict[int, list[str]] = {}
            for inst, ref, what, owner, when, measure_id, project_id in rows:
                self._add_action(s, inst, ref, what, owner, when, measure_id, project_id, by)
                added.setdefault(inst.id, []).append(ref)
            for inst in {r[0].id: r[0] for r in rows}.values():
                data = {"file": path.name, "refs": added[inst.id]}
                audit_cycle(s, inst, "plan.actions_imported", by, data, now)
        return len(rows)

    # -- the quarter's report of each action ------------------------------------------------

    def report_status(
        self, cycle: str, service: str, ref: str, status: str, *, note: str = "", by: str
    ) -> None:
        """Record action ``ref``'s status for the cycle's quarter (history kept; the newest
        counts), as a role that reports the service's figures, while its return is open and the
        report is not frozen: the rule of a project's status."""
        with self.store.write() as s:
            self.report_in(s, cycle, service, ref, status, note=note, by=by)

    def report_in(
        self, s: Session, cycle: str, service: str, ref: str, status: str, *, note: str = "", by: str
    ) -> None:
        """``report_status`` inside the caller's transaction (the Excel return's import)."""
        note = (plan_text("note", note) or "").strip()
        if status not in self.policy.action_statuses:
            statuses = ", ".join(self.policy.action_statuses)
            raise InvalidInput("status", status, f"not an action status: use one of {statuses}")
        if status in self.policy.note_statuses and not note:
            raise InvalidInput(
                "note", None, f"action {ref}: {status.replace('_', ' ')} needs a note saying why"
            )
        inst = cycle_of(s, cycle)
        year = str(FinancialYear(quarter_of(inst).start_year))
        plan = s.scalar(
            select(Instance).where(Instance.key == self.plan_key(inst.organisation.code, year, service))
        )
        if plan is None:
            raise NotFound("service plan", self.plan_key(inst.organisation.code, year, service))
        action = s.scalar(select(PlanAction).where(PlanAction.instance_id == plan.id, PlanAction.ref == ref))
        if action is None:
            raise NotFound("plan action", f"{plan.key} {ref}")
        if action.withdrawn_by is not None:
            raise NotNow(f"action {ref} was withdrawn from the plan: it takes no status")
        if not may_report(s, self.reporting, by, inst.organisation_id, plan.service_id):
            raise PermissionDenied(cycle, "report_action", "-", by, f"{by!r} may not report for {service}")
        if frozen_at(s, inst.id) is not None:
            raise NotNow(f"the {cycle} report was frozen at {frozen_stage_of(s, inst, self.engine.stored)}")
        closed = closed_return(s, self.reporting, inst, plan.service_id)
        if closed is not None:
            raise NotNow(f"{closed}: action {ref}'s status can change only while it is open")
        now = self.clock.now()
        s.add(
            PlanActionUpdate(
                action_id=action.id,
                period=inst.period,
                status=status,
                note=note,
                reported_by=by,
                reported_at=now,
            )
        )
        data = {"plan": plan.key, "ref": ref, "period": inst.period, "status": status, "note": note}
        audit_cycle(s, inst, "plan.action_reported", by, data, now)

    # -- reading ----------------------------------------------------------------------------

    def may_start(self, organisation: str, username: str) -> bool:
        """Whether ``username`` may start a year's round in ``organisation`` (a page's form)."""
        round_wf = self.engine.catalog.workflow(self.policy.round)
        with self.store.read() as s:
            held = roles_held(s, username, find_organisation(s, organisation).id)
        return any(role in round_wf.start_roles for role, _ in held)

    def may_write(self, key: str, username: str) -> bool:
        """Whether ``username`` may change the plan ``key`` now (a page offers its forms only then)."""
        with self.store.read() as s:
            inst = self._plan(s, key)
            held = roles_held(s, username, inst.organisation_id)
            return inst.state in self.policy.editable_in and self.policy.may_write(held, inst.service_id)

    def actions_in(self, s: Session, cycle: Instance, service: str) -> tuple[PlanActionView, ...]:
        """The actions of ``service``'s plan for the quarter's year (none without a plan)."""
        year = str(FinancialYear(quarter_of(cycle).start_year))
        key = self.plan_key(cycle.organisation.code, year, service)
        plan_id = s.scalar(select(Instance.id).where(Instance.key == key))
        return plan_actions(s, plan_id, withdrawn=False) if plan_id is not None else ()

    def get(self, key: str) -> PlanView:
        """The plan ``key``; ``NotFound`` if there is none."""
        with self.store.read() as s:
            inst = self._plan(s, key)
            return self._view(s, inst)

    def list_for(self, organisation: str, year: str | None = None) -> list[PlanSummary]:
        """The organisation's plans (of one ``year``), newest year first, by service."""
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            rows = s.execute(
                select(Instance, Service.name, WorkflowVersion)
                .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                .join(Service, Service.id == Instance.service_id)
                .where(Instance.organisation_id == org.id, WorkflowVersion.name == self.policy.workflow)
            ).all()
            ids = [inst.id for inst, _, _ in rows]
            counts = plan_counts(s, ids)
            found = [
                PlanSummary(
                    key=inst.key,
                    year=inst.period,
                    service=inst.key.rsplit("/", 1)[1],
                    service_name=name,
                    state_label=self.engine.definition(version).state_label(inst.state),
                    terminal=self.engine.definition(version).is_terminal(inst.state),
                    actions=counts[0].get(inst.id, 0),
                    risks=counts[1].get(inst.id, 0),
                )
                for inst, name, version in rows
                if year is None or inst.period == _year(year)
            ]
        return sorted(found, key=lambda p: (-int(p.year[:4]), p.service))

    def for_quarter(self, s: Session, cycle: Instance) -> dict[str, tuple[PlanActionView, ...]]:
        """Each service's plan actions of the quarter's financial year, by service code (for the
        committee report): their status as reported up to the cycle's quarter."""
        quarter = quarter_of(cycle)
        year = str(FinancialYear(quarter.start_year))
        return actions_of_year(s, cycle.organisation_id, self.policy.workflow, year, str(quarter))

    # -- internals --------------------------------------------------------------------------

    def _writable(self, s: Session, key: str, by: str) -> Instance | str:
        """The plan ``key`` if ``by`` may change it now, else why not."""
        try:
            return self._editable(s, key, by)
        except (NotFound, NotNow, PermissionDenied) as exc:
            return str(exc)

    def _add_action(
        self,
        s: Session,
        inst: Instance,
        ref: str,
        what: str,
        owner: str,
        due: str,
        measure_id: int | None,
        project_id: int | None,
        by: str,
    ) -> None:
        s.add(
            PlanAction(
                instance_id=inst.id,
                ref=ref,
                what=what,
                owner=owner,
                due=due,
                measure_id=measure_id,
                project_id=project_id,
                created_by=by,
                created_at=self.clock.now(),
            )
        )

    def _view(self, s: Session, inst: Instance) -> PlanView:
        version = s.get(WorkflowVersion, inst.workflow_version_id)
        assert version is not None
        wf = self.engine.definition(version)
        text = s.get(PlanText, inst.id)
        written = text.sections if text else {}
        service = s.get(Service, inst.service_id) if inst.service_id else None
        return PlanView(
            key=inst.key,
            organisation=inst.key.split("/", 1)[0],
            year=inst.period,
            service=service.code if service else "",
            service_name=service.name if service else "",
            state=inst.state,
            state_label=wf.state_label(inst.state),
            terminal=wf.is_terminal(inst.state),
            version=inst.version,
            editable=inst.state in self.policy.editable_in,
            self_evaluation=text.self_evaluation if text else "",
            sections=tuple(
                (name, label, written.get(name, "")) for name, label in self.policy.sections.items()
            ),
            actions=plan_actions(s, inst.id),
            risks=plan_risks(s, inst, self.risk_policy),
        )


def _year(text: str) -> str:
    try:
        return str(parse_period(text.strip(), "year"))
    except ValueError as exc:
        raise InvalidInput("year", text, str(exc)) from None


_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$")


def _ref_problem(ref: str) -> str | None:
    """Why ``ref`` cannot be an action's reference (``A1``, ``HOU.3``), or ``None``."""
    return None if _REF.match(ref) else "a reference is up to 16 letters, digits, '.', '-' or '_'"


def _next_ref(taken: set[str]) -> str:
    n = len(taken) + 1
    while f"A{n}" in taken:
        n += 1
    return f"A{n}"
