"""The report as an Excel workbook: a sheet each for measures, the themes' headlines, projects,
finance, exception reports, Scrutiny's actions, restatements and timeliness, and, when there
are any, the risk register, the targets revised this year, the service plans' actions and the
positions among similar councils (one row per council's value, with its source and date). Every text is
written as a text cell, never a formula, and shown as written (a narrative starting ``=`` or
``-`` included)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import openpyxl
from openpyxl.styles import Font

from pmf_engine.core.clock import london
from pmf_engine.pmf.rag import Status
from pmf_engine.pmf.report.content import ReportData
from pmf_engine.pmf.words import sheet_name
from pmf_engine.pmf.xlsx import append_text_row, save

STATUSES = get_args(Status)


def xlsx(data: ReportData, path: Path) -> None:
    """Write the report to ``path`` as a workbook."""
    content = data.content
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Measures"
    sheet.append(
        ["Code", "Measure", "Theme", "Service", "Actual", "Target", "RAG", "Basis", "Rule",
         "Since last quarter", "Since last year", "Narrative", "Quality"]
    )  # fmt: skip
    for m in content.measures:
        append_text_row(
            sheet,
            [m.code, m.title, m.theme, m.service or "", m.actual, m.target, m.rag.status, m.basis,
             m.rag.rule, m.since_last_quarter, m.since_last_year, m.narrative, m.quality],
        )  # fmt: skip
    _sheet(
        book,
        "Themes",
        ["Theme", "Headline", "Written by", *(s.replace("_", " ").capitalize() for s in STATUSES),
         "Key projects"],
        [
            [h.theme, h.narrative, h.written_by, *(h.counts.get(s, 0) for s in STATUSES),
             "; ".join(f"{k.code} {k.title} ({k.status})" for k in h.key_projects)]
            for h in content.headlines
        ],
    )  # fmt: skip
    _sheet(
        book,
        "Projects",
        ["Code", "Project", "Theme", "Service", "Status", "Overdue milestones", "Narrative"],
        [
            [
                p.code,
                p.title,
                p.theme,
                p.service or "",
                p.status,
                "; ".join(f"{m.title} (due {m.due})" for m in p.milestones if m.overdue),
                p.narrative,
            ]
            for p in content.projects
        ],
    )
    _sheet(
        book,
        "Finance",
        ["Service", "Budget", "Forecast outturn", "Variance", "Variance %", "Note", "Measures"],
        [
            [f.service, f.budget, f.forecast_outturn, f.variance, f.variance_percent, f.note,
             "; ".join(f"{m.code} {m.rag.status}" for m in measures)]
            for f, measures in content.by_service()
        ],
    )  # fmt: skip
    exceptions: list[list[object]] = [list(row) for row in content.exceptions]
    _sheet(
        book, "Exception reports", ["Code", "Reason", "Remedial action", "Owner", "Recovery date"], exceptions
    )
    _sheet(
        book,
        sheet_name(data.actions_title),
        ["Action", "What", "Assignee", "Due", "Linked to", "State", "Closing note"],
        [[a.key, a.what, a.assignee, a.due, a.link, a.state, a.note] for a in data.actions],
    )
    _sheet(
        book,
        "Restatements",
        ["Code", "Period", "Restated value", "Previous value", "Reason", "By"],
        [[r.code, r.period, r.value, r.previous, r.reason, r.by] for r in data.restatements],
    )
    _sheet(
        book,
        "Timeliness",
        ["Stage", "Arrival", "Reached", "Working days after quarter end"],
        [
            [t.stage, t.arrival, f"{london(t.reached):%Y-%m-%d %H:%M}", t.working_days]
            for t in data.timeliness
        ],
    )
    if content.risks is not None and content.risks.risks:
        _sheet(
            book,
            "Risks",
            ["Code", "Risk", "Register", "Service", "Owner", "Inherent", "Likelihood", "Impact", "Residual",
             "Band", "Level", "Escalated", "Why", "Controls", "Actions", "Measures", "Projects", "Review"],
            [
                [r.code, r.title, r.register_label, r.service or "", r.owner, r.inherent_score, r.likelihood,
                 r.impact, r.score, r.band, r.level_label, "yes" if r.escalated else "no",
                 "; ".join(r.reasons), r.controls, r.actions, "; ".join(r.measures), "; ".join(r.projects),
                 r.review_note]
                for r in content.risks.risks
            ],
        )  # fmt: skip
    if content.revised_targets:
        _sheet(
            book,
            "Revised targets",
            ["Code", "Year", "Original target", "Revised target", "From", "Reason"],
            [
                [r.code, r.year, r.original, r.revised, r.revised_from, r.reason]
                for r in content.revised_targets
            ],
        )
    if data.plans:
        _sheet(
            book,
            "Plan actions",
            ["Service", "Action", "What", "Owner", "Due", "Linked to", "Status", "Note", "Withdrawn"],
            [  # Withdrawn: the reason, in the quarter it was withdrawn in (plan_views.actions_of_year)
                [
                    service,
                    a.ref,
                    a.what,
                    a.owner,
                    a.due,
                    a.link,
                    *a.status_in(content.period),
                    (a.withdrawn_reason or "withdrawn") if a.withdrawn else None,
                ]
                for service, actions in data.plans.items()
                for a in actions
            ],
        )
    if data.comparators:
        _sheet(
            book,
            "Similar councils",
            ["Code", "Group", "Period", "Rank", "Of", "Quartile", "Median", "Council", "GSS code", "Value",
             "Source", "Date"],
            [
                [code, p.group, p.period, p.rank, p.n, p.quartile, p.median, a.area_name, a.area_gss, a.value,
                 a.source, a.dated]
                for code, positions in sorted(data.comparators.items())
                for p in positions
                for a in p.areas
            ],
        )  # fmt: skip
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    save(book, path)


def _sheet(book: openpyxl.Workbook, title: str, header: list[str], rows: Sequence[Sequence[object]]) -> None:
    sheet = book.create_sheet(title)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        append_text_row(sheet, row)
