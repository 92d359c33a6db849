"""The annual report at quarter 4: for a financial year, each measure's four quarters, its
outturn against the annual target (the original and, if one was approved, the revised target
with its reason), its direction of travel over the years before, what went well (green at the
year's end, or better than last year) and the reds with the director's comments.

Figures are the measures' latest (restatements included), the outturn the four quarters added
up by the measure's aggregation (summed, averaged, or the latest; for a measure reported once a
year, its Q4 figure); a quarter not reported
leaves the outturn blank and says so. The director's comments are the narrative of the year's
last reported quarter and the exception report of the latest cycle of the year that has one.

The public version (``public=True``) holds only figures approved for publication (a quarter
whose cycle is in a state ``framework.yaml``'s ``open_data.published_in`` lists; a quarter with
no cycle was loaded as history, reported before pmf-engine held it) and no restricted
narrative: no comments, exception reports or owners.

Until the year's Q4 cycle is signed off the report is a draft, gathered live (``annual_in``);
that sign-off freezes it (``annual_snapshot``), and the frozen content is served from then on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance, WorkflowVersion, find_organisation
from pmf_engine.pmf.actuals import latest_values
from pmf_engine.pmf.measures import measure_targets
from pmf_engine.pmf.models import Actual, ExceptionReport, Measure
from pmf_engine.pmf.policy import OpenDataPolicy
from pmf_engine.pmf.quality_marks import is_marked, least_sure
from pmf_engine.pmf.rag import Direction, Polarity, Rag, RagPolicy, Status, direction, rag
from pmf_engine.pmf.report.content import Frozen
from pmf_engine.pmf.reporting import with_service_codes
from pmf_engine.pmf.status import decide
from pmf_engine.pmf.target_setting import parse_year, year_targets
from pmf_engine.pmf.targets import aggregate, financial_year

YEARS_BACK = 3
"""How many financial years before the report's its direction of travel looks back over."""
Q4_FIGURE = "Q4 figure"
"""The note of an outturn that is the year's Q4 figure (a measure that takes its latest)."""


@dataclass(frozen=True)
class QuarterFigure:
    """One quarter of the year: the figure (``None``: not reported, or withheld from the public),
    the target in force then, and its RAG as the quarter's rule decides it."""

    period: str
    value: float | None
    target: float | None
    status: Status
    withheld: bool = False
    quality: str = ""
    """The figure's quality flag (validated, estimated, provisional); ``""`` where none was
    stated, there is no figure, or the report was frozen before flags were kept with it."""


@dataclass(frozen=True)
class Comments:
    """The director's comments on a red measure (restricted: not in the public version)."""

    narrative: str
    reason: str = ""
    remedial_action: str = ""
    owner: str = ""
    recovery_date: str = ""


@dataclass(frozen=True)
class AnnualMeasure:
    """A measure's year."""

    code: str
    title: str
    theme: str
    service: str | None
    unit: str
    fmt: str
    aggregation: str
    quarters: list[QuarterFigure]
    outturn: float | None
    outturn_note: str
    original: float | None
    """The annual target as agreed (or as the library set it)."""
    revised: float | None
    revision_reason: str
    revised_from: str
    rag: Rag
    """The outturn against the annual target in force at the year's end."""
    years: list[tuple[str, float | None]]
    """The outturns of the years before (where any figure exists), oldest first, then this one."""
    since_last_year: Direction
    comments: Comments | None = None

    @property
    def target(self) -> float | None:
        """The annual target the outturn is held to: the revised one if there is one."""
        return self.revised if self.revised is not None else self.original

    @property
    def outturn_quality(self) -> str:
        """The mark the outturn carries from the quarters it is built from (the Q4 figure of a
        measure that takes its latest, else all four): ``estimated`` or ``provisional`` if one
        of them is (``quality_marks.least_sure``), ``""`` otherwise or without an outturn."""
        if self.outturn is None:
            return ""
        used = self.quarters[-1:] if self.outturn_note == Q4_FIGURE else self.quarters
        return least_sure(q.quality for q in used)

    @property
    def marked_quarters(self) -> list[QuarterFigure]:
        """The quarters whose figure is marked provisional or estimated."""
        return [q for q in self.quarters if is_marked(q.quality)]


@dataclass(frozen=True)
class AnnualReport:
    """The annual report of an organisation's financial year."""

    organisation: str
    code: str
    year: str
    generated: datetime
    public: bool
    measures: list[AnnualMeasure]
    themes: dict[str, dict[str, int]]
    withheld: list[str] = field(default_factory=list)
    """Quarters of the year whose figures are not yet approved for publication (public only)."""
    frozen: Frozen | None = None
    """When the Q4 sign-off froze this content, by whom, and its SHA-256 (``None``: a draft,
    gathered live; not part of the frozen content itself)."""

    @property
    def went_well(self) -> list[AnnualMeasure]:
        """Green at the year's end, or better than the year before."""
        return [m for m in self.measures if m.rag.status == "green" or m.since_last_year == "improving"]

    @property
    def reds(self) -> list[AnnualMeasure]:
        """Red at the year's end."""
        return [m for m in self.measures if m.rag.status == "red"]

    @property
    def marked(self) -> list[str]:
        """The figures marked provisional or estimated, as the note names them: ``HOU-01 Q4``."""
        return [f"{m.code} {q.period[-2:]}" for m in self.measures for q in m.marked_quarters]


def annual_in(
    s: Session,
    organisation: str,
    year: str,
    rag_policy: RagPolicy,
    open_data: OpenDataPolicy,
    now: datetime,
    *,
    public: bool = False,
    approved_too: Collection[str] = (),
) -> AnnualReport:
    """The annual report of ``organisation``'s financial ``year`` (``2024-25``) as the database
    holds it now (in ``s``); ``public``: figures approved for publication only (or of the
    quarters ``approved_too``), and no restricted narrative."""
    year = parse_year(year)
    first = Period.parse(f"{year}-Q1")
    years = [Period(first.start_year - back, 1) for back in range(YEARS_BACK, -1, -1)]
    periods = [str(Period(y.start_year, q)) for y in years for q in (1, 2, 3, 4)]
    this_year = periods[-4:]
    policy = rag_policy
    org = find_organisation(s, organisation)
    rows = [(m, service) for m, service in with_service_codes(s, Measure, org.id) if m.publish or not public]
    latest = latest_values(s, [m.id for m, _ in rows], periods)
    cycles = _cycles(s, org.id, periods)
    published_in = open_data.published_in
    approved = {p for p, (_, wf, state) in cycles.items() if state in published_in.get(wf, ())}
    approved |= set(approved_too)
    history = open_data.history_published
    hidden = {p for p in periods if p not in approved and (p in cycles or not history)}
    hidden = hidden if public else set()
    held = year_targets(s, [m for m, _ in rows], year)
    comments = {} if public else _comments(s, [m.id for m, _ in rows], this_year, cycles, latest)
    result: list[AnnualMeasure] = []
    for measure, service in rows:
        polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
        targets = measure_targets(measure)
        figures = {
            p: latest[(measure.id, p)].value for p in periods if (measure.id, p) in latest and p not in hidden
        }
        quarters = []
        for p in this_year:
            period = Period.parse(p)
            forecast = (
                latest[(measure.id, p)].forecast if (measure.id, p) in latest and p not in hidden else None
            )
            status = decide(measure.code, polarity, targets, period, figures, forecast, policy)[2].status
            held_figure = latest.get((measure.id, p)) if p in figures else None
            quality = (held_figure.quality or "") if held_figure and held_figure.value is not None else ""
            quarters.append(
                QuarterFigure(p, figures.get(p), targets.quarter(period), status, p in hidden, quality)
            )
        how = "latest" if measure.frequency == "annual" else measure.aggregation  # reported in Q4 only
        outturns = [(financial_year(y), _outturn(how, y, figures)) for y in years]
        earlier = [
            (name, value) for name, (value, _) in outturns[:-1] if _any_figure(measure.id, name, latest)
        ]
        outturn, note = outturns[-1][1]
        needed = this_year[-1:] if how == "latest" else this_year
        if outturn is None and any(p in hidden for p in needed):  # withheld, not unreported
            note = f"{', '.join(p[-2:] for p in needed if p in hidden)} not published yet"
        year_held = held[measure.id]
        target = year_held.revised if year_held.revised is not None else year_held.original
        tolerance = policy.rule_for(measure.code)[0]
        decided = rag(outturn, target, polarity, tolerance)
        last_year = earlier[-1][1] if earlier and earlier[-1][0] == outturns[-2][0] else None
        result.append(
            AnnualMeasure(
                code=measure.code,
                title=measure.title,
                theme=measure.theme,
                service=service,
                unit=measure.unit,
                fmt=measure.format,
                aggregation=measure.aggregation,
                quarters=quarters,
                outturn=outturn,
                outturn_note=note,
                original=year_held.original,
                revised=year_held.revised,
                revision_reason=year_held.revision_reason,
                revised_from=year_held.revised_from,
                rag=decided,
                years=[*earlier, (year, outturn)],
                since_last_year=direction(outturn, last_year, polarity, policy.no_change_within),
                comments=comments.get(measure.id) if decided.status == "red" else None,
            )
        )
    name = org.name
    themes: dict[str, dict[str, int]] = {}
    for m in result:
        counts = themes.setdefault(m.theme or "Other", dict.fromkeys(get_args(Status), 0))
        counts[m.rag.status] += 1
    return AnnualReport(
        organisation=name,
        code=organisation,
        year=year,
        generated=now,
        public=public,
        measures=result,
        themes=dict(sorted(themes.items())),
        withheld=sorted(p for p in hidden if p in this_year),
    )


def _outturn(aggregation: str, year: Period, figures: Mapping[str, float | None]) -> tuple[float | None, str]:
    """The year's outturn from its quarters' figures, and how it was reached (or why not)."""
    quarters = [str(Period(year.start_year, q)) for q in (1, 2, 3, 4)]
    values = [figures.get(q) for q in quarters]
    if aggregation == "latest":
        last = values[-1]
        return (last, Q4_FIGURE) if last is not None else (None, "Q4 not reported")
    missing = [q[-2:] for q, v in zip(quarters, values, strict=True) if v is None]
    if missing:
        return None, f"{', '.join(missing)} not reported"
    if aggregation == "sum":
        return aggregate([v for v in values if v is not None], "sum"), "sum of Q1-Q4"
    mean = aggregate([v for v in values if v is not None], "mean")
    return round(mean, 2), "mean of Q1-Q4"  # a rate's year: to the hundredth, as people quote it


def _any_figure(measure_id: int, year: str, latest: Mapping[tuple[int, str], Actual]) -> bool:
    return any((measure_id, f"{year}-Q{q}") in latest for q in (1, 2, 3, 4))


def _cycles(s: Session, organisation_id: int, periods: Sequence[str]) -> dict[str, tuple[int, str, str]]:
    """The organisation's cycles of ``periods``: period to (id, workflow, state)."""
    found = s.execute(
        select(Instance.period, Instance.id, WorkflowVersion.name, Instance.state)
        .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
        .where(
            Instance.organisation_id == organisation_id,
            Instance.parent_id.is_(None),
            Instance.period.in_(list(periods)),
        )
        .order_by(Instance.id)
    ).all()
    return {period: (id_, wf, state) for period, id_, wf, state in found}


def _comments(
    s: Session,
    measure_ids: Sequence[int],
    quarters: Sequence[str],
    cycles: Mapping[str, tuple[int, str, str]],
    latest: Mapping[tuple[int, str], Actual],
) -> dict[int, Comments]:
    """Per measure: the narrative of its last reported quarter of the year and the exception
    report of the latest cycle of the year that has one."""
    ids = {cycles[p][0]: p for p in quarters if p in cycles}
    reports: dict[int, ExceptionReport] = {}
    if ids and measure_ids:
        for r in s.scalars(
            select(ExceptionReport).where(
                ExceptionReport.instance_id.in_(list(ids)), ExceptionReport.measure_id.in_(list(measure_ids))
            )
        ):
            assert r.measure_id is not None
            seen = reports.get(r.measure_id)
            if seen is None or ids[r.instance_id] > ids[seen.instance_id]:
                reports[r.measure_id] = r
    found: dict[int, Comments] = {}
    for mid in measure_ids:
        narrative = next(
            (
                latest[(mid, p)].narrative
                for p in reversed(quarters)
                if (mid, p) in latest and latest[(mid, p)].narrative
            ),
            "",
        )
        report = reports.get(mid)
        found[mid] = (
            Comments(narrative, report.reason, report.remedial_action, report.owner, report.recovery_date)
            if report
            else Comments(narrative)
        )
    return found
