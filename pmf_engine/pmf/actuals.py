"""Reported actuals: a measure's figure for a cycle's quarter, with its narrative and forecast.

A role of ``reporting`` in ``policies/framework.yaml`` records figures while the service's
return is in one of its ``open_states``; every submission is kept, and the newest counts. Once
the cycle's report is frozen a figure changes only by a restatement with a reason. Earlier
quarters' figures can be loaded from CSV when adopting pmf-engine. Imports are all or nothing,
and every change is recorded in the audit log. Every figure, whichever way it comes, is held to
the data rules of ``rules`` (its measure's range, finite, a count whole) before anything is
written; with no figure, a service may give the reason it is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.errors import DataFileError, InvalidInput, NotFound, NotNow, PermissionDenied, Problem
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem
from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance, Service, WorkflowVersion, find_organisation, roles_held
from pmf_engine.pmf import rules, tabular
from pmf_engine.pmf.models import QUALITY_FLAGS, Actual, Measure
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.reporting import (
    StoreService,
    audit_cycle,
    audit_organisation,
    by_code,
    closed_return,
    cycle_of,
    frozen_at,
    frozen_stage_of,
    may_report,
)


class ActualIn(NamedTuple):
    """One reported figure: the quarter's actual, the narrative, (optionally) the service's
    forecast of the year-end outturn, and, with no actual, the reason it is missing."""

    code: str
    value: float | None
    narrative: str = ""
    forecast: float | None = None
    missing_reason: str = ""
    quality: str = ""
    """A ``QualityFlag`` (validated, estimated, provisional), or ``""`` where not said."""


def quality_problems(row: ActualIn) -> list[tuple[str, str]]:
    """The problem of ``row``'s quality flag as ``(field, message)``: one of ``QUALITY_FLAGS``,
    and only beside a figure."""
    flag = row.quality.strip().lower()
    if not flag:
        return []
    if flag not in QUALITY_FLAGS:
        return [("quality", f"{row.quality!r} is not a quality flag: use {', '.join(QUALITY_FLAGS)}")]
    if row.value is None:
        return [("quality", "a quality flag goes with a figure: there is none")]
    return []


class HistoryRow(NamedTuple):
    """One earlier quarter's figure from a history file, with the line it is on."""

    line: int
    code: str
    period: str
    value: float | None
    narrative: str


def read_actuals(path: Path) -> list[ActualIn]:
    """Actuals from CSV (columns ``code,value[,narrative][,forecast][,missing_reason][,quality]``;
    an empty value is "not reported", and ``missing_reason`` says why)."""
    return [actual for _, actual in _actual_lines(path)]


def _actual_lines(path: Path) -> list[tuple[int, ActualIn]]:
    table = tabular.read_table(path, ("code", "value"))
    rows: list[tuple[int, ActualIn]] = []
    for row in table.rows:
        code = row.get("code")
        if not code:
            table.problem(row.line, "code", "missing measure code")
            continue
        numbers: dict[str, float | None] = {}
        for column in ("value", "forecast"):
            cell = row.get(column)
            if cell.startswith(("=", "+", "@")):
                table.problem(row.line, column, "formulas are not accepted")
                continue
            try:
                numbers[column] = tabular.number(cell)
            except ValueError as exc:
                table.problem(row.line, column, str(exc))
        if len(numbers) == 2:
            actual = ActualIn(
                code,
                numbers["value"],
                row.get("narrative"),
                numbers["forecast"],
                row.get("missing_reason"),
                row.get("quality").lower(),
            )
            rows.append((row.line, actual))
    return table.done(rows)


def read_history(path: Path) -> tuple[list[HistoryRow], list[Problem]]:
    """Earlier quarters' actuals from CSV (``code,period,value[,narrative]``), with the problems
    found in them (the caller adds what the store shows, then raises them together)."""
    table = tabular.read_table(path, ("code", "period", "value"))
    rows: list[HistoryRow] = []
    for row in table.rows:
        try:
            period = str(Period.parse(row.cells["period"]))
        except ValueError as exc:
            table.problem(row.line, "period", str(exc))
            continue
        try:
            value = tabular.number(row.get("value"))
        except ValueError as exc:
            table.problem(row.line, "value", str(exc))
            continue
        rows.append(HistoryRow(row.line, row.get("code"), period, value, row.get("narrative")))
    return rows, table.problems


def latest_values(
    s: Session, measure_ids: Sequence[int], periods: Sequence[str]
) -> dict[tuple[int, str], Actual]:
    """The newest submission per (measure, period), in one query; older ones stay as history."""
    found: dict[tuple[int, str], Actual] = {}
    if not measure_ids:
        return found
    for actual in s.scalars(
        select(Actual)
        .where(Actual.measure_id.in_(list(measure_ids)), Actual.period.in_(list(periods)))
        .order_by(Actual.id)
    ):
        found[(actual.measure_id, actual.period)] = actual
    return found


class Actuals(StoreService):
    """Recording, restating and importing the figures of an organisation's measures."""

    def record_actual(
        self,
        cycle: str,
        code: str,
        value: float | None,
        *,
        narrative: str = "",
        forecast: float | None = None,
        missing_reason: str = "",
        quality: str = "",
        by: str,
    ) -> None:
        """Record a measure's actual (or, with ``value`` ``None``, why it is missing) for the
        cycle's period, as a role that reports it (``reporting``), while the service's return
        is open (``reporting.open_states``)."""
        self.record_actuals(
            cycle, [ActualIn(code, value, narrative, forecast, missing_reason, quality)], by=by
        )

    def record_actuals(self, cycle: str, rows: Sequence[ActualIn], *, by: str) -> None:
        """Record several actuals in one transaction: all of them, or none."""
        with self.store.write() as s:
            self.record_in(s, cycle, rows, by=by)

    def record_in(self, s: Session, cycle: str, rows: Sequence[ActualIn], *, by: str) -> None:
        """``record_actuals`` inside the caller's transaction: every row is checked against
        the data rules (``rules``) before any is written; ``InvalidFigures`` lists them all."""
        now = self.clock.now()
        found = [(row, *self._cycle_measure(s, cycle, row.code, by)) for row in rows]
        refused = [
            rules.FigureProblem(row.code, field, message)
            for row, _, measure, _ in found
            for field, message in [
                *rules.figure_problems(
                    bounds_of(measure), row.value, row.forecast, row.narrative, row.missing_reason
                ),
                *quality_problems(row),
            ]
        ]
        if refused:
            raise rules.InvalidFigures(refused)
        for row, inst, measure, service in found:
            quarter_of(inst)  # figures are a quarter's: a planning round or a monthly cycle has none
            if frozen_at(s, inst.id) is not None:
                raise NotNow(
                    f"the {cycle} report was frozen at {frozen_stage_of(s, inst, self.versions)}: correct "
                    f"{row.code} with a restatement (pmf actuals restate) and a reason"
                )
            closed = closed_return(s, self.reporting, inst, measure.service_id) if service else None
            if closed is not None:
                raise NotNow(f"{closed}: actuals can change only while it is open")
            _add_actual(s, inst, measure, _stored(row), by, now)

    def is_open(self, key: str) -> bool:
        """Whether the figures of return ``key`` (``ORG/PERIOD/SERVICE``) may change now: its
        state is one of ``open_states`` and the cycle's report is not frozen."""
        with self.store.read() as s:
            found = s.execute(
                select(Instance.parent_id, Instance.service_id).where(Instance.key == key)
            ).one_or_none()
            if found is None or found.service_id is None or found.parent_id is None:
                return False
            state = self._return_state(s, key)
            return (
                state is not None and self.reporting.is_open(*state) and frozen_at(s, found.parent_id) is None
            )

    @staticmethod
    def _return_state(s: Session, key: str) -> tuple[str, str] | None:
        """The workflow and state of return ``key``, if there is one."""
        found = s.execute(
            select(WorkflowVersion.name, Instance.state)
            .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
            .where(Instance.key == key)
        ).one_or_none()
        return (found[0], found[1]) if found else None

    def restate(
        self,
        cycle: str,
        code: str,
        value: float | None,
        *,
        reason: str,
        narrative: str = "",
        forecast: float | None = None,
        by: str,
    ) -> None:
        """Correct a figure already in a frozen report. The original stays in history and in
        the frozen report; the next report lists the restatement with its reason."""
        reason = checks.check_text("reason", reason) or ""
        if not reason.strip():
            raise InvalidInput("reason", None, "a restatement needs a reason")
        with self.store.write() as s:
            inst, measure, _ = self._cycle_measure(s, cycle, code, by)
            row = ActualIn(code, value, narrative, forecast)
            refused = rules.figure_problems(bounds_of(measure), value, forecast, narrative)
            if refused:
                raise rules.InvalidFigures([rules.FigureProblem(code, f, m) for f, m in refused])
            if frozen_at(s, inst.id) is None:
                raise NotNow(f"the {cycle} report is not frozen yet: record the actual instead")
            previous = latest_values(s, [measure.id], [inst.period]).get((measure.id, inst.period))
            _add_actual(
                s,
                inst,
                measure,
                _stored(row),
                by,
                self.clock.now(),
                restatement=(reason, previous.value if previous else None),
            )

    def import_actuals(self, cycle: str, path: Path, *, by: str) -> int:
        """Record every actual in a CSV file in one transaction (every problem listed first,
        with its line and column: unknown codes and figures breaking the data rules)."""
        lines = _actual_lines(path)
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            known = {
                m.code: bounds_of(m)
                for m in s.scalars(select(Measure).where(Measure.organisation_id == inst.organisation_id))
            }
        problems: list[Problem] = []
        for line, row in lines:
            if row.code not in known:
                problems.append(Problem(str(path), line, "code", f"unknown measure code {row.code!r}"))
                continue
            problems += [
                Problem(str(path), line, CSV_COLUMN.get(field, field), f"{row.code}: {message}")
                for field, message in [
                    *rules.figure_problems(
                        known[row.code], row.value, row.forecast, row.narrative, row.missing_reason
                    ),
                    *quality_problems(row),
                ]
            ]
        if problems:
            raise DataFileError(problems)
        self.record_actuals(cycle, [row for _, row in lines], by=by)
        return len(lines)

    def import_history(self, organisation: str, path: Path, *, by: str) -> int:
        """Load earlier quarters' actuals (CSV ``code,period,value[,narrative]``) when adopting
        pmf-engine: the job of a role of ``reporting.any_service``, for quarters with no cycle;
        all or nothing, recorded in the audit log with the file's SHA-256."""
        rows, problems = read_history(path)
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            held = roles_held(s, by, org.id)
            if not any((role, None) in held for role in self.reporting.any_service):
                needs = " or ".join(self.reporting.any_service) or "a role of reporting.any_service"
                raise PermissionDenied(organisation, "import_history", "-", by, f"needs {needs}")
            found = {m.code: m for m in s.scalars(select(Measure).where(Measure.organisation_id == org.id))}
            ids = {code: m.id for code, m in found.items()}
            cycles = set(
                s.scalars(
                    select(Instance.period).where(
                        Instance.organisation_id == org.id, Instance.parent_id.is_(None)
                    )
                )
            )
            for row in rows:
                if row.code not in ids:
                    problems.append(
                        Problem(str(path), row.line, "code", f"unknown measure code {row.code!r}")
                    )
                elif row.value is not None and (why := bounds_of(found[row.code]).problem(row.value)):
                    problems.append(Problem(str(path), row.line, "value", f"{row.code}: {why}"))
                if row.period in cycles:
                    message = f"{row.period} has a cycle: record or restate it there"
                    problems.append(Problem(str(path), row.line, "period", message))
            if problems:
                raise DataFileError(sorted(problems, key=lambda p: p.line or 0))
            now = self.clock.now()
            s.add_all(
                Actual(measure_id=ids[r.code], period=r.period, value=r.value, narrative=r.narrative,
                       reported_by=by, reported_at=now)
                for r in rows
            )  # fmt: skip
            data = {
                "file": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "rows": len(rows),
                "periods": sorted({r.period for r in rows}),
            }
            audit_organisation(s, organisation, "actuals.history_imported", by, data, now)
        return len(rows)

    def _cycle_measure(
        self, s: Session, cycle: str, code: str, by: str
    ) -> tuple[Instance, Measure, str | None]:
        """The cycle, the measure ``code`` and its service's code, if ``by`` may report it."""
        inst = cycle_of(s, cycle)
        measure = by_code(s, Measure, inst.organisation_id, code)
        if measure is None:
            raise NotFound("measure", code)
        service = (
            s.scalar(select(Service.code).where(Service.id == measure.service_id))
            if measure.service_id
            else None
        )
        if not may_report(s, self.reporting, by, inst.organisation_id, measure.service_id):
            raise PermissionDenied(cycle, "record_actual", "-", by, f"{by!r} may not report {measure.code}")
        return inst, measure, service


CSV_COLUMN = {"actual": "value"}
"""The column of a CSV file of actuals that holds each field of ``rules`` (others are named alike)."""


def bounds_of(measure: Measure) -> rules.Bounds:
    """The range of ``measure``'s figures: its own, or its format's."""
    return rules.bounds(measure.format, measure.minimum, measure.maximum)


def _stored(row: ActualIn) -> ActualIn:
    """``row`` as it is stored, once ``rules.figure_problems`` found nothing in it: numbers as
    floats, CRLF read as newlines, no missing reason beside a figure."""
    missing = (checks.check_text(f"{row.code} missing reason", row.missing_reason) or "").strip()
    return row._replace(
        value=checks.check_number(f"{row.code} value", row.value),
        forecast=checks.check_number(f"{row.code} forecast", row.forecast),
        narrative=checks.check_text(f"{row.code} narrative", row.narrative) or "",
        missing_reason=missing if row.value is None else "",
        quality=row.quality.strip().lower() if row.value is not None else "",
    )


def _add_actual(
    s: Session,
    inst: Instance,
    measure: Measure,
    row: ActualIn,
    by: str,
    now: datetime,
    restatement: tuple[str, float | None] | None = None,
) -> None:
    too_long = text_problem(f"the narrative of {measure.code}", row.narrative, MAX_NARRATIVE)
    if too_long is not None:  # every path: CLI, CSV, Excel return, web
        raise InvalidInput("narrative", measure.code, too_long)
    s.add(
        Actual(
            measure_id=measure.id,
            period=inst.period,
            value=row.value,
            narrative=row.narrative,
            forecast=row.forecast,
            missing_reason=row.missing_reason or None,
            quality=row.quality or None,
            restatement_reason=restatement[0] if restatement else None,
            reported_by=by,
            reported_at=now,
        )
    )
    data: dict[str, Any] = {
        "measure": row.code,
        "period": inst.period,
        "value": row.value,
        "narrative": row.narrative,
    }
    if row.forecast is not None:
        data["forecast"] = row.forecast
    if row.missing_reason:
        data["missing_reason"] = row.missing_reason
    if row.quality:
        data["quality"] = row.quality
    if restatement:
        data |= {"reason": restatement[0], "previous_value": restatement[1]}
    audit_cycle(s, inst, "actual.restated" if restatement else "actual.recorded", by, data, now)
