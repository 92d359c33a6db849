"""Excel returns: a template per service for a cycle, filled in by the service and imported.

The template lists the service's measures with their targets; the service fills in the actual
and the narrative. Import refuses anything that is not plain data, before reading a cell: a
file over the size limits or with a suspicious compression ratio (a zip bomb), formulas in any
cell (``=HYPERLINK(...)`` included), unknown codes, text where a number belongs, and a red
measure without a narrative. Every problem is listed with its sheet, row and column, and a file
with any problem imports nothing. openpyxl parses through defusedxml (a dependency).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from pmf_engine.errors import DefinitionError, NotFound, Problem
from pmf_engine.performance import ActualIn, Performance
from pmf_engine.rag import Polarity, rag
from pmf_engine.store import Instance, Measure, Service

SHEET = "Return"
HEADER = ("Code", "Measure", "Unit", "Better", "Target", "Actual", "Narrative")
MAX_UNCOMPRESSED = 20 * 1024 * 1024
MAX_RATIO = 100
MAX_ROWS = 2000


@dataclass(frozen=True)
class ReturnRow:
    code: str
    actual: float | None
    narrative: str


class ExcelReturns:
    def __init__(self, performance: Performance) -> None:
        self.performance = performance
        self.store = performance.store

    def _service_measures(self, cycle: str, service: str) -> tuple[Instance, list[Measure]]:
        with self.store.read() as s:
            inst = s.scalar(select(Instance).where(Instance.key == cycle, Instance.parent_id.is_(None)))
            if inst is None:
                raise NotFound("cycle", cycle)
            service_id = s.scalar(
                select(Service.id).where(
                    Service.organisation_id == inst.organisation_id, Service.code == service
                )
            )
            if service_id is None:
                raise NotFound("service", service)
            measures = list(
                s.scalars(select(Measure).where(Measure.service_id == service_id).order_by(Measure.code))
            )
            return inst, measures

    def template(self, cycle: str, service: str, path: Path) -> int:
        """Write the return template; return how many measures it lists."""
        inst, measures = self._service_measures(cycle, service)
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = SHEET
        sheet.append(list(HEADER))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for m in measures:
            target = m.targets.get(inst.period)
            sheet.append([m.code, m.title, m.unit, m.polarity, target, None, None])
        numbers = DataValidation(
            type="decimal", allow_blank=True, showErrorMessage=True, error="Enter a number"
        )
        sheet.add_data_validation(numbers)
        if measures:
            numbers.add(f"F2:F{len(measures) + 1}")
        fill = PatternFill("solid", fgColor="FFF2CC")
        for row in range(2, len(measures) + 2):
            sheet.cell(row=row, column=6).fill = fill
            sheet.cell(row=row, column=7).fill = fill
        for column, width in zip("ABCDEFG", (10, 50, 8, 8, 10, 10, 60), strict=True):
            sheet.column_dimensions[column].width = width
        sheet["I1"] = f"{cycle} / {service}: fill in the yellow cells (Actual, Narrative), then upload."
        book.save(path)
        return len(measures)

    def read(self, cycle: str, service: str, path: Path) -> list[ReturnRow]:
        """Validate a filled-in return; raise ``DefinitionError`` listing every problem."""
        _check_archive(path)
        inst, measures = self._service_measures(cycle, service)
        by_code = {m.code: m for m in measures}
        try:
            book = openpyxl.load_workbook(path, data_only=False, read_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise DefinitionError(
                [Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]
            ) from exc
        problems: list[Problem] = []
        rows: list[ReturnRow] = []
        try:
            if SHEET not in book.sheetnames:
                raise DefinitionError([Problem(str(path), None, "sheet", f"no sheet named {SHEET!r}")])
            sheet = book[SHEET]
            policy = self.performance.engine.catalog.rag
            for number, cells in enumerate(sheet.iter_rows(min_row=2, max_col=7), start=2):
                if number > MAX_ROWS:
                    problems.append(Problem(str(path), number, f"{SHEET}!A{number}", "too many rows"))
                    break
                values = [c.value for c in cells] + [None] * (7 - len(cells))
                for cell in cells:
                    if getattr(cell, "data_type", None) == "f" or (
                        isinstance(cell.value, str) and cell.value.startswith("=")
                    ):
                        problems.append(
                            Problem(
                                str(path), number, f"{SHEET}!{cell.coordinate}", "formulas are not accepted"
                            )
                        )
                code, actual, narrative = values[0], values[5], values[6]
                if code is None and actual is None and narrative is None:
                    continue
                where = f"{SHEET}!A{number}"
                if not isinstance(code, str) or code.strip() not in by_code:
                    problems.append(
                        Problem(str(path), number, where, f"unknown measure code {code!r} for {service}")
                    )
                    continue
                measure = by_code[code.strip()]
                value: float | None = None
                if actual is not None and actual != "":
                    if isinstance(actual, bool) or not isinstance(actual, int | float):
                        problems.append(
                            Problem(str(path), number, f"{SHEET}!F{number}", f"{actual!r} is not a number")
                        )
                        continue
                    value = float(actual)
                text = str(narrative).strip() if narrative is not None else ""
                if value is None and not text:
                    continue  # left blank: nothing reported for this measure
                tolerance, _ = policy.rule_for(measure.code)
                polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
                status = rag(value, measure.targets.get(inst.period), polarity, tolerance).status
                if status == "red" and not text:
                    problems.append(
                        Problem(str(path), number, f"{SHEET}!G{number}", "a red measure needs a narrative")
                    )
                rows.append(ReturnRow(measure.code, value, text))
        finally:
            book.close()
        if problems:
            raise DefinitionError(problems)
        return rows

    def import_return(self, cycle: str, service: str, path: Path, *, by: str) -> int:
        """Validate, then record every actual of the return (all or nothing)."""
        rows = self.read(cycle, service, path)
        self.performance.record_actuals(cycle, [ActualIn(r.code, r.actual, r.narrative) for r in rows], by=by)
        return len(rows)


def _check_archive(path: Path) -> None:
    """Refuse what is not a modest, honest zip before openpyxl inflates anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]) from exc
    total = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if total > MAX_UNCOMPRESSED or total / packed > MAX_RATIO:
        raise DefinitionError(
            [
                Problem(
                    str(path),
                    None,
                    "",
                    f"refused: {total:,} bytes uncompressed from {packed:,} (a zip bomb?)",
                )
            ]
        )
