"""Information at a glance: a council's quarter on one page, its drill-down, and each person's to-do.

The dashboard is read from what the committee report says (``report.gather``: frozen at
Leadership Team sign-off, live before), so the two never disagree: a tile per Council Plan
theme with its RAG counts and direction of travel, the reds and off-track projects with their
exception reports, what went well (greens that improved), the cycle's timeliness against the
council's targets (``framework.yaml``'s ``dashboard.timeliness``) and the same quarter a year
before. ``measure_detail`` is one measure over many quarters with everything said about it;
``todo`` is what the engine would let a person do now, with its deadline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from sqlalchemy import select

from pmf_engine.core.errors import NotFound
from pmf_engine.core.period import Period, parse_period
from pmf_engine.core.store import Instance, Organisation, find_organisation, roles_held
from pmf_engine.core.views import InstanceStatus
from pmf_engine.pmf.delivery import Headline
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.measures import measure_targets
from pmf_engine.pmf.models import Actual, ExceptionReport, Measure
from pmf_engine.pmf.projects import ProjectStatus
from pmf_engine.pmf.quality_marks import is_marked
from pmf_engine.pmf.rag import Status
from pmf_engine.pmf.report.content import ReportData, Timeliness, gather, measures_reported
from pmf_engine.pmf.status import MeasureStatus
from pmf_engine.pmf.words import NO_FREEZE

STATUSES: tuple[Status, ...] = get_args(Status)
HISTORY_QUARTERS = 12
"""How many quarters a measure's own page charts (three years)."""


@dataclass(frozen=True)
class Tile:
    """One Council Plan theme: its measures' RAG counts, which way they moved, a headline."""

    theme: str
    counts: dict[str, int]
    improving: int
    worsening: int
    measures: int
    last_year: dict[str, int] | None = None
    """The same theme's counts in the same quarter a year before, if that cycle exists."""

    @property
    def headline(self) -> str:
        """In words: "5 of 8 on target; 2 red; 3 improving, 1 worsening since last quarter"."""
        parts = [f"{self.counts.get('green', 0)} of {self.measures} on target"]
        if self.counts.get("red"):
            parts.append(f"{self.counts['red']} red")
        moved = []
        if self.improving:
            moved.append(f"{self.improving} improving")
        if self.worsening:
            moved.append(f"{self.worsening} worsening")
        if moved:
            parts.append(", ".join(moved) + " since last quarter")
        return "; ".join(parts)


@dataclass(frozen=True)
class Concern:
    """A red measure or an off-track project, with what its exception report says (if written)."""

    kind: str
    """``measure`` or ``project``."""
    code: str
    title: str
    theme: str
    service: str | None
    status: str
    reason: str = ""
    remedial_action: str = ""
    owner: str = ""
    recovery_date: str = ""
    quality: str = ""
    """A measure's figure's quality flag (validated, estimated, provisional; ``""``: not said)."""

    @property
    def reported(self) -> bool:
        """Whether its exception report has been written."""
        return bool(self.reason)


@dataclass(frozen=True)
class Stage:
    """The cycle's arrival at a stage, in working days from the quarter's end, against its target."""

    label: str
    reached: datetime
    working_days: int
    target: int | None

    @property
    def late(self) -> bool:
        """Reached after its target."""
        return self.target is not None and self.working_days > self.target


@dataclass(frozen=True)
class Dashboard:
    """One organisation's quarter at a glance."""

    organisation: str
    organisation_name: str
    cycle: str
    period: str
    state_label: str
    frozen: bool
    tiles: list[Tile]
    concerns: list[Concern]
    went_well: list[MeasureStatus]
    stages: list[Stage]
    quarters: list[str]
    """Every quarter the organisation has a cycle for, newest first (to switch between)."""
    last_year: str | None
    """The cycle of the same quarter a year before, if there is one."""
    measures: list[MeasureStatus] = field(default_factory=list)
    projects: list[ProjectStatus] = field(default_factory=list)
    headlines: list[Headline] = field(default_factory=list)
    """The delivery plan's headline per theme, as the report gives it."""
    frozen_at: str = NO_FREEZE
    """The stage at which the report is frozen, by its label (``Leadership Team sign-off``)."""

    @property
    def marked(self) -> list[str]:
        """The codes of the measures whose figure is marked provisional or estimated."""
        return marked(self.measures)

    def headline(self, theme: str) -> Headline | None:
        """The delivery plan's headline of ``theme``, if the report has one."""
        return next((h for h in self.headlines if h.theme == theme), None)

    def tile(self, theme: str) -> Tile:
        """The tile of ``theme``; ``NotFound`` if the quarter has no such theme."""
        for t in self.tiles:
            if t.theme == theme:
                return t
        raise NotFound("theme", theme)


def marked(measures: Iterable[MeasureStatus]) -> list[str]:
    """The codes of ``measures`` whose figure is marked provisional or estimated, as the note
    under the marks names them (``quality_marks.note``)."""
    return [m.code for m in measures if is_marked(m.quality)]


def _counts(measures: list[MeasureStatus]) -> dict[str, dict[str, int]]:
    themes: dict[str, dict[str, int]] = {}
    for m in measures:
        themes.setdefault(m.theme or "Other", dict.fromkeys(STATUSES, 0))[m.rag.status] += 1
    return themes


def quarterly_cycles(framework: Framework, organisation: str) -> list[str]:
    """The organisation's quarterly cycles' keys, newest quarter first (one query)."""
    with framework.engine.store.read() as s:
        found = s.execute(
            select(Instance.key, Instance.period)
            .join(Organisation, Organisation.id == Instance.organisation_id)
            .where(Organisation.code == organisation, Instance.parent_id.is_(None))
        ).all()
    return [key for key, period in sorted(found, key=lambda row: row[1], reverse=True) if _is_quarter(period)]


def _is_quarter(period: str) -> bool:
    try:
        return isinstance(parse_period(period), Period)
    except ValueError:
        return False


def build(framework: Framework, cycle: str, *, compare: bool = True) -> Dashboard:
    """The dashboard of ``cycle`` (a quarterly cycle's key); with ``compare``, each tile also
    carries the same quarter a year before."""
    engine = framework.engine
    data = gather(framework, cycle)
    content = data.content
    status = engine.status(cycle, with_children=False)
    quarters = quarterly_cycles(framework, status.organisation)
    period = parse_period(content.period)
    assert isinstance(period, Period)  # gather refuses any other cycle
    year_before = f"{status.organisation}/{Period(period.start_year - 1, period.quarter)}"
    before = (
        _counts(measures_reported(framework, year_before)) if compare and year_before in quarters else None
    )
    tiles = []
    for theme, counts in _counts(content.measures).items():
        mine = [m for m in content.measures if (m.theme or "Other") == theme]
        tiles.append(
            Tile(
                theme,
                counts,
                improving=sum(m.since_last_quarter == "improving" for m in mine),
                worsening=sum(m.since_last_quarter == "worsening" for m in mine),
                measures=len(mine),
                last_year=before.get(theme) if before is not None else None,
            )
        )
    return Dashboard(
        organisation=status.organisation,
        organisation_name=content.organisation,
        cycle=cycle,
        period=content.period,
        state_label=status.state_label,
        frozen=data.frozen is not None,
        frozen_at=data.frozen_at,
        tiles=sorted(tiles, key=lambda t: t.theme),
        concerns=_concerns(data),
        went_well=[
            m for m in content.measures if m.rag.status == "green" and m.since_last_quarter == "improving"
        ],
        stages=_stages(framework, data.timeliness, status),
        quarters=[k.rsplit("/", 1)[-1] for k in quarters],
        last_year=year_before if year_before in quarters else None,
        measures=content.measures,
        projects=content.projects,
        headlines=content.headlines,
    )


def _concerns(data: ReportData) -> list[Concern]:
    reports = {code: rest for code, *rest in data.content.exceptions}
    found = []
    for m in data.content.measures:
        if m.rag.status == "red":
            reason, action, owner, recovery = reports.get(m.code, ("", "", "", ""))
            found.append(
                Concern(
                    "measure",
                    m.code,
                    m.title,
                    m.theme,
                    m.service,
                    "red",
                    reason,
                    action,
                    owner,
                    recovery,
                    m.quality,
                )
            )
    for p in data.content.projects:
        if p.status == "off_track":  # a project's report is filed as "project CODE"
            reason, action, owner, recovery = reports.get(f"project {p.code}", ("", "", "", ""))
            found.append(
                Concern(
                    "project",
                    p.code,
                    p.title,
                    p.theme,
                    p.service,
                    "off_track",
                    reason,
                    action,
                    owner,
                    recovery,
                )
            )
    return found


def _stages(framework: Framework, timeliness: list[Timeliness], status: InstanceStatus) -> list[Stage]:
    engine = framework.engine
    with engine.store.read() as s:  # the cycle's own stored version (a page view writes nothing)
        version_id = s.execute(
            select(Instance.workflow_version_id).where(Instance.key == status.key)
        ).scalar_one()
        wf = engine.stored.by_id(s, version_id)
    targets = framework.policies.framework.dashboard.timeliness.get(wf.name, {})
    by_label = {wf.states[state].label: days for state, days in targets.items() if state in wf.states}
    return [Stage(t.label, t.reached, t.working_days, by_label.get(t.stage)) for t in timeliness]


# -- one measure over time -------------------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """One figure as it was reported (a resubmission or restatement is another)."""

    period: str
    value: float | None
    narrative: str
    by: str
    at: datetime
    restatement_reason: str | None
    quality: str | None = None


@dataclass(frozen=True)
class Quarter:
    """One quarter of a measure: the figure that stands, its target, and what was said."""

    period: str
    value: float | None
    target: float | None
    narrative: str
    reported: list[Reported]
    exception_reason: str = ""
    recovery_date: str = ""
    quality: str | None = None
    """The standing figure's quality flag (validated, estimated, provisional), if it has one."""


@dataclass(frozen=True)
class MeasureDetail:
    """A measure's own page: its definition and its quarters, oldest first."""

    organisation: str
    code: str
    title: str
    theme: str
    unit: str
    fmt: str
    polarity: str
    owner: str
    data_source: str
    quarters: list[Quarter]
    definition: str = ""
    """What it counts, in words: the definition an auditor checks the figures against."""
    guidance: str = ""
    numerator: str = ""
    denominator: str = ""
    data_owner: str = ""


def measure_detail(framework: Framework, organisation: str, code: str, upto: str) -> MeasureDetail:
    """Measure ``code`` over the ``HISTORY_QUARTERS`` quarters up to ``upto`` (a quarter)."""
    last = parse_period(upto, "quarter")
    assert isinstance(last, Period)
    periods = [last]
    while len(periods) < HISTORY_QUARTERS:
        periods.insert(0, periods[0].previous())
    names = [str(p) for p in periods]
    with framework.engine.store.read() as s:
        measure = s.scalar(
            select(Measure)
            .join(Organisation, Organisation.id == Measure.organisation_id)
            .where(Organisation.code == organisation, Measure.code == code)
        )
        if measure is None:
            raise NotFound("measure", f"{organisation}/{code}")
        rows = s.scalars(
            select(Actual)
            .where(Actual.measure_id == measure.id, Actual.period.in_(names))
            .order_by(Actual.id)
        ).all()
        exceptions = {
            key.rsplit("/", 1)[-1]: report
            for report, key in s.execute(
                select(ExceptionReport, Instance.key)
                .join(Instance, Instance.id == ExceptionReport.instance_id)
                .where(ExceptionReport.measure_id == measure.id)
            ).all()
        }
        targets = measure_targets(measure)
        by_period: dict[str, list[Reported]] = {}
        for a in rows:
            by_period.setdefault(a.period, []).append(
                Reported(
                    a.period,
                    a.value,
                    a.narrative,
                    a.reported_by,
                    a.reported_at,
                    a.restatement_reason,
                    a.quality,
                )
            )
        quarters = []
        for p in periods:
            reported = by_period.get(str(p), [])
            standing = reported[-1] if reported else None
            report = exceptions.get(str(p))
            quarters.append(
                Quarter(
                    str(p),
                    standing.value if standing else None,
                    targets.quarter(p),
                    standing.narrative if standing else "",
                    reported,
                    report.reason if report else "",
                    report.recovery_date if report else "",
                    standing.quality if standing else None,
                )
            )
        return MeasureDetail(
            organisation,
            measure.code,
            measure.title,
            measure.theme,
            measure.unit,
            measure.format,
            measure.polarity,
            measure.owner,
            measure.data_source,
            quarters,
            definition=measure.definition,
            guidance=measure.guidance,
            numerator=measure.numerator,
            denominator=measure.denominator,
            data_owner=measure.data_owner,
        )


# -- what I need to do ---------------------------------------------------------------------


@dataclass(frozen=True)
class ToDo:
    """Something a person may do now: the instance, what it offers them, its deadline."""

    key: str
    organisation: str
    what: str
    """The instance's state, in words ("Submitted", "Leadership Team sign-off")."""
    steps: tuple[str, ...]
    """The labels of the transitions they may fire."""
    due_at: datetime | None
    late_working_days: int
    kind: str = "step"
    """``step`` (a transition they may fire), ``action`` (an action assigned to them),
    ``target`` (a proposed target waiting for their stage's decision) or ``risk`` (a risk
    escalated to a level their role owns)."""
    href: str | None = None
    """Where it is done, when not the instance's page (``/instances/KEY``)."""
    task: str = ""
    """What is to be done, in words, when no transition and no kind says it (an action)."""

    @property
    def doing(self) -> str:
        """What they can do, in words."""
        if self.steps:
            return ", ".join(self.steps)
        return self.task or _DOING.get(self.kind, "")


_DOING = {
    "target": "Agree the target or send it back",
    "risk": "Review the risk: it is escalated to your level",
}


def todo(framework: Framework, username: str, organisations: list[str]) -> list[ToDo]:
    """What ``username`` may do now in ``organisations``: each open instance with a transition
    their roles allow (``Engine.agenda``: a few queries however many instances), and each open
    Scrutiny action assigned to them; the latest first, then the soonest due."""
    wanted = set(organisations)
    found = [
        ToDo(
            o.key,
            o.organisation,
            o.state_label,
            tuple(step.label for step in o.steps),
            o.due_at,
            o.late_working_days,
        )
        for o in framework.engine.agenda(username)
        if o.organisation in wanted
    ]
    for org in organisations:
        for action in framework.actions.list_for(org):
            if action.assignee == username and not action.closed:
                due = datetime.fromisoformat(action.due) if action.due else None
                found.append(
                    ToDo(
                        action.key,
                        org,
                        action.what,
                        (),
                        due,
                        1 if action.overdue else 0,
                        kind="action",
                        task=f"Complete this {framework.words.action}",
                    )
                )
    found += _targets_waiting(framework, username, organisations)
    found += _risks_escalated(framework, username, organisations)
    far = datetime.max

    def pressure(item: ToDo) -> tuple[int, datetime]:
        due = item.due_at.replace(tzinfo=None) if item.due_at else far
        return (-item.late_working_days, due)

    return sorted(found, key=pressure)


def _targets_waiting(framework: Framework, username: str, organisations: list[str]) -> list[ToDo]:
    """Each proposed target whose next stage ``username`` decides (``framework.yaml targets``)."""
    if framework.policies.framework.targets is None:
        return []
    targets = framework.targets
    found = []
    for org in organisations:
        for view in targets.list(org):
            if view.awaiting is not None and targets.may_decide(org, username, view):
                found.append(
                    ToDo(
                        f"{org}/{view.measure} target {view.year}",
                        org,
                        f"{view.value:g} ({view.kind}) from {view.proposed_by}: awaits the {view.awaiting}",
                        (),
                        None,
                        0,
                        kind="target",
                        href=f"/orgs/{org}/measures/{view.measure}/history#targets",
                    )
                )
    return found


def _risks_escalated(framework: Framework, username: str, organisations: list[str]) -> list[ToDo]:
    """Each risk escalated to a level of ``policies/risk.yaml`` whose roles ``username`` holds."""
    policy = framework.policies.risk
    if policy is None:
        return []
    found = []
    for org in organisations:
        with framework.engine.store.read() as s:
            held = {role for role, _ in roles_held(s, username, find_organisation(s, org).id)}
        levels = {name for name, level in policy.levels.items() if held & set(level.roles)}
        if not levels:
            continue
        for risk in framework.risks.register(org):
            if risk.escalated and risk.level in levels:
                found.append(
                    ToDo(
                        f"{org}/{risk.code}",
                        org,
                        f"{risk.title}: residual score {risk.score}, escalated to the {risk.level_label}",
                        (),
                        None,
                        0,
                        kind="risk",
                        href=f"/orgs/{org}/risks",
                    )
                )
    return found


def rag_counts(measures: list[MeasureStatus]) -> Counter[str]:
    """How many measures have each RAG status."""
    return Counter(m.rag.status for m in measures)
