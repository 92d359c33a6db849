"""Performance data: the measures library, reported actuals, RAG status and trend per cycle,
and exception reports, which the shipped cycle requires for every red measure before
Leadership Team sign-off (the ``exception_reports_complete`` guard).

Imports are all or nothing: every bad cell is listed with its row and column, and a file with
any error imports nothing. Every change is recorded in the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine import audit
from pmf_engine.audit import csv_safe
from pmf_engine.engine import Engine
from pmf_engine.errors import DefinitionError, NotFound, PermissionDenied, PmfError, Problem
from pmf_engine.period import Period
from pmf_engine.rag import Direction, Polarity, Rag, direction, rag
from pmf_engine.store import (
    Actual,
    ExceptionReport,
    Instance,
    Measure,
    Organisation,
    Service,
    find_organisation,
)

COLUMNS = (
    "code", "title", "theme", "priority", "service", "owner", "unit", "format", "polarity",
    "frequency", "data_source", "assurance",
)  # fmt: skip
TARGET_PREFIX = "target "


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
    targets: dict[str, float] = {}


@dataclass(frozen=True)
class MeasureStatus:
    code: str
    title: str
    theme: str
    service: str | None
    actual: float | None
    target: float | None
    rag: Rag
    since_last_quarter: Direction
    since_last_year: Direction
    narrative: str
    exception_report: bool


def read_measures(path: Path) -> list[MeasureIn]:
    """Measures from CSV: columns ``COLUMNS`` plus ``target 2024-25-Q1`` etc."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    rows: list[MeasureIn] = []
    try:
        header = reader.fieldnames or []
        missing = {"code", "title", "polarity"} - set(header)
        if missing:
            raise DefinitionError(
                [Problem(str(path), 1, "header", f"missing column(s): {', '.join(sorted(missing))}")]
            )
        for name in header:
            if name not in COLUMNS and not name.startswith(TARGET_PREFIX):
                problems.append(Problem(str(path), 1, name, "unknown column"))
        for line, raw in enumerate(reader, start=2):
            values: dict[str, Any] = {k: (v or "") for k, v in raw.items() if k in COLUMNS}
            targets: dict[str, float] = {}
            for name, cell in raw.items():
                if name and name.startswith(TARGET_PREFIX) and cell and cell.strip():
                    period = name.removeprefix(TARGET_PREFIX).strip()
                    try:
                        Period.parse(period)
                        targets[period] = float(cell)
                    except ValueError as exc:
                        problems.append(Problem(str(path), line, name, f"{cell!r}: {exc}"))
            try:
                rows.append(MeasureIn(**{k: v for k, v in values.items() if v != ""}, targets=targets))
            except ValidationError as exc:
                problems += [
                    Problem(str(path), line, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()
                ]
    except csv.Error as exc:
        raise DefinitionError(
            [Problem(str(path), reader.line_num or None, "", f"not a readable CSV file: {exc}")]
        ) from exc
    codes = [r.code for r in rows]
    problems += [
        Problem(str(path), None, "code", f"{c!r} appears twice")
        for c in sorted({c for c in codes if codes.count(c) > 1})
    ]
    if problems:
        raise DefinitionError(problems)
    return rows


def read_actuals(path: Path) -> list[tuple[str, float | None, str]]:
    """Actuals from CSV (columns ``code,value,narrative``; an empty value is "not reported")."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    rows: list[tuple[str, float | None, str]] = []
    try:
        missing = {"code", "value"} - set(reader.fieldnames or [])
        if missing:
            raise DefinitionError(
                [Problem(str(path), 1, "header", f"missing column(s): {', '.join(sorted(missing))}")]
            )
        for line, raw in enumerate(reader, start=2):
            code = (raw.get("code") or "").strip()
            cell = (raw.get("value") or "").strip()
            narrative = (raw.get("narrative") or "").strip()
            if not code:
                problems.append(Problem(str(path), line, "code", "missing measure code"))
                continue
            if cell.startswith(("=", "+", "@")):
                problems.append(Problem(str(path), line, "value", "formulas are not accepted"))
                continue
            try:
                value = float(cell) if cell else None
            except ValueError:
                problems.append(Problem(str(path), line, "value", f"{cell!r} is not a number"))
                continue
            rows.append((code, value, narrative))
    except csv.Error as exc:
        raise DefinitionError(
            [Problem(str(path), reader.line_num or None, "", f"not a readable CSV file: {exc}")]
        ) from exc
    if problems:
        raise DefinitionError(problems)
    return rows


class Performance:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    # -- the measures library -------------------------------------------------------------

    def import_measures(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or update the measures in ``path``; return (added, updated)."""
        rows = read_measures(path)
        added = updated = 0
        with self.store.write() as s:
            org = _org(s, organisation)
            services = dict(
                s.execute(select(Service.code, Service.id).where(Service.organisation_id == org.id)).all()
            )
            unknown = sorted({r.service for r in rows if r.service and r.service not in services})
            if unknown:
                raise DefinitionError(
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
                self.engine.clock.now(),
            )
        return added, updated

    def measures(self, organisation: str) -> list[tuple[Measure, str | None]]:
        with self.store.read() as s:
            org = _org(s, organisation)
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
        found = self.measures(organisation)
        periods = sorted({p for m, _ in found for p in m.targets})
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS, *(TARGET_PREFIX + p for p in periods)])
        for m, service in found:
            values = [getattr(m, c) if c != "service" else (service or "") for c in COLUMNS]
            writer.writerow([csv_safe(v) for v in values] + [m.targets.get(p, "") for p in periods])
        return len(found)

    # -- actuals, status, exception reports -----------------------------------------------

    def record_actual(
        self, cycle: str, code: str, value: float | None, *, narrative: str = "", by: str
    ) -> None:
        """Record a measure's actual for the cycle's period, as that service's manager or a
        performance officer, while the service's return is open (requested or returned)."""
        self.record_actuals(cycle, [(code, value, narrative)], by=by)

    def record_actuals(self, cycle: str, rows: Sequence[tuple[str, float | None, str]], *, by: str) -> None:
        """Record several actuals in one transaction: all of them, or none."""
        with self.store.write() as s:
            now = self.engine.clock.now()
            for code, value, narrative in rows:
                inst, measure, service = self._cycle_measure(s, cycle, code)
                roles = self._roles(s, by, inst.organisation_id)
                allowed = ("performance_officer", None) in roles or (
                    service is not None and ("service_manager", measure.service_id) in roles
                )
                if not allowed:
                    raise PermissionDenied(cycle, "record_actual", "-", by, f"{by!r} may not report {code}")
                if service is not None:
                    state = s.scalar(select(Instance.state).where(Instance.key == f"{cycle}/{service}"))
                    if state not in ("requested", "returned", None):
                        raise PmfError(
                            f"the {service} return is {state}: actuals can change only while it is open"
                        )
                s.add(
                    Actual(
                        measure_id=measure.id,
                        period=inst.period,
                        value=value,
                        narrative=narrative,
                        reported_by=by,
                        reported_at=now,
                    )
                )
                s.flush()
                audit.append(
                    s,
                    audit.AuditRecord(
                        event="actual.recorded",
                        organisation=_org_code(s, inst.organisation_id),
                        instance=cycle,
                        actor=by,
                        data={"measure": code, "period": inst.period, "value": value, "narrative": narrative},
                    ),
                    now,
                )

    def import_actuals(self, cycle: str, path: Path, *, by: str) -> int:
        """Record every actual in a CSV file in one transaction (every problem listed first)."""
        rows = read_actuals(path)
        with self.store.read() as s:
            inst = _cycle(s, cycle)
            known = set(
                s.scalars(select(Measure.code).where(Measure.organisation_id == inst.organisation_id))
            )
        unknown = [
            Problem(str(path), line, "code", f"unknown measure code {code!r}")
            for line, (code, _, _) in enumerate(rows, start=2)
            if code not in known
        ]
        if unknown:
            raise DefinitionError(unknown)
        self.record_actuals(cycle, rows, by=by)
        return len(rows)

    def status(self, cycle: str) -> list[MeasureStatus]:
        """Every measure of the cycle's organisation with its RAG, rule and trend."""
        with self.store.read() as s:
            inst = _cycle(s, cycle)
            return self._status(s, inst)

    def _status(self, s: Session, inst: Instance) -> list[MeasureStatus]:
        period = Period.parse(inst.period)
        last_quarter, last_year = str(period.previous()), str(Period(period.start_year - 1, period.quarter))
        policy = self.engine.catalog.rag
        rows = s.execute(
            select(Measure, Service.code)
            .outerjoin(Service, Service.id == Measure.service_id)
            .where(Measure.organisation_id == inst.organisation_id)
            .order_by(Measure.code)
        ).all()
        reported = {
            e
            for e in s.scalars(
                select(ExceptionReport.measure_id).where(ExceptionReport.instance_id == inst.id)
            )
        }
        result = []
        for measure, service in rows:
            latest = _latest(s, measure.id, (inst.period, last_quarter, last_year))
            now = latest.get(inst.period)
            tolerance, _basis = policy.rule_for(measure.code)
            value = now.value if now else None
            polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
            result.append(
                MeasureStatus(
                    code=measure.code,
                    title=measure.title,
                    theme=measure.theme,
                    service=service,
                    actual=value,
                    target=measure.targets.get(inst.period),
                    rag=rag(value, measure.targets.get(inst.period), polarity, tolerance),
                    since_last_quarter=direction(
                        value, _value(latest.get(last_quarter)), polarity, policy.no_change_within
                    ),
                    since_last_year=direction(
                        value, _value(latest.get(last_year)), polarity, policy.no_change_within
                    ),
                    narrative=now.narrative if now else "",
                    exception_report=measure.id in reported,
                )
            )
        return result

    def missing_exception_reports(self, s: Session, cycle_id: int) -> list[str]:
        """Codes of red measures of the cycle without an exception report."""
        inst = s.get(Instance, cycle_id)
        assert inst is not None
        return [m.code for m in self._status(s, inst) if m.rag.status == "red" and not m.exception_report]

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
    ) -> None:
        try:
            date.fromisoformat(recovery_date)
        except ValueError:
            raise PmfError(f"recovery date {recovery_date!r} is not a date like 2024-12-31") from None
        if not all(x.strip() for x in (reason, remedial_action, owner)):
            raise PmfError("an exception report needs a reason, a remedial action and an owner")
        with self.store.write() as s:
            inst, measure, _ = self._cycle_measure(s, cycle, code)
            existing = s.scalar(
                select(ExceptionReport).where(
                    ExceptionReport.instance_id == inst.id, ExceptionReport.measure_id == measure.id
                )
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
                        measure_id=measure.id,
                        created_by=by,
                        created_at=self.engine.clock.now(),
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
                    organisation=_org_code(s, inst.organisation_id),
                    instance=cycle,
                    actor=by,
                    data={"measure": code, **fields},
                ),
                self.engine.clock.now(),
            )

    def exception_reports(self, cycle: str) -> list[tuple[str, ExceptionReport]]:
        with self.store.read() as s:
            inst = _cycle(s, cycle)
            return list(
                s.execute(
                    select(Measure.code, ExceptionReport)
                    .join(Measure, Measure.id == ExceptionReport.measure_id)
                    .where(ExceptionReport.instance_id == inst.id)
                    .order_by(Measure.code)
                ).all()
            )

    # -- helpers --------------------------------------------------------------------------

    def _cycle_measure(self, s: Session, cycle: str, code: str) -> tuple[Instance, Measure, str | None]:
        inst = _cycle(s, cycle)
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

    @staticmethod
    def _roles(s: Session, username: str, organisation_id: int) -> set[tuple[str, int | None]]:
        from pmf_engine.store import Actor, RoleAssignment  # noqa: PLC0415 - local to keep the top short

        rows = s.execute(
            select(RoleAssignment.role, RoleAssignment.service_id)
            .join(Actor, Actor.id == RoleAssignment.actor_id)
            .where(
                Actor.username == username,
                Actor.active.is_(True),
                RoleAssignment.organisation_id == organisation_id,
            )
        ).all()
        return set(rows)


def _latest(s: Session, measure_id: int, periods: Sequence[str]) -> dict[str, Actual]:
    found: dict[str, Actual] = {}
    for actual in s.scalars(
        select(Actual)
        .where(Actual.measure_id == measure_id, Actual.period.in_(list(periods)))
        .order_by(Actual.id)
    ):
        found[actual.period] = actual  # the newest submission wins; older ones stay as history
    return found


def _value(actual: Actual | None) -> float | None:
    return actual.value if actual else None


def _cycle(s: Session, key: str) -> Instance:
    inst = s.scalar(select(Instance).where(Instance.key == key, Instance.parent_id.is_(None)))
    if inst is None:
        raise NotFound("cycle", key)
    return inst


def _org(s: Session, code: str) -> Organisation:
    return find_organisation(s, code)


def _org_code(s: Session, organisation_id: int) -> str:
    return str(s.execute(select(Organisation.code).where(Organisation.id == organisation_id)).scalar_one())
