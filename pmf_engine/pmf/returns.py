"""Excel returns: a template per service for a cycle, filled in by the service and imported.

The template lists the service's measures with their targets (the service fills in the actual,
the narrative and, optionally, its forecast of the year-end outturn) and, on a second sheet, its
projects with the milestones still open (the service picks a status and writes a narrative);
and, on a third, the actions of its service plan for the year (a status and a note each).

Import refuses anything that is not plain data, before reading a cell: a file over the size
limits or with a suspicious compression ratio (a zip bomb), formulas in any cell
(``=HYPERLINK(...)`` included), unknown codes, text where a number belongs, figures that break
the data rules of ``rules`` (a percentage over 100, negative days, a count that is not whole, a
figure and a reason it is missing side by side), a red measure or an off-track project without
a narrative (``returns`` in ``policies/framework.yaml``, as the submit guard asks). A measure
with no actual may say why it is missing (column I). Every problem is listed with its sheet,
row and column, and a file with any problem imports nothing. openpyxl parses through defusedxml
(a dependency).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from pmf_engine.core import values as checks
from pmf_engine.core.errors import DataFileError, NotFound, Problem
from pmf_engine.core.store import Instance, Service
from pmf_engine.pmf import rules, xlsx
from pmf_engine.pmf.actuals import ActualIn, bounds_of, latest_values
from pmf_engine.pmf.measures import measure_targets
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.performance import Performance
from pmf_engine.pmf.plan_views import PlanActionView
from pmf_engine.pmf.plans import ServicePlans
from pmf_engine.pmf.projects import STATES, Projects, ProjectStatus, project_status
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.rag import Polarity, RagPolicy
from pmf_engine.pmf.reporting import cycle_of
from pmf_engine.pmf.status import decide, periods_wanted

SHEET = "Return"
HEADER = (
    "Code", "Measure", "Unit", "Better", "Target", "Actual", "Narrative", "Forecast (year end)",
    "Why missing (no actual)",
)  # fmt: skip
PROJECTS_SHEET = "Projects"
PROJECTS_HEADER = ("Code", "Project", "Milestones due this quarter", "Status", "Narrative")
PLANS_SHEET = "Plan actions"
PLANS_HEADER = ("Ref", "Action", "Due", "Status", "Note")
MAX_ROWS = 2000
COLUMN = {"actual": "F", "narrative": "G", "forecast": "H", "missing_reason": "I"}
"""The column of the Return sheet that holds each field of ``rules``."""


@dataclass(frozen=True)
class ReturnRow:
    """A measure's line of a filled-in return."""

    code: str
    actual: float | None
    narrative: str
    forecast: float | None = None
    missing_reason: str = ""


@dataclass(frozen=True)
class ProjectRow:
    """A project's line of a filled-in return."""

    code: str
    status: str
    narrative: str


@dataclass(frozen=True)
class FilledReturn:
    """A filled-in return, validated: what it reports of measures and projects."""

    measures: list[ReturnRow]
    projects: list[ProjectRow]
    plan_actions: list[ProjectRow] = dataclasses.field(default_factory=list)
    """(ref, status, note) of each service plan action reported."""


class ExcelReturns:
    """Return templates for a cycle's services, and their import once filled in."""

    def __init__(
        self, performance: Performance, projects: Projects, rag: RagPolicy, plans: ServicePlans | None = None
    ) -> None:
        self.performance = performance
        self.projects = projects
        self.rag = rag
        self.plans = plans
        """Service plans, when the deployment has them: their actions get a sheet of the return."""
        self.store = performance.store

    def plan_actions(self, cycle: str, service: str) -> tuple[PlanActionView, ...]:
        """The actions of ``service``'s plan for the cycle's year, with their statuses (none
        without service plans or a plan)."""
        if self.plans is None:
            return ()
        with self.store.read() as s:
            return self.plans.actions_in(s, cycle_of(s, cycle), service)

    def _service_items(self, cycle: str, service: str) -> tuple[Instance, list[Measure], list[ProjectStatus]]:
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
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
            projects = [p for p in project_status(s, inst) if p.service == service]
            return inst, measures, projects

    def template(self, cycle: str, service: str, path: Path) -> int:
        """Write the return template; return how many measures and projects it lists."""
        inst, measures, projects = self._service_items(cycle, service)
        period = quarter_of(inst)
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = SHEET
        rows = [
            [m.code, m.title, m.unit, m.polarity, measure_targets(m).quarter(period), None, None, None, None]
            for m in measures
        ]
        _table(sheet, HEADER, rows, inputs=(6, 7, 8, 9), widths=(10, 50, 8, 8, 10, 10, 60, 12, 40))
        numbers = DataValidation(
            type="decimal", allow_blank=True, showErrorMessage=True, error="Enter a number"
        )
        sheet.add_data_validation(numbers)
        if measures:
            numbers.add(f"F2:F{len(measures) + 1}")
            numbers.add(f"H2:H{len(measures) + 1}")
        sheet["K1"] = (
            f"{cycle} / {service}: fill in the yellow cells (Actual, Narrative, Forecast; with no "
            "actual, why it is missing), then upload."
        )
        xlsx.mark_text(sheet["K1"])
        projects_sheet = book.create_sheet(PROJECTS_SHEET)
        due = [
            [
                p.code,
                p.title,
                "; ".join(f"{m.title} ({m.due})" for m in p.milestones if not m.completed_on),
                None,
                None,
            ]
            for p in projects
        ]
        _table(projects_sheet, PROJECTS_HEADER, due, inputs=(4, 5), widths=(10, 40, 50, 12, 60))
        choices = DataValidation(
            type="list", formula1=f'"{",".join(STATES)}"', allow_blank=True, showErrorMessage=True
        )
        projects_sheet.add_data_validation(choices)
        if projects:
            choices.add(f"D2:D{len(projects) + 1}")
        actions = self.plan_actions(cycle, service)
        if actions and self.plans is not None:
            plans_sheet = book.create_sheet(PLANS_SHEET)
            rows = [[a.ref, a.what, a.due, None, None] for a in actions]
            _table(plans_sheet, PLANS_HEADER, rows, inputs=(4, 5), widths=(8, 60, 12, 14, 60))
            statuses = ",".join(self.plans.policy.action_statuses)
            picks = DataValidation(
                type="list", formula1=f'"{statuses}"', allow_blank=True, showErrorMessage=True
            )
            plans_sheet.add_data_validation(picks)
            picks.add(f"D2:D{len(actions) + 1}")
        xlsx.save(book, path)
        return len(measures) + len(projects) + len(actions)

    def read(self, cycle: str, service: str, path: Path) -> FilledReturn:
        """Validate a filled-in return; raise ``DataFileError`` listing every problem."""
        xlsx.check_archive(path)
        inst, measures, projects = self._service_items(cycle, service)
        book = xlsx.load_workbook(path)
        problems: list[Problem] = []
        try:
            if SHEET not in book.sheetnames:
                raise DataFileError([Problem(str(path), None, "sheet", f"no sheet named {SHEET!r}")])
            rows = self._read_measures(
                book[SHEET], inst, {m.code: m for m in measures}, service, path, problems
            )
            project_rows: list[ProjectRow] = []
            if PROJECTS_SHEET in book.sheetnames:
                project_rows = _read_projects(
                    book[PROJECTS_SHEET],
                    {p.code for p in projects},
                    service,
                    path,
                    problems,
                    self.performance.policies.framework.returns.narrative_projects,
                )
            plan_rows: list[ProjectRow] = []
            if PLANS_SHEET in book.sheetnames and self.plans is not None:
                policy = self.plans.policy
                plan_rows = _read_projects(
                    book[PLANS_SHEET],
                    {a.ref for a in self.plan_actions(cycle, service)},
                    service,
                    path,
                    problems,
                    policy.note_statuses,
                    states=policy.action_statuses,
                    kind="plan action",
                )
        finally:
            book.close()
        if problems:
            raise DataFileError(list(dict.fromkeys(problems)))  # a cell's problem once
        return FilledReturn(rows, project_rows, plan_rows)

    def _read_measures(
        self,
        sheet: Any,
        inst: Instance,
        by_code: dict[str, Measure],
        service: str,
        path: Path,
        problems: list[Problem],
    ) -> list[ReturnRow]:
        period = quarter_of(inst)
        narrative_rag = self.performance.policies.framework.returns.narrative_rag
        with self.store.read() as s:
            earlier = latest_values(s, [m.id for m in by_code.values()], periods_wanted(period))
        rows: list[ReturnRow] = []
        for number, values in _rows(sheet, len(HEADER), path, problems):
            code, actual, narrative, forecast, missing = (values[i] for i in (0, 5, 6, 7, 8))
            if all(v is None for v in (code, actual, narrative, forecast, missing)):
                continue
            if not isinstance(code, str) or code.strip() not in by_code:
                problems.append(
                    Problem(
                        str(path),
                        number,
                        f"{SHEET}!A{number}",
                        f"unknown measure code {code!r} for {service}",
                    )
                )
                continue
            measure = by_code[code.strip()]
            value = _number(actual, f"{SHEET}!F{number}", number, path, problems)
            outturn = _number(forecast, f"{SHEET}!H{number}", number, path, problems)
            text, why_missing = _text(narrative), _text(missing)
            if value is None and outturn is None and not text and not why_missing:
                continue  # left blank: nothing reported for this measure
            for field, message in rules.figure_problems(
                bounds_of(measure), value, outturn, text, why_missing
            ):
                problems.append(Problem(str(path), number, f"{SHEET}!{COLUMN[field]}{number}", message))
            figures = {p: a.value for (mid, p), a in earlier.items() if mid == measure.id}
            figures[str(period)] = value
            polarity: Polarity = "higher" if measure.polarity == "higher" else "lower"
            status = decide(
                measure.code, polarity, measure_targets(measure), period, figures, outturn, self.rag
            )[2].status
            if value is not None and status in narrative_rag and not text:
                problems.append(
                    Problem(str(path), number, f"{SHEET}!G{number}", f"a {status} measure needs a narrative")
                )
            rows.append(ReturnRow(measure.code, value, text, outturn, why_missing))
        return rows

    def import_return(self, cycle: str, service: str, path: Path, *, by: str) -> int:
        """Validate, then record every actual and project status of the return in one
        transaction (all or nothing); return how many were recorded."""
        filled = self.read(cycle, service, path)
        with self.store.write() as s:
            self.performance.record_in(
                s,
                cycle,
                [
                    ActualIn(r.code, r.actual, r.narrative, r.forecast, r.missing_reason)
                    for r in filled.measures
                ],
                by=by,
            )
            projects = self.projects
            for row in filled.projects:
                projects.update_in(s, cycle, row.code, row.status, narrative=row.narrative, by=by)
            for row in filled.plan_actions:
                assert self.plans is not None
                self.plans.report_in(s, cycle, service, row.code, row.status, note=row.narrative, by=by)
        return len(filled.measures) + len(filled.projects) + len(filled.plan_actions)


def _table(
    sheet: Any, header: Sequence[str], rows: list[list[Any]], *, inputs: Sequence[int], widths: Sequence[int]
) -> None:
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        xlsx.append_text_row(sheet, row)  # a measure titled =HYPERLINK(...) stays text
    fill = PatternFill("solid", fgColor="FFF2CC")
    for row_number in range(2, len(rows) + 2):
        for column in inputs:
            sheet.cell(row=row_number, column=column).fill = fill
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def _rows(sheet: Any, width: int, path: Path, problems: list[Problem]) -> Iterator[tuple[int, list[Any]]]:
    """Data rows as values, with every formula reported (whatever the column)."""
    for number, cells in xlsx.sheet_rows(path, sheet, min_row=2, max_col=width):
        if number > MAX_ROWS:
            problems.append(Problem(str(path), number, f"{sheet.title}!A{number}", "too many rows"))
            return
        problems += xlsx.cell_problems(path, sheet.title, number, cells)
        yield number, [c.value for c in cells] + [None] * (width - len(cells))


def _number(raw: Any, where: str, line: int, path: Path, problems: list[Problem]) -> float | None:
    """A number cell's value (``None`` when blank); text is a problem, and so is a number that
    is not finite (already reported by ``xlsx.cell_problems``). Its range is the rules' to judge."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        if not (isinstance(raw, str) and raw.startswith("=")):  # formulas are reported once, above
            problems.append(Problem(str(path), line, where, f"{raw!r} is not a number"))
        return None
    if checks.number_problem(raw) is not None:
        return None  # nan or infinite: reported once, above
    return float(raw)


def _text(raw: Any) -> str:
    return str(raw).strip() if raw is not None else ""


def _read_projects(
    sheet: Any,
    known: set[str],
    service: str,
    path: Path,
    problems: list[Problem],
    needing: Sequence[str] = ("off_track", "at_risk"),
    *,
    states: Sequence[str] = STATES,
    kind: str = "project",
) -> list[ProjectRow]:
    """The Projects sheet's rows (or, with ``states`` and ``kind``, the Plan actions sheet's:
    the same columns, code, status and text in A, D and E)."""
    rows: list[ProjectRow] = []
    where = sheet.title
    for number, values in _rows(sheet, len(PROJECTS_HEADER), path, problems):
        code, status, narrative = values[0], values[3], values[4]
        if status is None and narrative is None:
            continue
        if not isinstance(code, str) or code.strip() not in known:
            problems.append(
                Problem(str(path), number, f"{where}!A{number}", f"unknown {kind} {code!r} for {service}")
            )
            continue
        text = str(narrative).strip() if narrative is not None else ""
        if status not in states:
            problems.append(
                Problem(
                    str(path),
                    number,
                    f"{where}!D{number}",
                    f"status {status!r}: use one of {', '.join(states)}",
                )
            )
            continue
        if status in needing and not text:
            words = f"a {kind} {status} needs a {'narrative' if kind == 'project' else 'note'}"
            problems.append(Problem(str(path), number, f"{where}!E{number}", words))
        rows.append(ProjectRow(code.strip(), str(status), text))
    return rows
