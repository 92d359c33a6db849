"""What a service plan looks like to people and reports: its actions (with each quarter's
status), risks and summary; the reads they are built from, and the two guards' checks
(``self_evaluation_written``, ``plan_complete``, ``plan_actions_reported``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pmf_engine.core.limits import id_of
from pmf_engine.core.period import FinancialYear, Period
from pmf_engine.core.store import Instance, WorkflowVersion
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.plan_models import PlanAction, PlanActionUpdate, PlanRisk, PlanText
from pmf_engine.pmf.policy import PlansPolicy

RISK_PREFIX = "R"
"""A plan's risks are ``R1``, ``R2``, ... in the order added."""


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
class PlanRiskView:
    """An operational risk of a plan: ``R1``, ``R2``, ... in the order added."""

    ref: str
    risk: str
    owner: str
    rating: str
    mitigation: str
    withdrawn_by: str = ""
    withdrawn_reason: str = ""

    @property
    def withdrawn(self) -> bool:
        """Whether the risk was withdrawn from the plan."""
        return bool(self.withdrawn_by)


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
    risks: tuple[PlanRiskView, ...]


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
    query = (
        select(PlanAction, Measure.code, Project.code)
        .outerjoin(Measure, Measure.id == PlanAction.measure_id)
        .outerjoin(Project, Project.id == PlanAction.project_id)
        .where(PlanAction.instance_id == instance_id)
        .order_by(PlanAction.id)
    )
    if not withdrawn:
        query = query.where(PlanAction.withdrawn_by.is_(None))
    rows = s.execute(query).all()
    statuses: dict[int, dict[str, tuple[str, str]]] = {}
    if rows:
        for update in s.scalars(
            select(PlanActionUpdate)
            .where(PlanActionUpdate.action_id.in_([a.id for a, _, _ in rows]))
            .order_by(PlanActionUpdate.id)
        ):
            statuses.setdefault(update.action_id, {})[update.period] = (update.status, update.note)
    return tuple(
        PlanActionView(
            ref=a.ref,
            what=a.what,
            owner=a.owner,
            due=a.due,
            link=measure or (f"project {project}" if project else ""),
            statuses=statuses.get(a.id, {}),
            withdrawn_by=a.withdrawn_by or "",
            withdrawn_reason=a.withdrawn_reason,
        )
        for a, measure, project in rows
    )


def actions_of_year(
    s: Session, organisation_id: int, workflow: str, year: str, up_to: str
) -> dict[str, tuple[PlanActionView, ...]]:
    """Each service's plan actions for financial ``year`` (plans of ``workflow``), by service
    code, with the statuses reported up to quarter ``up_to``: what the committee report of that
    quarter shows, and freezes at sign-off. Services whose plan has no action are left out."""
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
    found: dict[str, tuple[PlanActionView, ...]] = {}
    for instance_id, key in plans:
        actions = tuple(
            replace(a, statuses={q: v for q, v in a.statuses.items() if q <= up_to})
            for a in plan_actions(s, instance_id, withdrawn=False)
        )
        if actions:
            found[key.rsplit("/", 1)[1]] = actions
    return found


def plan_risks(s: Session, instance_id: int) -> tuple[PlanRiskView, ...]:
    """The plan's operational risks in the order added (``R1`` first), those withdrawn too:
    nothing is deleted, so a risk keeps its number."""
    rows = s.scalars(select(PlanRisk).where(PlanRisk.instance_id == instance_id).order_by(PlanRisk.id))
    return tuple(
        PlanRiskView(
            f"{RISK_PREFIX}{n}",
            r.risk,
            r.owner,
            r.rating,
            r.mitigation,
            r.withdrawn_by or "",
            r.withdrawn_reason,
        )
        for n, r in enumerate(rows, start=1)
    )


def risk_row(s: Session, instance_id: int, ref: str) -> PlanRisk | None:
    """The plan's risk ``ref`` (``R2``: the second added), or ``None``."""
    number = id_of(ref.strip().upper().removeprefix(RISK_PREFIX))
    if number is None:
        return None
    return s.scalar(
        select(PlanRisk)
        .where(PlanRisk.instance_id == instance_id)
        .order_by(PlanRisk.id)
        .offset(number - 1)
        .limit(1)
    )


def plan_counts(s: Session, model: type[PlanAction] | type[PlanRisk], ids: Sequence[int]) -> dict[int, int]:
    """How many actions (or risks) each of the plans ``ids`` has standing, by plan."""
    if not ids:
        return {}
    rows = s.execute(
        select(model.instance_id, func.count(model.id))
        .where(model.instance_id.in_(ids), model.withdrawn_by.is_(None))
        .group_by(model.instance_id)
    ).all()
    return {instance_id: count for instance_id, count in rows}


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
