"""The quarterly committee report: HTML (self-contained, accessible, printable) and XLSX.

Per Council Plan theme a count of green, amber and red with a bar chart; each measure with
actual, target, RAG with the rule applied, direction of travel and a small chart of its last
eight quarters; the exception reports; and timeliness: working days from the end of the
quarter to each stage the cycle reached, from the audit log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
import openpyxl
from markupsafe import Markup, escape
from openpyxl.styles import Font
from sqlalchemy import select

from pmf_engine.audit import csv_safe
from pmf_engine.clock import london
from pmf_engine.performance import MeasureStatus, Performance
from pmf_engine.period import Period
from pmf_engine.store import Actual, AuditEntry, Instance, Measure
from pmf_engine.workdays import WorkingDays

COLOURS = {
    "green": "#00703c",
    "amber": "#f47738",
    "red": "#d4351c",
    "no_target": "#505a5f",
    "missing": "#505a5f",
}
ARROWS = {"improving": "▲ improving", "worsening": "▼ worsening", "no_change": "► no change", "unknown": "–"}


@dataclass(frozen=True)
class Timeliness:
    stage: str
    reached: datetime
    working_days: int


@dataclass(frozen=True)
class ReportData:
    cycle: str
    organisation: str
    period: str
    generated: datetime
    measures: list[MeasureStatus]
    history: dict[str, list[tuple[str, float | None]]]
    themes: dict[str, Counter[str]]
    exceptions: list[tuple[str, str, str, str, str]]
    timeliness: list[Timeliness]


def gather(performance: Performance, cycle: str) -> ReportData:
    engine = performance.engine
    measures = performance.status(cycle)
    with engine.store.read() as s:
        inst = s.scalar(select(Instance).where(Instance.key == cycle, Instance.parent_id.is_(None)))
        assert inst is not None  # status() raised NotFound otherwise
        period = Period.parse(inst.period)
        quarters = [period]
        for _ in range(7):
            quarters.insert(0, quarters[0].previous())
        names = [str(q) for q in quarters]
        history: dict[str, list[tuple[str, float | None]]] = {}
        for code, measure_id in s.execute(
            select(Measure.code, Measure.id).where(Measure.organisation_id == inst.organisation_id)
        ).all():
            latest: dict[str, float | None] = {}
            for p, value in s.execute(
                select(Actual.period, Actual.value)
                .where(Actual.measure_id == measure_id, Actual.period.in_(names))
                .order_by(Actual.id)
            ).all():
                latest[p] = value
            history[code] = [(n, latest.get(n)) for n in names]
        wf = engine.definition(inst.workflow_version)
        workdays = WorkingDays(inst.organisation.holiday_subdivision)
        reached: dict[str, datetime] = {}
        for to_state, at in s.execute(
            select(AuditEntry.to_state, AuditEntry.at)
            .where(AuditEntry.instance == cycle, AuditEntry.event.in_(("fired", "cycle.started")))
            .order_by(AuditEntry.seq)
        ).all():
            if to_state and to_state not in reached:
                reached[to_state] = datetime.fromisoformat(at.replace("Z", "+00:00"))
        timeliness = [
            Timeliness(wf.states[state].label, when, workdays.between(period.end, london(when).date()))
            for state, when in reached.items()
            if state in wf.states
        ]
        organisation = inst.organisation.name
    themes: dict[str, Counter[str]] = {}
    for m in measures:
        themes.setdefault(m.theme or "Other", Counter())[m.rag.status] += 1
    exceptions = [
        (code, r.reason, r.remedial_action, r.owner, r.recovery_date)
        for code, r in performance.exception_reports(cycle)
    ]
    return ReportData(
        cycle,
        organisation,
        str(period),
        engine.clock.now(),
        measures,
        history,
        themes,
        exceptions,
        timeliness,
    )


def sparkline(points: list[tuple[str, float | None]], width: int = 120, height: int = 28) -> str:
    """A small inline SVG line of up to eight quarters (gaps where data is missing)."""
    values = [v for _, v in points if v is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(len(points) - 1, 1)
    coords = [
        f"{i * step:.1f},{height - 3 - (v - low) / span * (height - 6):.1f}"
        for i, (_, v) in enumerate(points)
        if v is not None
    ]
    label = ", ".join(f"{p}: {'no data' if v is None else f'{v:g}'}" for p, v in points)
    return (
        f'<svg role="img" aria-label="Last quarters: {escape(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="#1d70b8" '
        f'stroke-width="2" points="{" ".join(coords)}"/></svg>'
    )


def theme_chart(counts: Counter[str]) -> str:
    total = sum(counts[c] for c in ("green", "amber", "red")) or 1
    x, bars = 0.0, []
    for colour in ("green", "amber", "red"):
        w = 200 * counts[colour] / total
        if w:
            bars.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="16" fill="{COLOURS[colour]}"/>')
        x += w
    label = f"{counts['green']} green, {counts['amber']} amber, {counts['red']} red"
    frame = f'<svg role="img" aria-label="{label}" width="200" height="16" viewBox="0 0 200 16">'
    return frame + "".join(bars) + "</svg>"


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("pmf_engine", "templates"),
    autoescape=True,  # every template here is HTML (select_autoescape would miss ".html.j2")
    trim_blocks=True,
    lstrip_blocks=True,
)


def html(data: ReportData) -> str:
    return _env.get_template("report.html.j2").render(
        data=data,
        colours=COLOURS,
        arrows=ARROWS,
        sparkline=lambda code: Markup(sparkline(data.history.get(code, []))),  # noqa: S704 - numbers and escaped text
        theme_chart=lambda counts: Markup(theme_chart(counts)),  # noqa: S704 - numbers only
        when=lambda d: f"{london(d):%d %b %Y}",
    )


def xlsx(data: ReportData, path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Measures"
    sheet.append(
        ["Code", "Measure", "Theme", "Service", "Actual", "Target", "RAG", "Rule",
         "Since last quarter", "Since last year", "Narrative"]
    )  # fmt: skip
    for m in data.measures:
        sheet.append(
            [csv_safe(m.code), csv_safe(m.title), csv_safe(m.theme), m.service or "", m.actual, m.target,
             m.rag.status, m.rag.rule, m.since_last_quarter, m.since_last_year, csv_safe(m.narrative)]
        )  # fmt: skip
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    exceptions = book.create_sheet("Exception reports")
    exceptions.append(["Code", "Reason", "Remedial action", "Owner", "Recovery date"])
    for row in data.exceptions:
        exceptions.append([csv_safe(v) for v in row])
    timeliness = book.create_sheet("Timeliness")
    timeliness.append(["Stage", "Reached", "Working days after quarter end"])
    for t in data.timeliness:
        timeliness.append([t.stage, f"{london(t.reached):%Y-%m-%d %H:%M}", t.working_days])
    book.save(path)
