"""Finance beside performance: each service's budget and forecast outturn per quarter.

Imported from CSV or Excel (``service,period,budget,forecast_outturn[,note]``) with the same
all-or-nothing check as every import: a file with any problem (an unknown service, a period
that is not one, a number that is not finite, the same service and quarter twice, a note a
spreadsheet would read as a formula) imports nothing, and each problem names its file, line and
column. A row for a service and quarter already held replaces it; the import is audited with
the file's SHA-256. The variance is the forecast outturn less the budget (an overspend is
positive), shown with the service's measures in the report and on the measures page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.errors import DataFileError, Problem
from pmf_engine.core.period import Period
from pmf_engine.core.store import Service, find_organisation
from pmf_engine.pmf import tabular
from pmf_engine.pmf.assurance_models import FinanceLine
from pmf_engine.pmf.reporting import StoreService, audit_organisation, service_ids

COLUMNS = ("service", "period", "budget", "forecast_outturn", "note")


class FinanceIn(BaseModel):
    """One row of a finance file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    service: str = Field(min_length=1)
    period: str
    budget: float
    forecast_outturn: float
    note: str = Field("", max_length=500)

    @field_validator("period")
    @classmethod
    def _a_quarter(cls, value: str) -> str:
        return str(Period.parse(value))

    @field_validator("note")
    @classmethod
    def _not_a_formula(cls, value: str) -> str:
        return tabular.not_a_formula(value)


@dataclass(frozen=True)
class FinanceView:
    """A service's budget, forecast outturn and variance for a quarter."""

    service: str
    service_name: str
    period: str
    budget: float
    forecast_outturn: float
    note: str = ""

    @property
    def variance(self) -> float:
        """Forecast outturn less budget: positive is an overspend."""
        return self.forecast_outturn - self.budget

    @property
    def variance_percent(self) -> float | None:
        """The variance as a percentage of the budget (``None`` for a zero budget)."""
        return None if self.budget == 0 else 100 * self.variance / abs(self.budget)


def read_finance(path: Path) -> list[tuple[int, FinanceIn]]:
    """The rows of a finance file with their lines; ``DataFileError`` listing every problem."""
    table = tabular.read_table(
        path, ("service", "period", "budget", "forecast_outturn"), known=lambda c: c in COLUMNS, excel=True
    )
    rows: list[tuple[int, FinanceIn]] = []
    for row in table.rows:
        given: dict[str, object] = {k: v.strip() for k, v in row.cells.items() if k in COLUMNS and v.strip()}
        for column in ("budget", "forecast_outturn"):
            if column in given:
                try:
                    given[column] = tabular.number(str(given[column]))
                except ValueError as exc:
                    table.problem(row.line, column, str(exc))
                    given.pop(column)
        if any(p.line == row.line for p in table.problems):
            continue
        try:
            rows.append((row.line, FinanceIn.model_validate(given)))
        except ValidationError as exc:
            table.invalid(row.line, exc)
    seen: dict[tuple[str, str], int] = {}
    for line, r in rows:
        first = seen.setdefault((r.service, r.period), line)
        if first != line:
            table.problem(line, "service", f"{r.service} {r.period} is also on line {first}")
    return table.done(rows)


def finance_in(s: Session, organisation_id: int, period: str | None = None) -> list[FinanceView]:
    """The organisation's finance lines (of ``period``, or every quarter), by service then period."""
    query = (
        select(FinanceLine, Service.code, Service.name)
        .join(Service, Service.id == FinanceLine.service_id)
        .where(FinanceLine.organisation_id == organisation_id)
        .order_by(Service.code, FinanceLine.period)
    )
    if period is not None:
        query = query.where(FinanceLine.period == period)
    return [
        FinanceView(code, name, f.period, f.budget, f.forecast_outturn, f.note)
        for f, code, name in s.execute(query).all()
    ]


class Finance(StoreService):
    """Importing and reading services' budgets and forecast outturns."""

    def import_finance(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or replace the finance lines in ``path`` (all or nothing); (added, updated)."""
        rows = read_finance(path)
        added = updated = 0
        now = self.clock.now()
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            known = {svc.code for svc in org.services}
            unknown = [
                Problem(str(path), line, "service", f"unknown service {r.service!r}")
                for line, r in rows
                if r.service not in known
            ]
            if unknown:
                raise DataFileError(unknown)
            services = service_ids(org, path, (r.service for _, r in rows))
            held = {
                (f.service_id, f.period): f
                for f in s.scalars(select(FinanceLine).where(FinanceLine.organisation_id == org.id))
            }
            for _, r in rows:
                fields = {"budget": r.budget, "forecast_outturn": r.forecast_outturn, "note": r.note}
                line = held.get((services[r.service], r.period))
                if line is None:
                    s.add(
                        FinanceLine(
                            organisation_id=org.id,
                            service_id=services[r.service],
                            period=r.period,
                            imported_by=by,
                            imported_at=now,
                            **fields,
                        )
                    )
                    added += 1
                else:
                    for key, value in fields.items():
                        setattr(line, key, value)
                    line.imported_by, line.imported_at = by, now
                    updated += 1
            data = {
                "file": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "added": added,
                "updated": updated,
                "periods": sorted({r.period for _, r in rows}),
            }
            audit_organisation(s, organisation, "finance.imported", by, data, now)
        return added, updated

    def lines(self, organisation: str, period: str | None = None) -> list[FinanceView]:
        """The organisation's finance lines (of ``period``, or every quarter)."""
        with self.store.read() as s:
            return finance_in(s, find_organisation(s, organisation).id, period)
