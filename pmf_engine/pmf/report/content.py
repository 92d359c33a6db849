"""What the quarterly committee report says, and gathering it for a cycle.

The performance content (each measure's status and last eight quarters, projects, RAG counts per
Council Plan theme, exception reports) is frozen at Leadership Team sign-off; what happens after
it (timeliness from the audit log, Scrutiny's actions, restatements of earlier quarters) is
gathered live each time, as are the services' plan actions with their status this quarter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from pmf_engine.core.clock import london
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Actor, AuditEntry, Instance, Organisation, RoleAssignment
from pmf_engine.core.workdays import WorkingDays
from pmf_engine.pmf.actions import ActionView
from pmf_engine.pmf.comparators import positions_in
from pmf_engine.pmf.comparison import Position
from pmf_engine.pmf.delivery import Headline, headlines_in
from pmf_engine.pmf.finance import FinanceView, finance_in
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Actual, Measure, ReportSnapshot
from pmf_engine.pmf.moderngov.links import MeetingLink
from pmf_engine.pmf.plan_views import PlanActionView, actions_of_year
from pmf_engine.pmf.policy import PlansPolicy
from pmf_engine.pmf.projects import ProjectStatus, project_status
from pmf_engine.pmf.quality_marks import is_marked
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.rag import RagPolicy, Status
from pmf_engine.pmf.reporting import cycle_of, exception_reports, genuine_snapshot
from pmf_engine.pmf.riskpolicy import RiskPolicy
from pmf_engine.pmf.risks import RiskSection, risk_section
from pmf_engine.pmf.status import MeasureStatus, measure_statuses
from pmf_engine.pmf.target_setting import year_targets
from pmf_engine.pmf.targets import financial_year
from pmf_engine.pmf.words import NO_FREEZE, frozen_stage

QUARTERS_SHOWN = 8
"""How many quarters of each measure's history the report charts (this one and seven before)."""


@dataclass(frozen=True)
class Timeliness:
    """An arrival of the cycle at a stage, when, and how many working days after the quarter's
    end; ``arrival`` counts them per stage (2 once the cycle was sent back and reached it again)."""

    stage: str
    reached: datetime
    working_days: int
    arrival: int = 1

    @property
    def label(self) -> str:
        """The stage's name, with which arrival it was after the first: "Service review (2nd arrival)"."""
        return self.stage if self.arrival == 1 else f"{self.stage} ({_ordinal(self.arrival)} arrival)"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class Restatement:
    """A correction of an earlier quarter's figure, with the figure it replaced."""

    code: str
    period: str
    value: float | None
    previous: float | None
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class RevisedTarget:
    """A measure's annual target revised mid-year (approved, in force by the quarter), with the
    original beside it and the reason."""

    code: str
    year: str
    original: float | None
    revised: float
    revised_from: str
    reason: str


@dataclass(frozen=True)
class Content:
    """What the report says about performance: frozen at Leadership Team sign-off."""

    cycle: str
    organisation: str
    period: str
    generated: datetime
    measures: list[MeasureStatus]
    projects: list[ProjectStatus]
    history: dict[str, list[tuple[str, float | None]]]
    themes: dict[str, dict[str, int]]
    exceptions: list[tuple[str, str, str, str, str]]
    headlines: list[Headline] = field(default_factory=list)
    """The delivery plan: per Council Plan theme, a narrative, RAG counts and key projects."""
    risks: RiskSection | None = None
    """The quarter's risk register (``None`` in a report frozen before there was one)."""
    revised_targets: list[RevisedTarget] = field(default_factory=list)
    """The year's approved revisions in force by the quarter (a report frozen before there
    were revisions has none)."""
    finance: list[FinanceView] = field(default_factory=list)
    """Each service's budget, forecast outturn and variance for the quarter."""
    plans: dict[str, list[PlanActionView]] | None = None
    """Each service's plan actions for the year with their statuses up to the quarter, by
    service code (``None`` in a report frozen before the plans were part of its content)."""

    def uncertain(self) -> list[MeasureStatus]:
        """The measures whose figure is flagged provisional or estimated."""
        return [m for m in self.measures if is_marked(m.quality)]

    def by_service(self) -> list[tuple[FinanceView, list[MeasureStatus]]]:
        """Each finance line with the measures of its service."""
        return [(f, [m for m in self.measures if m.service == f.service]) for f in self.finance]


@dataclass(frozen=True)
class Frozen:
    """When the content was frozen, by whom, and its SHA-256."""

    at: datetime
    by: str
    sha256: str


@dataclass(frozen=True)
class ReportData:
    """The content (frozen or live) and what happens after it: timeliness, Scrutiny's actions
    and restatements of earlier quarters."""

    content: Content
    frozen: Frozen | None
    timeliness: list[Timeliness]
    actions: list[ActionView]
    restatements: list[Restatement]
    meetings: list[tuple[str, MeetingLink]] = field(default_factory=list)
    """Each stage that hangs on a committee meeting, by label, with its meeting's ModernGov pages."""
    comparators: dict[str, list[Position]] = field(default_factory=dict)
    """Each measure's position among similar councils (LG Inform), by measure code: gathered
    live, each value with its source and date (published figures, not the council's own)."""
    plans: dict[str, tuple[PlanActionView, ...]] = field(default_factory=dict)
    """Each service's plan actions for the quarter's year, with the quarter's status (live)."""
    frozen_at: str = NO_FREEZE
    """The stage at which the cycle's workflow freezes the report, by its label."""
    actions_title: str = "Actions"
    """What the framework calls the actions (``Scrutiny actions``)."""
    people: dict[str, str] = field(default_factory=dict)
    """The name of each person holding a role in the organisation, by username (live): the
    report names owners and assignees by name; the frozen content keeps their usernames."""


_CONTENT = TypeAdapter(Content)


def canonical(content: Content) -> str:
    """The content as canonical JSON: the exact text that is stored and hashed."""
    return json.dumps(
        _CONTENT.dump_python(content, mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_in(
    s: Session,
    inst: Instance,
    rag: RagPolicy,
    now: datetime,
    risk: RiskPolicy | None = None,
    plans: PlansPolicy | None = None,
) -> Content:
    """The report's performance content as the database holds it now (in ``s``), with the risk
    register placed on ``risk``'s ladder (none without it) and the service plans' actions of
    ``plans`` (none without it)."""
    period = quarter_of(inst)
    measures = measure_statuses(s, inst, rag)
    quarters = [period]
    for _ in range(QUARTERS_SHOWN - 1):
        quarters.insert(0, quarters[0].previous())
    names = [str(q) for q in quarters]
    ids = dict(
        s.execute(
            select(Measure.id, Measure.code).where(Measure.organisation_id == inst.organisation_id)
        ).all()
    )
    latest: dict[tuple[str, str], float | None] = {}
    if ids:
        for measure_id, p, value in s.execute(
            select(Actual.measure_id, Actual.period, Actual.value)
            .where(Actual.measure_id.in_(list(ids)), Actual.period.in_(names))
            .order_by(Actual.id)
        ).all():
            latest[(ids[measure_id], p)] = value
    history = {code: [(n, latest.get((code, n))) for n in names] for code in sorted(ids.values())}
    themes: dict[str, dict[str, int]] = {}
    for m in measures:
        counts = themes.setdefault(m.theme or "Other", dict.fromkeys(get_args(Status), 0))
        counts[m.rag.status] += 1
    exceptions = [
        (code, r.reason, r.remedial_action, r.owner, r.recovery_date)
        for code, r in exception_reports(s, inst.id)
    ]
    organisation = s.execute(
        select(Organisation.name).where(Organisation.id == inst.organisation_id)
    ).scalar_one()
    projects = project_status(s, inst)
    year = financial_year(period)
    library = list(s.scalars(select(Measure).where(Measure.organisation_id == inst.organisation_id)))
    held = year_targets(s, library, year)
    revised = [
        RevisedTarget(
            m.code, year, held[m.id].original, revision, held[m.id].revised_from, held[m.id].revision_reason
        )
        for m in sorted(library, key=lambda m: m.code)
        if (revision := held[m.id].revised) is not None and held[m.id].revised_from <= str(period)
    ]
    return Content(
        cycle=inst.key,
        organisation=organisation,
        period=str(period),
        generated=now,
        measures=measures,
        projects=projects,
        history=history,
        themes=dict(sorted(themes.items())),
        exceptions=exceptions,
        headlines=headlines_in(s, inst, measures, projects),
        risks=risk_section(s, inst, risk) if risk is not None else None,
        revised_targets=revised,
        finance=finance_in(s, inst.organisation_id, inst.period),
        plans=(
            {
                service: list(actions)
                for service, actions in actions_of_year(
                    s, inst.organisation_id, plans.workflow, year, str(period)
                ).items()
            }
            if plans is not None
            else {}
        ),
    )


def gather(framework: Framework, cycle: str) -> ReportData:
    """The report of ``cycle``: its frozen content once signed off, the live content before."""
    engine = framework.engine
    with engine.store.read() as s:
        inst = cycle_of(s, cycle, joinedload(Instance.organisation), joinedload(Instance.workflow_version))
        snap = genuine_snapshot(s, inst.id)
        if snap is not None:
            content = _CONTENT.validate_python(json.loads(snap.content))
            frozen: Frozen | None = Frozen(snap.frozen_at, snap.frozen_by, snap.sha256)
        else:
            content, frozen = (
                content_in(
                    s,
                    inst,
                    framework.rag,
                    engine.clock.now(),
                    framework.policies.risk,
                    framework.policies.framework.plans,
                ),
                None,
            )
        timeliness = _timeliness(s, engine, inst)
        wf = engine.definition(inst.workflow_version)
        restatements = _restatements(s, inst)
        comparators = positions_in(s, inst.organisation_id)
        organisation = inst.organisation.code
        people = people_of(s, inst.organisation_id)
        # Frozen with the content since the plans were; live for a report frozen before that.
        plans = (
            {service: tuple(actions) for service, actions in content.plans.items()}
            if content.plans is not None
            else framework.plans.for_quarter(s, inst)
            if framework.policies.framework.plans
            else {}
        )
    actions = [
        a
        for a in framework.actions.list_for(organisation)
        if a.cycle == cycle or (not a.closed and a.cycle < cycle)
    ]
    links = framework.moderngov.stage_links(cycle)
    meetings = [(state.label, links[name]) for name, state in wf.states.items() if name in links]
    return ReportData(
        content,
        frozen,
        timeliness,
        actions,
        restatements,
        meetings=meetings,
        comparators=comparators,
        plans=plans,
        frozen_at=frozen_stage(wf),
        actions_title=framework.words.actions,
        people=people,
    )


def people_of(s: Session, organisation_id: int) -> dict[str, str]:
    """Username to name of everyone holding a role in the organisation, in one query."""
    rows = s.execute(
        select(Actor.username, Actor.name)
        .join(RoleAssignment, RoleAssignment.actor_id == Actor.id)
        .where(RoleAssignment.organisation_id == organisation_id)
        .distinct()
    ).all()
    return {str(username): str(name or username) for username, name in rows}


@dataclass(frozen=True)
class Figures:
    """A quarter's measures and exception reports as its report gives them."""

    period: str
    measures: list[MeasureStatus]
    exceptions: list[tuple[str, str, str, str, str]]
    frozen: bool


def performance(framework: Framework, cycle: str) -> Figures:
    """``cycle``'s measures and exception reports as its report gives them (frozen once signed
    off, live before), without the rest of the report (projects, history, timeliness, actions,
    restatements): what the open-data feed reads, on every request."""
    engine = framework.engine
    with engine.store.read() as s:
        inst = cycle_of(s, cycle)
        snap = genuine_snapshot(s, inst.id)
        if snap is not None:
            content = _CONTENT.validate_python(json.loads(snap.content))
            return Figures(content.period, content.measures, content.exceptions, True)
        exceptions = [
            (code, r.reason, r.remedial_action, r.owner, r.recovery_date)
            for code, r in exception_reports(s, inst.id)
        ]
        return Figures(str(quarter_of(inst)), measure_statuses(s, inst, framework.rag), exceptions, False)


def measures_reported(framework: Framework, cycle: str) -> list[MeasureStatus]:
    """The measures as ``cycle``'s report gives them (frozen once signed off, live before),
    without the rest of the report: what a comparison with another quarter needs."""
    engine = framework.engine
    with engine.store.read() as s:
        inst = cycle_of(s, cycle)
        snap = genuine_snapshot(s, inst.id)
        if snap is not None:
            return _CONTENT.validate_python(json.loads(snap.content)).measures
        return measure_statuses(s, inst, framework.rag)


def _timeliness(s: Session, engine: Engine, inst: Instance) -> list[Timeliness]:
    """Every arrival at a stage, in order: a cycle sent back and forward again reaches a stage
    twice. A transition back into the same stage (Cabinet deferring) is no new arrival."""
    period = quarter_of(inst)
    wf = engine.definition(inst.workflow_version)
    workdays = WorkingDays(inst.organisation.holiday_subdivision)
    arrivals: dict[str, int] = {}
    found: list[Timeliness] = []
    for from_state, to_state, at in s.execute(
        select(AuditEntry.from_state, AuditEntry.to_state, func.coalesce(AuditEntry.as_of, AuditEntry.at))
        .where(
            AuditEntry.chain == inst.organisation.code,  # its organisation's chain only
            AuditEntry.instance == inst.key,
            AuditEntry.event.in_(("fired", "cycle.started")),
        )
        .order_by(AuditEntry.seq)
    ).all():
        if not to_state or to_state == from_state or to_state not in wf.states:
            continue
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        arrivals[to_state] = arrivals.get(to_state, 0) + 1
        found.append(
            Timeliness(
                wf.states[to_state].label,
                when,
                workdays.between(period.end, london(when).date()),
                arrivals[to_state],
            )
        )
    return found


def _restatements(s: Session, inst: Instance) -> list[Restatement]:
    """Corrections of earlier quarters' figures made since the previous report was frozen (up
    to this one's freeze, if it has been)."""
    since = s.scalar(
        select(func.max(ReportSnapshot.frozen_at))
        .join(Instance, Instance.id == ReportSnapshot.instance_id)
        .where(
            Instance.organisation_id == inst.organisation_id,
            Instance.parent_id.is_(None),
            Instance.period < inst.period,
        )
    )
    until = s.scalar(select(ReportSnapshot.frozen_at).where(ReportSnapshot.instance_id == inst.id))
    query = (
        select(Actual, Measure.code)
        .join(Measure, Measure.id == Actual.measure_id)
        .where(
            Measure.organisation_id == inst.organisation_id,
            Actual.restatement_reason.is_not(None),
            Actual.period < inst.period,
        )
        .order_by(Actual.id)
    )
    if since is not None:
        query = query.where(Actual.reported_at > since)
    if until is not None:
        query = query.where(Actual.reported_at <= until)
    found = []
    for actual, code in s.execute(query).all():
        previous = s.scalar(
            select(Actual.value)
            .where(
                Actual.measure_id == actual.measure_id, Actual.period == actual.period, Actual.id < actual.id
            )
            .order_by(Actual.id.desc())
            .limit(1)
        )
        found.append(
            Restatement(
                code,
                actual.period,
                actual.value,
                previous,
                actual.restatement_reason or "",
                actual.reported_by,
                actual.reported_at,
            )
        )
    return found
