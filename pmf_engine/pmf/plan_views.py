"""What a service plan looks like to people and reports: its actions (with each quarter's
status), risks (read from the risk register, where they are entries) and summary; the reads
they are built from, and the guards' checks (``self_evaluation_written``, ``plan_complete``,
``plan_actions_reported``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pmf_engine.core.period import FinancialYear, Period
from pmf_engine.core.store import Instance, WorkflowVersion
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.plan_models import PlanAction, PlanActionUpdate, PlanText
from pmf_engine.pmf.policy import PlansPolicy
from pmf_engine.pmf.risk_models import Risk
from pmf_engine.pmf.riskpolicy import RiskPolicy
from pmf_engine.pmf.risks import RiskView, register_in

RISK_PREFIX = "R"
"""A plan's risks are ``R1``, ``R2``, ... in the order added."""
CODE_LENGTH = 32
"""The longest code a risk of the register has (``risks.RiskIn``)."""


@dataclass(frozen=True)
class PlanActionView:
    """An action of a plan as people see it, with its status reported for each quarter."""

    ref: str
    what: str
    owner: str
    due: str
    link: str
    """A measure code, ``project CODE``, or empty."""
    statuses: Mapping[str, tuple[str, str]]
    """Quarter (``2025-26-Q1``) -> (status, note), the newest report of each."""
    withdrawn_by: str = ""
    """Who withdrew it (``""``: it stands); kept, with its statuses, for the record."""
    withdrawn_reason: str = ""

    @property
    def withdrawn(self) -> bool:
        """Whether the action was withdrawn from the plan."""
        return bool(self.withdrawn_by)

    def status_in(self, quarter: str) -> tuple[str, str]:
        """(status, note) reported for ``quarter``; ``("missing", "")`` if none was."""
        return self.statuses.get(quarter, ("missing", ""))


@dataclass(frozen=True)
class PlanView:
    """A service's plan for a year: where it stands, what it says, its actions and risks."""

    key: str
    organisation: str
    year: str
    service: str
    service_name: str
    state: str
    state_label: str
    terminal: bool
    version: int
    editable: bool
    """In a state of ``plans.editable_in``."""
    self_evaluation: str
    sections: tuple[tuple[str, str, str], ...]
    """(name, label, text) of each section of the policy, in its order."""
    actions: tuple[PlanActionView, ...]
    risks: tuple[RiskView, ...]
    """Its operational risks as the register holds them (scored, on the ladder, with this
    quarter's review), ``R1`` first; those withdrawn too (off the register)."""


@dataclass(frozen=True)
class PlanSummary:
    """A line of the organisation's list of plans."""

    key: str
    year: str
    service: str
    service_name: str
    state_label: str
    terminal: bool
    actions: int
    risks: int
    """How many actions and risks stand (those withdrawn aside)."""


def self_evaluation_missing(s: Session, instance_id: int) -> str | None:
    """Why the plan's self-evaluation cannot be submitted (it is not written), or ``None``."""
    text = s.scalar(select(PlanText.self_evaluation).where(PlanText.instance_id == instance_id))
    return None if text and text.strip() else "the self-evaluation is not written yet"


def plan_incomplete(s: Session, instance_id: int) -> str | None:
    """Why the plan cannot be submitted, or ``None``: it needs its self-evaluation and at least
    one action with an owner and a due date."""
    problems = []
    if self_evaluation_missing(s, instance_id):
        problems.append("its self-evaluation is not written")
    complete = s.scalar(
        select(func.count(PlanAction.id)).where(
            PlanAction.instance_id == instance_id,
            PlanAction.owner != "",
            PlanAction.due != "",
            PlanAction.withdrawn_by.is_(None),
        )
    )
    if not complete:
        problems.append("it has no action with an owner and a due date")
    return f"the plan is not complete: {'; '.join(problems)}" if problems else None


def plan_actions(s: Session, instance_id: int, *, withdrawn: bool = True) -> tuple[PlanActionView, ...]:
    """The plan's actions in the order added, each with its newest status for every quarter
    (those withdrawn too, unless ``withdrawn`` is false)."""
    return tuple(view for _, view in _actions_of(s, [instance_id], withdrawn=withdrawn).get(instance_id, []))


def _actions_of(
    s: Session, plan_ids: Sequence[int], *, withdrawn: bool = True
) -> dict[int, list[tuple[PlanAction, PlanActionView]]]:
    """The actions of the plans ``plan_ids`` by plan, each row with its view (``plan_actions``),
    in the order added: in two queries however many plans."""
    query = (
        select(PlanAction, Measure.code, Project.code)
        .outerjoin(Measure, Measure.id == PlanAction.measure_id)
        .outerjoin(Project, Project.id == PlanAction.project_id)
        .where(PlanAction.instance_id.in_(plan_ids))
        .order_by(PlanAction.id)
    )
    if not withdrawn:
        query = query.where(PlanAction.withdrawn_by.is_(None))
    rows = s.execute(query).all() if plan_ids else []
    statuses: dict[int, dict[str, tuple[str, str]]] = {}
    if rows:
        for update in s.scalars(
            select(PlanActionUpdate)
            .where(PlanActionUpdate.action_id.in_([a.id for a, _, _ in rows]))
            .order_by(PlanActionUpdate.id)
        ):
            statuses.setdefault(update.action_id, {})[update.period] = (update.status, update.note)
    found: dict[int, list[tuple[PlanAction, PlanActionView]]] = {}
    for a, measure, project in rows:
        view = PlanActionView(
            ref=a.ref,
            what=a.what,
            owner=a.owner,
            due=a.due,
            link=measure or (f"project {project}" if project else ""),
            statuses=statuses.get(a.id, {}),
            withdrawn_by=a.withdrawn_by or "",
            withdrawn_reason=a.withdrawn_reason,
        )
        found.setdefault(a.instance_id, []).append((a, view))
    return found


def actions_of_year(
    s: Session, organisation_id: int, workflow: str, year: str, up_to: str
) -> dict[str, tuple[PlanActionView, ...]]:
    """Each service's plan actions for financial ``year`` (plans of ``workflow``), by service
    code, with the statuses reported up to quarter ``up_to``: what the committee report of that
    quarter shows, and freezes at sign-off. Services whose plan has no action are left out.
    Read in as many queries however many plans (the report is gathered in the sign-off's
    transaction).

    A withdrawn action is in the reports of the quarters it stood in, up to the one it was
    withdrawn in (``withdrawn_in``), marked withdrawn in that one only (before it, it is shown as
    it stood then), and in no later quarter's."""
    plans = s.execute(
        select(Instance.id, Instance.key)
        .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
        .where(
            Instance.organisation_id == organisation_id,
            WorkflowVersion.name == workflow,
            Instance.period == year,
        )
        .order_by(Instance.key)
    ).all()
    by_plan = _actions_of(s, [instance_id for instance_id, _ in plans])
    if any(a.withdrawn_by is not None for rows in by_plan.values() for a, _ in rows):
        started = cycles_started(s, organisation_id, year)
    else:
        started = []
    found: dict[str, tuple[PlanActionView, ...]] = {}
    for instance_id, key in plans:
        rows = by_plan.get(instance_id, [])
        gone = withdrawn_in([(a.ref, a.withdrawn_at) for a, _ in rows if a.withdrawn_by is not None], started)
        actions = []
        for _, a in rows:
            if a.withdrawn and up_to > gone.get(a.ref, ""):
                continue  # withdrawn in an earlier quarter (or before the year's first began)
            stood = a.withdrawn and up_to < gone[a.ref]  # shown as it stood then, not withdrawn
            actions.append(
                replace(
                    a,
                    statuses={q: v for q, v in a.statuses.items() if q <= up_to},
                    withdrawn_by="" if stood else a.withdrawn_by,
                    withdrawn_reason="" if stood else a.withdrawn_reason,
                )
            )
        if actions:
            found[key.rsplit("/", 1)[1]] = tuple(actions)
    return found


def cycles_started(s: Session, organisation_id: int, year: str) -> list[tuple[str, datetime]]:
    """(quarter, when its cycle started) of each quarter of ``year`` the organisation started."""
    first = Period.parse(f"{year}-Q1")
    quarters = [str(Period(first.start_year, q)) for q in (1, 2, 3, 4)]
    return [
        (period, at)
        for period, at in s.execute(
            select(Instance.period, Instance.created_at).where(
                Instance.organisation_id == organisation_id,
                Instance.parent_id.is_(None),
                Instance.period.in_(quarters),
            )
        )
    ]


def withdrawn_in(
    withdrawn: Sequence[tuple[str, datetime | None]], started: Sequence[tuple[str, datetime]]
) -> dict[str, str]:
    """The quarter each withdrawn action (reference, when withdrawn) was withdrawn in: the
    newest quarter whose cycle had ``started`` (``cycles_started``) when it was withdrawn (the
    report its withdrawal belongs to); ``""`` for one withdrawn before the year's first began."""
    return {
        ref: max((period for period, at in started if when is not None and at < when), default="")
        for ref, when in withdrawn
    }


def plan_risks(s: Session, inst: Instance, policy: RiskPolicy) -> tuple[RiskView, ...]:
    """The plan's operational risks from the register in the order raised (``R1`` first), those
    withdrawn too: nothing is deleted, so a risk keeps its number."""
    return tuple(register_in(s, inst.organisation_id, None, policy, plan_id=inst.id))


def plan_risk_code(service: str | None, year: str, ref: str, plan_id: int) -> str:
    """A plan risk's code on the register: ``HOUSING-2025-26-R1`` (``P<plan id>-R1`` past the
    register's 32 characters). Migration 0025 names the risks it moves the same way."""
    code = f"{service}-{year}-{ref}"
    return code if service and len(code) <= CODE_LENGTH else f"P{plan_id}-{ref}"


def next_risk_ref(s: Session, instance_id: int) -> str:
    """The number the plan's next risk takes (``R3`` after two, withdrawn or not)."""
    taken = s.scalar(select(func.count(Risk.id)).where(Risk.plan_id == instance_id)) or 0
    return f"{RISK_PREFIX}{taken + 1}"


def plan_counts(s: Session, ids: Sequence[int]) -> tuple[dict[int, int], dict[int, int]]:
    """How many actions and how many risks each of the plans ``ids`` has standing, by plan."""
    if not ids:
        return {}, {}
    actions = s.execute(
        select(PlanAction.instance_id, func.count(PlanAction.id))
        .where(PlanAction.instance_id.in_(ids), PlanAction.withdrawn_by.is_(None))
        .group_by(PlanAction.instance_id)
    ).all()
    risks = s.execute(
        select(Risk.plan_id, func.count(Risk.id))
        .where(Risk.plan_id.in_(ids), Risk.withdrawn_by.is_(None))
        .group_by(Risk.plan_id)
    ).all()
    return {i: n for i, n in actions}, {i: n for i, n in risks if i is not None}


def unreported_actions(s: Session, plans: PlansPolicy, service_id: int, quarter: str) -> list[str]:
    """The actions of the service's plan for ``quarter``'s year with no status reported for it
    (those reported done, ``plans.done_statuses``, in an earlier quarter aside): what the guard
    ``plan_actions_reported`` holds a return back for."""
    try:
        year = str(FinancialYear(Period.parse(quarter).start_year))
    except ValueError:
        return []  # not a quarter's return
    plan_id = s.scalar(
        select(Instance.id)
        .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
        .where(
            Instance.service_id == service_id, Instance.period == year, WorkflowVersion.name == plans.workflow
        )
    )
    if plan_id is None:
        return []
    done = set(plans.done_statuses)
    return [
        a.ref
        for a in plan_actions(s, plan_id, withdrawn=False)
        if quarter not in a.statuses
        and not any(p < quarter and status in done for p, (status, _) in a.statuses.items())
    ]
