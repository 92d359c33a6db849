"""Each measure's status in a cycle: its RAG under the policy's rule and basis, the rule in
words, and its direction of travel since the last quarter and the same quarter last year."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance
from pmf_engine.pmf.actuals import latest_values
from pmf_engine.pmf.measures import measure_targets
from pmf_engine.pmf.models import ExceptionReport, Measure
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.rag import Basis, Direction, Polarity, Rag, RagPolicy, direction, rag
from pmf_engine.pmf.reporting import with_service_codes
from pmf_engine.pmf.targets import Compared, Targets, compared, quarters_to_date


@dataclass(frozen=True)
class MeasureStatus:
    """A measure in a cycle: its figures, RAG, trend, narrative and exception report."""

    code: str
    title: str
    theme: str
    service: str | None
    actual: float | None
    """The quarter's own figure."""
    target: float | None
    """The quarter's target."""
    rag: Rag
    """Decided on ``basis``: ``compared`` against ``compared_target``."""
    basis: str
    compared: float | None
    compared_target: float | None
    forecast: float | None
    unit: str
    fmt: str
    since_last_quarter: Direction
    since_last_year: Direction
    narrative: str
    exception_report: bool
    restated: bool = False
    """The figure was corrected after an earlier report was frozen."""
    missing_reason: str = ""
    """Why the service has no figure this quarter, when it gave one."""
    quality: str = ""
    """The figure's quality flag (validated, estimated, provisional), ``""`` where not said."""


def decide(
    code: str,
    polarity: Polarity,
    targets: Targets,
    period: Period,
    values: Mapping[str, float | None],
    forecast: float | None,
    policy: RagPolicy,
) -> tuple[Basis, Compared, Rag]:
    """A measure's RAG for ``period`` under ``policy``'s rule and basis for ``code``, from its
    actuals by period and its forecast: what the page, the report and the submit guard show."""
    tolerance, basis = policy.rule_for(code)
    basis_value = compared(basis, period, targets, values, forecast)
    decided = rag(basis_value.value, basis_value.target, polarity, tolerance)
    if basis != "period":
        decided = Rag(decided.status, f"{basis_value.basis_note}: {decided.rule}")
    return basis, basis_value, decided


def periods_wanted(period: Period) -> list[str]:
    """The periods a measure's status for ``period`` reads: the year to date, the last quarter
    and the same quarter last year."""
    last_quarter, last_year = period.previous(), Period(period.start_year - 1, period.quarter)
    return sorted({str(last_quarter), str(last_year), *(str(q) for q in quarters_to_date(period))})


def measure_statuses(s: Session, inst: Instance, policy: RagPolicy) -> list[MeasureStatus]:
    """Every measure of the cycle's organisation with its RAG under ``policy``, rule and trend."""
    period = quarter_of(inst)
    last_quarter, last_year = str(period.previous()), str(Period(period.start_year - 1, period.quarter))
    wanted = periods_wanted(period)
    rows = with_service_codes(s, Measure, inst.organisation_id)
    reported = set(
        s.scalars(select(ExceptionReport.measure_id).where(ExceptionReport.instance_id == inst.id))
    )
    latest = latest_values(s, [m.id for m, _ in rows], wanted)
    by_measure: dict[int, dict[str, float | None]] = {}
    for (mid, p), a in latest.items():  # grouped once: not every measure scanning every figure
        by_measure.setdefault(mid, {})[p] = a.value
    result = []
    for measure, service in rows:
        values = by_measure.get(measure.id, {})
        now = latest.get((measure.id, inst.period))
        value = now.value if now else None
        polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
        targets = measure_targets(measure)
        basis, basis_value, decided = decide(
            measure.code, polarity, targets, period, values, now.forecast if now else None, policy
        )
        result.append(
            MeasureStatus(
                code=measure.code,
                title=measure.title,
                theme=measure.theme,
                service=service,
                actual=value,
                target=targets.quarter(period),
                rag=decided,
                basis=basis,
                compared=basis_value.value,
                compared_target=basis_value.target,
                forecast=now.forecast if now else None,
                unit=measure.unit,
                fmt=measure.format,
                since_last_quarter=direction(
                    value, values.get(last_quarter), polarity, policy.no_change_within
                ),
                since_last_year=direction(value, values.get(last_year), polarity, policy.no_change_within),
                narrative=now.narrative if now else "",
                exception_report=measure.id in reported,
                restated=bool(now and now.restatement_reason),
                missing_reason=(now.missing_reason or "") if now and now.value is None else "",
                quality=(now.quality or "") if now and now.value is not None else "",
            )
        )
    return result
