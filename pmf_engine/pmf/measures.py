"""The measures library: an organisation's performance indicators with their targets, imported
from and exported to CSV or Excel (the same columns both ways, so an export re-imports).

Columns are ``COLUMNS`` plus one per quarter's target (``target 2024-25-Q1``) and one per
financial year's target (``annual target 2024-25``). An import is all or nothing and recorded in
the audit log.

A library's text goes into every return template, report and export, so an import refuses
formula-like text (starting ``= + - @``, a tab or a CR) in any text column, naming the file,
line and column, rather than storing it and escaping it on every way out: a refused cell is
one a person sees and fixes once, where an escaped one is silently changed (``'=...``) in the
next export. Numbers must be finite (``nan``, ``inf`` and ``1e400`` are refused).

A measure's ``format`` (number, count, percent, currency, days) gives the range of its figures
(``rules.FORMAT_RANGES``: a percentage 0 to 100, a count whole and not negative); ``minimum``
and ``maximum`` set a measure's own range instead, and every quarter's target must be in it.
``publish`` (yes or no, default yes) says whether its figures are approved for publication on
the public open-data feed and page.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any, Literal

import openpyxl
from openpyxl.styles import Font
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from pmf_engine.core import values
from pmf_engine.core.audit import csv_safe
from pmf_engine.core.errors import Problem
from pmf_engine.core.period import Period
from pmf_engine.core.store import find_organisation
from pmf_engine.pmf import rules, tabular, xlsx
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.reporting import StoreService, audit_organisation, service_ids, upsert, with_service_codes
from pmf_engine.pmf.targets import Aggregation, Targets, targets_of

COLUMNS = (
    "code", "title", "theme", "priority", "service", "owner", "unit", "format", "polarity",
    "frequency", "data_source", "assurance", "aggregation", "profile", "minimum", "maximum",
    "comparator_metric", "publish",
    "definition", "guidance", "numerator", "denominator", "data_owner",
)  # fmt: skip
TEXT_COLUMNS = (
    "title", "theme", "priority", "owner", "unit", "data_source", "assurance",
    "definition", "guidance", "numerator", "denominator", "data_owner",
)  # fmt: skip
"""The free-text columns, in which formula-like text is refused."""
TARGET_PREFIX = "target "
"""A quarter's own target: ``target 2024-25-Q1``."""
ANNUAL_PREFIX = "annual target "
"""A financial year's target, spread by the profile: ``annual target 2024-25``."""


class MeasureIn(BaseModel):
    """One row of a measures file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    title: str = Field(min_length=1)
    theme: str = ""
    priority: str = ""
    service: str = ""
    owner: str = ""
    unit: str = ""
    format: rules.Format = "number"
    polarity: Literal["higher", "lower"]
    frequency: Literal["quarterly", "annual", "monthly"] = "quarterly"
    data_source: str = ""
    assurance: str = ""
    aggregation: Aggregation = "mean"
    profile: list[float] = Field(default=[], description="four quarterly weights, e.g. 10/20/30/40")
    minimum: float | None = None
    """The lowest figure the measure can take, when not its format's (``rules.FORMAT_RANGES``)."""
    maximum: float | None = None
    """The highest figure the measure can take (a percentage that may pass 100, say)."""
    comparator_metric: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    """The measure's metric at comparator sources (an LG Inform metric type id, e.g. ``2142``)."""
    publish: bool = True
    """Its figures are approved for publication (``no``: kept off the public open-data feed)."""
    definition: str = Field("", max_length=4000)
    """Data quality: what the measure counts, in words."""
    guidance: str = Field("", max_length=4000)
    """How to compile the figure."""
    numerator: str = Field("", max_length=300)
    denominator: str = Field("", max_length=300, validate_default=True)
    """For a rate, what is counted and out of what: both or neither."""
    data_owner: str = Field("", max_length=64)
    targets: dict[str, float] = {}
    annual_targets: dict[str, float] = {}

    @field_validator("denominator")
    @classmethod
    def _both_or_neither(cls, value: str, info: ValidationInfo) -> str:
        if bool(value) != bool(info.data.get("numerator", "")):
            raise ValueError("a rate has a numerator and a denominator: give both or neither")
        return value

    @field_validator("minimum", "maximum")
    @classmethod
    def _a_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        minimum = info.data.get("minimum") if info.field_name == "maximum" else value
        maximum = value if info.field_name == "maximum" else None
        why = rules.range_problem(str(info.data.get("format", "number")), minimum, maximum)
        if why is not None:
            raise ValueError(why)
        return value

    @field_validator("targets")
    @classmethod
    def _targets_in_range(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        limits = rules.bounds(
            str(info.data.get("format", "number")), info.data.get("minimum"), info.data.get("maximum")
        )
        for period, target in sorted(value.items()):
            if (limits.low is not None and target < limits.low) or (
                limits.high is not None and target > limits.high
            ):
                raise ValueError(f"the {period} target {target:g} is outside the range ({limits.span()})")
        return value

    @field_validator(*TEXT_COLUMNS)
    @classmethod
    def _not_a_formula(cls, value: str) -> str:
        return tabular.not_a_formula(value)

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
                    targets[period] = values.parse_number(cell)
                elif name.startswith(ANNUAL_PREFIX):
                    year = name.removeprefix(ANNUAL_PREFIX).strip()
                    Period.parse(f"{year}-Q1")
                    annual[year] = values.parse_number(cell)
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


def measure_targets(measure: Measure) -> Targets:
    """The measure's quarterly and annual targets, profile and aggregation, with the annual
    targets agreed through the lifecycle (``target_setting``)."""
    return targets_of(
        measure.aggregation, measure.targets, measure.annual_targets, measure.profile, measure.agreed_targets
    )


class MeasureLibrary(StoreService):
    """An organisation's measures: imported, listed and exported."""

    def import_measures(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or update the measures in ``path``; return (added, updated)."""
        rows = read_measures(path)
        added = updated = 0
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            services = service_ids(org, path, (r.service for r in rows))
            for row in rows:
                fields = row.model_dump(exclude={"code", "service"})
                fields["service_id"] = services.get(row.service) if row.service else None
                if upsert(s, Measure, org.id, row.code, fields)[1]:
                    added += 1
                else:
                    updated += 1
            data = {"file": path.name, "added": added, "updated": updated}
            audit_organisation(s, organisation, "measures.imported", by, data, self.clock.now())
        return added, updated

    def measures(self, organisation: str) -> list[tuple[Measure, str | None]]:
        """The organisation's measures by code, each with its service's code."""
        with self.store.read() as s:
            return with_service_codes(s, Measure, find_organisation(s, organisation).id)

    def export_measures(self, organisation: str, out: IO[str]) -> int:
        """Write the library as CSV (re-importable; cells escaped against formula injection)."""
        rows = self._export_rows(organisation)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([csv_safe(v) if isinstance(v, str) else v for v in row] for row in rows)
        return len(rows) - 1

    def export_measures_xlsx(self, organisation: str, path: Path) -> int:
        """Write the library as an Excel workbook with the same columns (re-importable; every
        text a text cell, never a formula)."""
        rows = self._export_rows(organisation)
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Measures"
        for row in rows:
            xlsx.append_text_row(sheet, row)  # text cells: never a formula, shown as written
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        xlsx.save(book, path)
        return len(rows) - 1

    def _export_rows(self, organisation: str) -> list[list[Any]]:
        found = self.measures(organisation)
        periods = sorted({p for m, _ in found for p in m.targets})
        years = sorted({y for m, _ in found for y in m.annual_targets})
        header = [*COLUMNS, *(TARGET_PREFIX + p for p in periods), *(ANNUAL_PREFIX + y for y in years)]
        rows: list[list[Any]] = [header]
        for m, service in found:
            rows.append(
                _measure_cells(m, service)
                + [m.targets.get(p, "") for p in periods]
                + [m.annual_targets.get(y, "") for y in years]
            )
        return rows


def _measure_cells(m: Measure, service: str | None) -> list[Any]:
    cells: list[Any] = []
    for column in COLUMNS:
        if column == "service":
            cells.append(service or "")
        elif column == "profile":
            cells.append("/".join(f"{w:g}" for w in m.profile))
        elif column == "publish":
            cells.append("yes" if m.publish else "no")
        elif column in ("minimum", "maximum", "comparator_metric"):
            cells.append("" if getattr(m, column) is None else getattr(m, column))
        else:
            cells.append(getattr(m, column))
    return cells
