"""Performance data: the measures library, reported actuals, RAG status and trend per cycle,
and exception reports, which the shipped cycle requires for every red measure before
Leadership Team sign-off (the ``exception_reports_complete`` guard).

Imports are all or nothing: every bad cell is listed with its row and column, and a file with
any error imports nothing. Every change is recorded in the audit log.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import openpyxl
from openpyxl.styles import Font
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.audit import csv_safe
from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import (
    DataFileError,
    InvalidInput,
    NotFound,
    NotNow,
    PermissionDenied,
    Problem,
)
from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance, Service, Store, roles_held
from pmf_engine.pmf import tabular
from pmf_engine.pmf.models import Actual, ExceptionReport, Measure, Project
from pmf_engine.pmf.rag import Direction, Polarity, Rag, RagPolicy, direction, rag
from pmf_engine.pmf.reporting import (
    cycle_of,
    exception_reports,
    frozen_at,
    may_report,
    org_by_code,
    org_code,
)
from pmf_engine.pmf.targets import Aggregation, Targets, compared, quarters_to_date

COLUMNS = (
    "code", "title", "theme", "priority", "service", "owner", "unit", "format", "polarity",
    "frequency", "data_source", "assurance", "aggregation", "profile",
)  # fmt: skip
TARGET_PREFIX = "target "
"""A quarter's own target: ``target 2024-25-Q1``."""
ANNUAL_PREFIX = "annual target "
"""A financial year's target, spread by the profile: ``annual target 2024-25``."""


class MeasureIn(BaseModel):
    """One row of a measures file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    title: str = Field(min_length=1)
    theme: str = ""
    priority: str = ""
    service: str = ""
    owner: str = ""
    unit: str = ""
    format: Literal["number", "percent", "currency", "days"] = "number"
    polarity: Literal["higher", "lower"]
    frequency: Literal["quarterly", "annual", "monthly"] = "quarterly"
    data_source: str = ""
    assurance: str = ""
    aggregation: Aggregation = "mean"
    profile: list[float] = Field(default=[], description="four quarterly weights, e.g. 10/20/30/40")
    targets: dict[str, float] = {}
    annual_targets: dict[str, float] = {}

    @field_validator("profile", mode="before")
    @classmethod
    def _split_profile(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split("/")] if value.strip() else []
        return value

    @field_validator("profile")
    @classmethod
    def _four_weights(cls, value: list[float]) -> list[float]:
        if value and (len(value) != 4 or any(w < 0 for w in value) or sum(value) <= 0):
            raise ValueError("a profile is four weights that are not negative, like 10/20/30/40")
        return value


class ActualIn(NamedTuple):
    """One reported figure: the quarter's actual, the narrative, and (optionally) the service's
    forecast of the year-end outturn."""

    code: str
    value: float | None
    narrative: str = ""
    forecast: float | None = None


class HistoryRow(NamedTuple):
    """One earlier quarter's figure from a history file, with the line it is on."""

    line: int
    code: str
    period: str
    value: float | None
    narrative: str


@dataclass(frozen=True)
class MeasureStatus:
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


def _known_column(name: str) -> bool:
    return name in COLUMNS or name.startswith((TARGET_PREFIX, ANNUAL_PREFIX))


def read_measures(path: Path) -> list[MeasureIn]:
    """Measures from CSV or Excel (``.xlsx``, first sheet): columns ``COLUMNS`` plus
    ``target 2024-25-Q1`` and ``annual target 2024-25`` etc."""
    table = tabular.read_table(path, ("code", "title", "polarity"), known=_known_column, excel=True)
    rows: list[MeasureIn] = []
    for row in table.rows:
        targets: dict[str, float] = {}
        annual: dict[str, float] = {}
        for name, cell in row.cells.items():
            if not name or not cell.strip():
                continue
            try:
                if name.startswith(TARGET_PREFIX):
                    period = str(Period.parse(name.removeprefix(TARGET_PREFIX)))
                    targets[period] = float(cell)
                elif name.startswith(ANNUAL_PREFIX):
                    year = name.removeprefix(ANNUAL_PREFIX).strip()
                    Period.parse(f"{year}-Q1")
                    annual[year] = float(cell)
            except ValueError as exc:
                table.problem(row.line, name, f"{cell!r}: {exc}")
        given: dict[str, Any] = {k: v for k, v in row.cells.items() if k in COLUMNS and v != ""}
        try:
            rows.append(MeasureIn(**given, targets=targets, annual_targets=annual))
        except ValidationError as exc:
            table.invalid(row.line, exc)
    codes = [r.code for r in rows]
    table.problems += [
        Problem(table.file, None, "code", f"{c!r} appears twice")
        for c in sorted({c for c in codes if codes.count(c) > 1})
    ]
    return table.done(rows)


def read_actuals(path: Path) -> list[ActualIn]:
    """Actuals from CSV (columns ``code,value[,narrative][,forecast]``; an empty value is "not
    reported")."""
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
            rows.append(
                (row.line, ActualIn(code, numbers["value"], row.get("narrative"), numbers["forecast"]))
            )
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


class Performance:
    """The measures library, actuals, RAG status and exception reports of an engine's store."""

    def __init__(self, store: Store, clock: Clock, rag: RagPolicy) -> None:
        self.store = store
        self.clock = clock
        self.rag = rag

    # -- the measures library -------------------------------------------------------------

    def import_measures(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or update the measures in ``path``; return (added, updated)."""
        rows = read_measures(path)
        added = updated = 0
        with self.store.write() as s:
            org = org_by_code(s, organisation)
            services = dict(
                s.execute(select(Service.code, Service.id).where(Service.organisation_id == org.id)).all()
            )
            unknown = sorted({r.service for r in rows if r.service and r.service not in services})
            if unknown:
                raise DataFileError(
                    [Problem(str(path), None, "service", f"unknown service(s): {', '.join(unknown)}")]
                )
            for row in rows:
                fields = row.model_dump(exclude={"service"})
                fields["service_id"] = services.get(row.service) if row.service else None
                measure = s.scalar(
                    select(Measure).where(Measure.organisation_id == org.id, Measure.code == row.code)
                )
                if measure is None:
                    s.add(Measure(organisation_id=org.id, **fields))
                    added += 1
                else:
                    for key, value in fields.items():
                        setattr(measure, key, value)
                    updated += 1
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="measures.imported",
                    organisation=organisation,
                    actor=by,
                    data={"file": path.name, "added": added, "updated": updated},
                ),
                self.clock.now(),
            )
        return added, updated

    def measures(self, organisation: str) -> list[tuple[Measure, str | None]]:
        with self.store.read() as s:
            org = org_by_code(s, organisation)
            return [
                (m, code)
                for m, code in s.execute(
                    select(Measure, Service.code)
                    .outerjoin(Service, Service.id == Measure.service_id)
                    .where(Measure.organisation_id == org.id)
                    .order_by(Measure.code)
                ).all()
            ]

    def export_measures(self, organisation: str, out: IO[str]) -> int:
        """Write the library as CSV (re-importable; cells escaped against formula injection)."""
        rows = self._export_rows(organisation)
        csv.writer(out, lineterminator="\n").writerows(rows)
        return len(rows) - 1

    def export_measures_xlsx(self, organisation: str, path: Path) -> int:
        """Write the library as an Excel workbook with the same columns (re-importable)."""
        rows = self._export_rows(organisation)
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Measures"
        for row in rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        book.save(path)
        return len(rows) - 1

    def _export_rows(self, organisation: str) -> list[list[Any]]:
        found = self.measures(organisation)
        periods = sorted({p for m, _ in found for p in m.targets})
        years = sorted({y for m, _ in found for y in m.annual_targets})
        header = [*COLUMNS, *(TARGET_PREFIX + p for p in periods), *(ANNUAL_PREFIX + y for y in years)]
        rows: list[list[Any]] = [header]
        for m, service in found:
            rows.append(
                [csv_safe(v) for v in _measure_cells(m, service)]
                + [m.targets.get(p, "") for p in periods]
                + [m.annual_targets.get(y, "") for y in years]
            )
        return rows

    # -- actuals, status, exception reports -----------------------------------------------

    def record_actual(
        self,
        cycle: str,
        code: str,
        value: float | None,
        *,
        narrative: str = "",
        forecast: float | None = None,
        by: str,
    ) -> None:
        """Record a measure's actual for the cycle's period, as that service's manager or a
        performance officer, while the service's return is open (requested or returned)."""
        self.record_actuals(cycle, [ActualIn(code, value, narrative, forecast)], by=by)

    def record_actuals(self, cycle: str, rows: Sequence[ActualIn], *, by: str) -> None:
        """Record several actuals in one transaction: all of them, or none."""
        with self.store.write() as s:
            self.record_in(s, cycle, rows, by=by)

    def record_in(self, s: Session, cycle: str, rows: Sequence[ActualIn], *, by: str) -> None:
        """``record_actuals`` inside the caller's transaction."""
        now = self.clock.now()
        for row in rows:
            inst, measure, service = self._cycle_measure(s, cycle, row.code)
            self._check_reporter(s, cycle, inst, measure, service, by)
            if frozen_at(s, inst.id) is not None:
                raise NotNow(
                    f"the {cycle} report was frozen at Leadership Team sign-off: correct "
                    f"{row.code} with a restatement (pmf actuals restate) and a reason"
                )
            if service is not None:
                state = s.scalar(select(Instance.state).where(Instance.key == f"{cycle}/{service}"))
                if state not in ("requested", "returned", None):
                    raise NotNow(f"the {service} return is {state}: actuals can change only while it is open")
            self._add_actual(s, inst, measure, row, by, now)

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
        if not reason.strip():
            raise InvalidInput("reason", None, "a restatement needs a reason")
        with self.store.write() as s:
            inst, measure, service = self._cycle_measure(s, cycle, code)
            self._check_reporter(s, cycle, inst, measure, service, by)
            if frozen_at(s, inst.id) is None:
                raise NotNow(f"the {cycle} report is not frozen yet: record the actual instead")
            previous = _latest_values(s, [measure.id], [inst.period]).get((measure.id, inst.period))
            self._add_actual(
                s,
                inst,
                measure,
                ActualIn(code, value, narrative, forecast),
                by,
                self.clock.now(),
                restatement=(reason, previous.value if previous else None),
            )

    def _check_reporter(
        self, s: Session, cycle: str, inst: Instance, measure: Measure, service: str | None, by: str
    ) -> None:
        if not may_report(s, by, inst.organisation_id, measure.service_id):
            raise PermissionDenied(cycle, "record_actual", "-", by, f"{by!r} may not report {measure.code}")

    def _add_actual(
        self,
        s: Session,
        inst: Instance,
        measure: Measure,
        row: ActualIn,
        by: str,
        now: datetime,
        restatement: tuple[str, float | None] | None = None,
    ) -> None:
        s.add(
            Actual(
                measure_id=measure.id,
                period=inst.period,
                value=row.value,
                narrative=row.narrative,
                forecast=row.forecast,
                restatement_reason=restatement[0] if restatement else None,
                reported_by=by,
                reported_at=now,
            )
        )
        s.flush()
        data: dict[str, Any] = {
            "measure": row.code,
            "period": inst.period,
            "value": row.value,
            "narrative": row.narrative,
        }
        if row.forecast is not None:
            data["forecast"] = row.forecast
        if restatement:
            data |= {"reason": restatement[0], "previous_value": restatement[1]}
        audit.append(
            s,
            audit.AuditRecord(
                event="actual.restated" if restatement else "actual.recorded",
                organisation=org_code(s, inst.organisation_id),
                instance=inst.key,
                actor=by,
                data=data,
            ),
            now,
        )

    def import_actuals(self, cycle: str, path: Path, *, by: str) -> int:
        """Record every actual in a CSV file in one transaction (every problem listed first)."""
        lines = _actual_lines(path)
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            known = set(
                s.scalars(select(Measure.code).where(Measure.organisation_id == inst.organisation_id))
            )
        unknown = [
            Problem(str(path), line, "code", f"unknown measure code {row.code!r}")
            for line, row in lines
            if row.code not in known
        ]
        if unknown:
            raise DataFileError(unknown)
        self.record_actuals(cycle, [row for _, row in lines], by=by)
        return len(lines)

    def import_history(self, organisation: str, path: Path, *, by: str) -> int:
        """Load earlier quarters' actuals (CSV ``code,period,value[,narrative]``) when adopting
        pmf-engine: a performance officer's job, for quarters with no cycle; all or nothing,
        recorded in the audit log with the file's SHA-256."""
        rows, problems = read_history(path)
        with self.store.write() as s:
            org = org_by_code(s, organisation)
            if ("performance_officer", None) not in roles_held(s, by, org.id):
                raise PermissionDenied(organisation, "import_history", "-", by, "needs performance_officer")
            ids = dict(
                s.execute(select(Measure.code, Measure.id).where(Measure.organisation_id == org.id)).all()
            )
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
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="actuals.history_imported",
                    organisation=organisation,
                    actor=by,
                    data={
                        "file": path.name,
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "rows": len(rows),
                        "periods": sorted({r.period for r in rows}),
                    },
                ),
                now,
            )
        return len(rows)

    def status(self, cycle: str) -> list[MeasureStatus]:
        """Every measure of the cycle's organisation with its RAG, rule and trend."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            return self._status(s, inst)

    def _status(self, s: Session, inst: Instance) -> list[MeasureStatus]:
        return measure_statuses(s, inst, self.rag)

    def add_exception_report(
        self,
        cycle: str,
        code: str,
        *,
        reason: str,
        remedial_action: str,
        owner: str,
        recovery_date: str,
        by: str,
        project: bool = False,
    ) -> None:
        """Add (or replace) the exception report of a measure (or, with ``project``, a project)."""
        try:
            date.fromisoformat(recovery_date)
        except ValueError:
            raise InvalidInput("recovery_date", recovery_date, "not a date like 2024-12-31") from None
        if not all(x.strip() for x in (reason, remedial_action, owner)):
            raise InvalidInput(
                "reason", None, "an exception report needs a reason, a remedial action and an owner"
            )
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            subject = _subject(s, inst, code, project)
            if not may_report(s, by, inst.organisation_id, subject.service_id):
                raise PermissionDenied(cycle, "exception_report", "-", by, f"{by!r} may not report on {code}")
            if frozen_at(s, inst.id) is not None:
                raise NotNow(f"the {cycle} report was frozen at Leadership Team sign-off")
            column = ExceptionReport.project_id if project else ExceptionReport.measure_id
            existing = s.scalar(
                select(ExceptionReport).where(ExceptionReport.instance_id == inst.id, column == subject.id)
            )
            fields = {
                "reason": reason,
                "remedial_action": remedial_action,
                "owner": owner,
                "recovery_date": recovery_date,
            }
            if existing is None:
                s.add(
                    ExceptionReport(
                        instance_id=inst.id,
                        measure_id=None if project else subject.id,
                        project_id=subject.id if project else None,
                        created_by=by,
                        created_at=self.clock.now(),
                        **fields,
                    )
                )
            else:
                for key, value in fields.items():
                    setattr(existing, key, value)
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="exception.reported",
                    organisation=org_code(s, inst.organisation_id),
                    instance=cycle,
                    actor=by,
                    data={"project" if project else "measure": code, **fields},
                ),
                self.clock.now(),
            )

    def exception_reports(self, cycle: str) -> list[tuple[str, ExceptionReport]]:
        """The cycle's exception reports: measures by code, then projects as ``project CODE``."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            return exception_reports(s, inst.id)

    # -- helpers --------------------------------------------------------------------------

    def _cycle_measure(self, s: Session, cycle: str, code: str) -> tuple[Instance, Measure, str | None]:
        inst = cycle_of(s, cycle)
        measure = s.scalar(
            select(Measure).where(Measure.organisation_id == inst.organisation_id, Measure.code == code)
        )
        if measure is None:
            raise NotFound("measure", code)
        service = (
            s.scalar(select(Service.code).where(Service.id == measure.service_id))
            if measure.service_id
            else None
        )
        return inst, measure, service


def _subject(s: Session, inst: Instance, code: str, project: bool) -> Measure | Project:
    found: Measure | Project | None
    if project:
        found = s.scalar(
            select(Project).where(Project.organisation_id == inst.organisation_id, Project.code == code)
        )
    else:
        found = s.scalar(
            select(Measure).where(Measure.organisation_id == inst.organisation_id, Measure.code == code)
        )
    if found is None:
        raise NotFound("project" if project else "measure", code)
    return found


def _latest_values(
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


def measure_targets(measure: Measure) -> Targets:
    aggregation: Aggregation = (
        "sum" if measure.aggregation == "sum" else ("latest" if measure.aggregation == "latest" else "mean")
    )
    return Targets(measure.targets, measure.annual_targets, measure.profile, aggregation)


def _measure_cells(m: Measure, service: str | None) -> list[Any]:
    cells: list[Any] = []
    for column in COLUMNS:
        if column == "service":
            cells.append(service or "")
        elif column == "profile":
            cells.append("/".join(f"{w:g}" for w in m.profile))
        else:
            cells.append(getattr(m, column))
    return cells


def measure_statuses(s: Session, inst: Instance, policy: RagPolicy) -> list[MeasureStatus]:
    """Every measure of the cycle's organisation with its RAG under ``policy``, rule and trend."""
    period = Period.parse(inst.period)
    last_quarter, last_year = str(period.previous()), str(Period(period.start_year - 1, period.quarter))
    wanted = sorted({last_quarter, last_year, *(str(q) for q in quarters_to_date(period))})
    rows = s.execute(
        select(Measure, Service.code)
        .outerjoin(Service, Service.id == Measure.service_id)
        .where(Measure.organisation_id == inst.organisation_id)
        .order_by(Measure.code)
    ).all()
    reported = set(
        s.scalars(select(ExceptionReport.measure_id).where(ExceptionReport.instance_id == inst.id))
    )
    latest = _latest_values(s, [m.id for m, _ in rows], wanted)
    result = []
    for measure, service in rows:
        values = {p: a.value for (mid, p), a in latest.items() if mid == measure.id}
        now = latest.get((measure.id, inst.period))
        value = now.value if now else None
        tolerance, basis = policy.rule_for(measure.code)
        polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
        targets = measure_targets(measure)
        basis_value = compared(basis, period, targets, values, now.forecast if now else None)
        decided = rag(basis_value.value, basis_value.target, polarity, tolerance)
        if basis != "period":
            decided = Rag(decided.status, f"{basis_value.basis_note}: {decided.rule}")
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
            )
        )
    return result
