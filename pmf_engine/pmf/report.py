"""The quarterly committee report: HTML (self-contained, accessible, printable) and XLSX.

Per Council Plan theme a count of green, amber and red with a bar chart; each measure with
actual, target, RAG with the rule applied, direction of travel and a small chart of its last
eight quarters; the exception reports; and timeliness: working days from the end of the
quarter to each stage the cycle reached, from the audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
import openpyxl
from markupsafe import Markup, escape
from openpyxl.styles import Font
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from pmf_engine.core import audit
from pmf_engine.core.audit import csv_safe
from pmf_engine.core.clock import london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import AuditError, NotFound, NotNow
from pmf_engine.core.period import Period
from pmf_engine.core.registry import EffectContext
from pmf_engine.core.store import AuditEntry, Instance, Organisation
from pmf_engine.core.workdays import WorkingDays
from pmf_engine.pmf.actions import ActionView
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Actual, Measure, ReportSnapshot
from pmf_engine.pmf.performance import MeasureStatus, Performance, measure_statuses
from pmf_engine.pmf.projects import ProjectStatus, project_status
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.reporting import exception_reports

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
class Restatement:
    code: str
    period: str
    value: float | None
    previous: float | None
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Content:
    """What the report says about performance: frozen at Leadership Team sign-off."""

    cycle: str
    organisation: str
    period: str
    generated: datetime
    measures: list[MeasureStatus]
    projects: list[ProjectStatus]
    history: dict[str, list[tuple[str, float | None]]]
    themes: dict[str, dict[str, int]]
    exceptions: list[tuple[str, str, str, str, str]]


@dataclass(frozen=True)
class Frozen:
    at: datetime
    by: str
    sha256: str


@dataclass(frozen=True)
class ReportData:
    """The content (frozen or live) and what happens after it: timeliness, Scrutiny's actions
    and restatements of earlier quarters."""

    content: Content
    frozen: Frozen | None
    timeliness: list[Timeliness]
    actions: list[ActionView]
    restatements: list[Restatement]


_CONTENT = TypeAdapter(Content)


def canonical(content: Content) -> str:
    """The content as canonical JSON: the exact text that is stored and hashed."""
    return json.dumps(
        _CONTENT.dump_python(content, mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_in(s: Session, inst: Instance, rag: RagPolicy, now: datetime) -> Content:
    """The report's performance content as the database holds it now (in ``s``)."""
    period = Period.parse(inst.period)
    measures = measure_statuses(s, inst, rag)
    quarters = [period]
    for _ in range(7):
        quarters.insert(0, quarters[0].previous())
    names = [str(q) for q in quarters]
    ids = dict(
        s.execute(
            select(Measure.id, Measure.code).where(Measure.organisation_id == inst.organisation_id)
        ).all()
    )
    latest: dict[tuple[str, str], float | None] = {}
    if ids:
        for measure_id, p, value in s.execute(
            select(Actual.measure_id, Actual.period, Actual.value)
            .where(Actual.measure_id.in_(list(ids)), Actual.period.in_(names))
            .order_by(Actual.id)
        ).all():
            latest[(ids[measure_id], p)] = value
    history = {code: [(n, latest.get((code, n))) for n in names] for code in sorted(ids.values())}
    themes: dict[str, dict[str, int]] = {}
    for m in measures:
        counts = themes.setdefault(m.theme or "Other", dict.fromkeys(COLOURS, 0))
        counts[m.rag.status] += 1
    exceptions = [
        (code, r.reason, r.remedial_action, r.owner, r.recovery_date)
        for code, r in exception_reports(s, inst.id)
    ]
    organisation = s.execute(
        select(Organisation.name).where(Organisation.id == inst.organisation_id)
    ).scalar_one()
    return Content(
        cycle=inst.key,
        organisation=organisation,
        period=str(period),
        generated=now,
        measures=measures,
        projects=project_status(s, inst),
        history=history,
        themes=dict(sorted(themes.items())),
        exceptions=exceptions,
    )


def freeze(ctx: EffectContext, rag: RagPolicy) -> None:
    """The ``freeze_report`` effect: store the content and chain its hash into the audit log."""
    s = ctx.session
    inst = s.get(Instance, ctx.instance.id)
    assert inst is not None
    if s.scalar(select(ReportSnapshot.id).where(ReportSnapshot.instance_id == inst.id)) is not None:
        return  # frozen once; a cycle sent back and signed off again keeps its first report
    text = canonical(content_in(s, inst, rag, ctx.now))
    digest = hashlib.sha256(text.encode()).hexdigest()
    s.add(
        ReportSnapshot(
            instance_id=inst.id, content=text, sha256=digest, frozen_at=ctx.now, frozen_by=ctx.actor
        )
    )
    s.flush()
    audit.append(
        s,
        audit.AuditRecord(
            event="report.frozen",
            organisation=ctx.instance.organisation,
            instance=ctx.instance.key,
            actor=ctx.actor,
            data={"sha256": digest, "trigger": ctx.trigger},
        ),
        ctx.now,
    )


def verify_frozen(performance: Performance, cycle: str) -> str:
    """Check a frozen report against its hash and the audit entry; return the hash."""
    with performance.store.read() as s:
        inst = _cycle(s, cycle)
        snap = s.scalar(select(ReportSnapshot).where(ReportSnapshot.instance_id == inst.id))
        if snap is None:
            raise NotNow(f"the {cycle} report has not been frozen (it is frozen at Leadership Team sign-off)")
        logged = [
            json.loads(d).get("sha256")
            for d in s.scalars(
                select(AuditEntry.data).where(
                    AuditEntry.instance == cycle, AuditEntry.event == "report.frozen"
                )
            )
        ]
    actual = hashlib.sha256(snap.content.encode()).hexdigest()
    if actual != snap.sha256 or logged != [snap.sha256]:
        raise AuditError(
            f"the frozen {cycle} report does not match its hash: content {actual}, "
            f"stored {snap.sha256}, audit log {', '.join(map(str, logged)) or 'none'}"
        )
    return actual


def gather(framework: Framework, cycle: str) -> ReportData:
    """The report of ``cycle``: its frozen content once signed off, the live content before."""
    engine = framework.engine
    with engine.store.read() as s:
        inst = _cycle(s, cycle)
        snap = s.scalar(select(ReportSnapshot).where(ReportSnapshot.instance_id == inst.id))
        if snap is not None:
            content = _CONTENT.validate_python(json.loads(snap.content))
            frozen: Frozen | None = Frozen(snap.frozen_at, snap.frozen_by, snap.sha256)
        else:
            content, frozen = content_in(s, inst, framework.rag, engine.clock.now()), None
        timeliness = _timeliness(s, engine, inst)
        restatements = _restatements(s, inst)
        organisation = s.execute(
            select(Organisation.code).where(Organisation.id == inst.organisation_id)
        ).scalar_one()
    actions = [
        a
        for a in framework.actions.list_for(organisation)
        if a.cycle == cycle or (a.state == "open" and a.cycle < cycle)
    ]
    return ReportData(content, frozen, timeliness, actions, restatements)


def _cycle(s: Session, cycle: str) -> Instance:
    inst = s.scalar(
        select(Instance)
        .where(Instance.key == cycle, Instance.parent_id.is_(None))
        .options(joinedload(Instance.organisation), joinedload(Instance.workflow_version))
    )
    if inst is None:
        raise NotFound("cycle", cycle)
    return inst


def _timeliness(s: Session, engine: Engine, inst: Instance) -> list[Timeliness]:
    period = Period.parse(inst.period)
    wf = engine.definition(inst.workflow_version)
    workdays = WorkingDays(inst.organisation.holiday_subdivision)
    reached: dict[str, datetime] = {}
    for to_state, at in s.execute(
        select(AuditEntry.to_state, AuditEntry.at)
        .where(AuditEntry.instance == inst.key, AuditEntry.event.in_(("fired", "cycle.started")))
        .order_by(AuditEntry.seq)
    ).all():
        if to_state and to_state not in reached:
            reached[to_state] = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return [
        Timeliness(wf.states[state].label, when, workdays.between(period.end, london(when).date()))
        for state, when in reached.items()
        if state in wf.states
    ]


def _restatements(s: Session, inst: Instance) -> list[Restatement]:
    """Corrections of earlier quarters' figures made since the previous report was frozen (up
    to this one's freeze, if it has been)."""
    since = s.scalar(
        select(func.max(ReportSnapshot.frozen_at))
        .join(Instance, Instance.id == ReportSnapshot.instance_id)
        .where(
            Instance.organisation_id == inst.organisation_id,
            Instance.parent_id.is_(None),
            Instance.period < inst.period,
        )
    )
    until = s.scalar(select(ReportSnapshot.frozen_at).where(ReportSnapshot.instance_id == inst.id))
    query = (
        select(Actual, Measure.code)
        .join(Measure, Measure.id == Actual.measure_id)
        .where(
            Measure.organisation_id == inst.organisation_id,
            Actual.restatement_reason.is_not(None),
            Actual.period < inst.period,
        )
        .order_by(Actual.id)
    )
    if since is not None:
        query = query.where(Actual.reported_at > since)
    if until is not None:
        query = query.where(Actual.reported_at <= until)
    found = []
    for actual, code in s.execute(query).all():
        previous = s.scalar(
            select(Actual.value)
            .where(
                Actual.measure_id == actual.measure_id, Actual.period == actual.period, Actual.id < actual.id
            )
            .order_by(Actual.id.desc())
            .limit(1)
        )
        found.append(
            Restatement(
                code,
                actual.period,
                actual.value,
                previous,
                actual.restatement_reason or "",
                actual.reported_by,
                actual.reported_at,
            )
        )
    return found


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


def theme_chart(counts: dict[str, int]) -> str:
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
    loader=jinja2.PackageLoader("pmf_engine.pmf", "templates"),
    autoescape=True,  # every template here is HTML (select_autoescape would miss ".html.j2")
    trim_blocks=True,
    lstrip_blocks=True,
)


def html(data: ReportData) -> str:
    content = data.content
    return _env.get_template("report.html.j2").render(
        data=data,
        content=content,
        colours=COLOURS,
        arrows=ARROWS,
        sparkline=lambda code: Markup(sparkline(content.history.get(code, []))),  # noqa: S704 - numbers and escaped text
        theme_chart=lambda counts: Markup(theme_chart(counts)),  # noqa: S704 - numbers only
        when=lambda d: f"{london(d):%d %b %Y}",
        number=_number,
    )


def pdf(data: ReportData, path: Path) -> None:
    """The HTML report printed to PDF by WeasyPrint (a real layout engine, no browser)."""
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - needs Pango from the system; only the PDF format pays for it

    weasyprint.HTML(string=html(data)).write_pdf(path)


def _number(value: float | None, fmt: str = "number") -> str:
    if value is None:
        return "–"
    if fmt == "percent":
        return f"{value:g}%"
    if fmt == "currency":
        return f"£{value:,.2f}"
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"


def xlsx(data: ReportData, path: Path) -> None:
    content = data.content
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Measures"
    sheet.append(
        ["Code", "Measure", "Theme", "Service", "Actual", "Target", "RAG", "Basis", "Rule",
         "Since last quarter", "Since last year", "Narrative"]
    )  # fmt: skip
    for m in content.measures:
        sheet.append(
            [csv_safe(m.code), csv_safe(m.title), csv_safe(m.theme), m.service or "", m.actual,
             m.target, m.rag.status, m.basis, m.rag.rule, m.since_last_quarter, m.since_last_year,
             csv_safe(m.narrative)]
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
    exceptions: list[list[object]] = [list(row) for row in content.exceptions]
    _sheet(
        book, "Exception reports", ["Code", "Reason", "Remedial action", "Owner", "Recovery date"], exceptions
    )
    _sheet(
        book,
        "Scrutiny actions",
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
        ["Stage", "Reached", "Working days after quarter end"],
        [[t.stage, f"{london(t.reached):%Y-%m-%d %H:%M}", t.working_days] for t in data.timeliness],
    )
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    book.save(path)


def _sheet(book: openpyxl.Workbook, title: str, header: list[str], rows: Sequence[Sequence[object]]) -> None:
    sheet = book.create_sheet(title)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([csv_safe(v) if isinstance(v, str) else v for v in row])
