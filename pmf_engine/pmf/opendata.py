"""The open-data feed: an organisation's measures and their quarterly figures as tables a
spreadsheet, Power BI or a script can read (CSV, JSON, XLSX), versioned by ``SCHEMA``.

Five datasets, each a documented list of columns (``DATASETS``):

* ``measures``: the measures library (code, title, theme, service, unit, polarity, ...);
* ``actuals``: each measure's figure per quarter, its year-end forecast, whether it was
  restated after the report was frozen, and its quality flag (validated, estimated,
  provisional: the last column, public too);
* ``targets``: the target in force for each measure per quarter;
* ``rag``: the RAG status per measure per quarter, the basis and the rule that decided it,
  and the direction of travel;
* ``exceptions``: the exception reports of the measures that missed their target.

Figures are the report's: a quarter's frozen report once it was signed off, the live figures
before. The public feed holds only quarters ``publishable`` names (figures approved for
publication), only measures whose ``publish`` flag is on, and no narrative, owner or other
restricted column; the authenticated feed holds every quarter, measure and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.audit.export import csv_safe
from pmf_engine.core.errors import NotFound
from pmf_engine.core.period import Period, parse_period
from pmf_engine.core.store import Instance, Organisation, Service, WorkflowVersion
from pmf_engine.pmf import quality_marks
from pmf_engine.pmf.dashboard import quarterly_cycles
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.report.content import performance
from pmf_engine.pmf.status import MeasureStatus

SCHEMA = "1"
"""The feed's version: a column is never renamed, retyped or removed within one version."""
FORMATS = ("csv", "json", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ColumnType = Literal["string", "number", "boolean"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dataset: its name, type, meaning, and whether the public feed has it."""

    name: str
    type: ColumnType
    description: str
    public: bool = True


@dataclass(frozen=True, slots=True)
class Quarter:
    """One quarterly cycle's reported figures."""

    organisation: str
    period: str
    cycle: str
    frozen: bool
    measures: list[MeasureStatus]
    exceptions: list[tuple[str, str, str, str, str]]


Row = dict[str, Any]
_ORG = Column("organisation", "string", "The organisation's code")
_PERIOD = Column("period", "string", "The financial quarter, e.g. 2024-25-Q1 (April to June 2024)")
_MEASURE = Column("measure", "string", "The measure's code")

DATASETS: dict[str, tuple[Column, ...]] = {
    "measures": (
        _ORG,
        Column("code", "string", "The measure's code"),
        Column("title", "string", "What the measure counts"),
        Column("theme", "string", "The Council Plan theme it reports to"),
        Column("priority", "string", "The Council Plan priority"),
        Column("service", "string", "The code of the service that reports it"),
        Column("unit", "string", "The unit of its figures (%, days, GBP, ...)"),
        Column("format", "string", "number, percent, currency or days"),
        Column("polarity", "string", "higher or lower: which way is better"),
        Column("frequency", "string", "How often it is reported"),
        Column("data_source", "string", "Where the figure comes from"),
        Column("owner", "string", "The officer accountable for it", public=False),
        Column("publish", "boolean", "Its figures are approved for publication", public=False),
    ),
    "actuals": (
        _ORG,
        _PERIOD,
        _MEASURE,
        Column("value", "number", "The quarter's figure (empty: none reported)"),
        Column("forecast", "number", "The year-end forecast given with it"),
        Column("unit", "string", "The unit of the figure"),
        Column("restated", "boolean", "Corrected after the quarter's report was frozen"),
        Column("missing_reason", "string", "Why there is no figure, when none was reported"),
        Column("narrative", "string", "The service's commentary", public=False),
        Column("report_frozen", "boolean", "The figure is the signed-off report's (else live)"),
        Column(
            "quality",
            "string",
            "How sure the figure is: validated, estimated or provisional (empty: not stated); "
            f"estimated and provisional figures are marked in the reports. {quality_marks.EXPLANATION}",
        ),  # added last: a consumer reading the columns by position does not break
    ),
    "targets": (
        _ORG,
        _PERIOD,
        _MEASURE,
        Column("target", "number", "The target in force for the quarter (empty: none set)"),
        Column("unit", "string", "The unit of the target"),
    ),
    "rag": (
        _ORG,
        _PERIOD,
        _MEASURE,
        Column("rag", "string", "green, amber, red, no_target or missing"),
        Column("rule", "string", "How the status was decided, in words"),
        Column("basis", "string", "What was compared: the quarter, the year to date or the forecast"),
        Column("compared", "number", "The figure compared with the target"),
        Column("compared_target", "number", "The target it was compared with"),
        Column("since_last_quarter", "string", "improving, worsening, no_change or unknown"),
        Column("since_last_year", "string", "The same against the quarter a year before"),
    ),
    "exceptions": (
        _ORG,
        _PERIOD,
        _MEASURE,
        Column("reason", "string", "Why the measure missed its target"),
        Column("remedial_action", "string", "What is being done about it"),
        Column("owner", "string", "Who leads the recovery", public=False),
        Column("recovery_date", "string", "When it should be back on target (YYYY-MM-DD)"),
    ),
}


@dataclass(frozen=True, slots=True)
class Table:
    """A dataset's columns and rows, ready to be written in any of ``FORMATS``."""

    dataset: str
    organisation: str
    columns: tuple[Column, ...]
    rows: list[Row]
    public: bool
    generated: datetime

    def etag(self, fmt: str) -> str:
        """A strong validator of the table's content in ``fmt`` (not of when it was generated)."""
        body = json.dumps([[c.name for c in self.columns], self.rows], default=str, sort_keys=True)
        digest = hashlib.sha256(f"{SCHEMA}:{fmt}:{self.public}:{body}".encode()).hexdigest()
        return f'"{digest[:32]}"'


def published(framework: Framework) -> Callable[[str], bool]:
    """Whether a cycle's figures are approved for publication: it is in one of the states
    ``framework.yaml``'s ``open_data.published_in`` lists for its workflow. The states are read
    once, at the first question (in one query for all the cycles): ask a new one per request."""
    published_in = framework.policies.framework.open_data.published_in
    states: dict[str, tuple[str, str]] = {}

    def approved(cycle: str) -> bool:
        if not states:
            with framework.engine.store.read() as s:
                states.update(
                    (key, (name, state))
                    for key, name, state in s.execute(
                        select(Instance.key, WorkflowVersion.name, Instance.state)
                        .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                        .where(Instance.parent_id.is_(None), Instance.key.in_(_cycles_beside(s, cycle)))
                    ).all()
                )
        found = states.get(cycle)
        return found is not None and found[1] in published_in.get(found[0], ())

    return approved


def _cycles_beside(s: Session, cycle: str) -> list[str]:
    """The keys of the top-level instances of ``cycle``'s organisation (``cycle`` included)."""
    org = s.scalar(select(Instance.organisation_id).where(Instance.key == cycle))
    if org is None:
        return [cycle]
    return list(
        s.scalars(select(Instance.key).where(Instance.organisation_id == org, Instance.parent_id.is_(None)))
    )


def require_organisation(framework: Framework, organisation: str) -> None:
    """``NotFound`` unless an organisation has the code ``organisation``."""
    with framework.engine.store.read() as s:
        if s.execute(select(Organisation.id).where(Organisation.code == organisation)).first() is None:
            raise NotFound("organisation", organisation)


def parse_range(start: str | None, end: str | None) -> tuple[Period | None, Period | None]:
    """The quarters ``start`` and ``end`` name (either may be absent); ``ValueError`` names the
    one that is not a quarter or a range that ends before it starts."""
    bounds: list[Period | None] = []
    for name, text in (("from", start), ("to", end)):
        if not text:
            bounds.append(None)
            continue
        try:
            period = parse_period(text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        if not isinstance(period, Period):
            raise ValueError(f"{name}: {text!r} is not a quarter like 2024-25-Q1")
        bounds.append(period)
    first, last = bounds
    if first and last and (last.start_year, last.quarter) < (first.start_year, first.quarter):
        raise ValueError(f"to: {last} is before from: {first}")
    return first, last


def quarters(
    framework: Framework,
    organisation: str,
    *,
    start: Period | None = None,
    end: Period | None = None,
    publishable: Callable[[str], bool] | None = None,
) -> list[Quarter]:
    """The organisation's quarterly cycles from ``start`` to ``end``, oldest first; with
    ``publishable``, only the cycles it accepts."""
    found: list[Quarter] = []
    for cycle in reversed(quarterly_cycles(framework, organisation)):
        period = parse_period(cycle.rsplit("/", 1)[1])
        assert isinstance(period, Period)  # quarterly_cycles gives quarters only
        order = (period.start_year, period.quarter)
        if (start and order < (start.start_year, start.quarter)) or (
            end and order > (end.start_year, end.quarter)
        ):
            continue
        if publishable is not None and not publishable(cycle):
            continue
        figures = performance(framework, cycle)
        found.append(
            Quarter(organisation, figures.period, cycle, figures.frozen, figures.measures, figures.exceptions)
        )
    return found


def table(
    framework: Framework,
    organisation: str,
    dataset: str,
    *,
    start: Period | None = None,
    end: Period | None = None,
    public: bool = False,
    publishable: Callable[[str], bool] | None = None,
    only: Collection[str] | None = None,
) -> Table:
    """``dataset`` of ``organisation`` (``KeyError`` for an unknown dataset); ``public``
    leaves out restricted columns, measures not for publication, and quarters ``publishable``
    does not accept; ``only`` keeps the rows of those measure codes alone."""
    return tables(
        framework,
        organisation,
        (dataset,),
        start=start,
        end=end,
        public=public,
        publishable=publishable,
        only=only,
    )[dataset]


def tables(
    framework: Framework,
    organisation: str,
    datasets: Sequence[str],
    *,
    start: Period | None = None,
    end: Period | None = None,
    public: bool = False,
    publishable: Callable[[str], bool] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Table]:
    """``table`` for each of ``datasets``, reading each quarter's figures once for them all."""
    wanted = {d: DATASETS[d] for d in datasets}  # an unknown one: KeyError, before any read
    require_organisation(framework, organisation)
    chosen = (
        quarters(framework, organisation, start=start, end=end, publishable=publishable if public else None)
        if any(d != "measures" for d in datasets)
        else []
    )
    withheld = unpublished(framework, organisation) if public else set()
    now = framework.engine.clock.now()
    found: dict[str, Table] = {}
    for dataset, all_columns in wanted.items():
        columns = tuple(c for c in all_columns if c.public or not public)
        rows = _measures(framework, organisation) if dataset == "measures" else list(_ROWS[dataset](chosen))
        key = "code" if dataset == "measures" else "measure"
        rows = [r for r in rows if r[key] not in withheld and (only is None or r[key] in only)]
        names = [c.name for c in columns]
        found[dataset] = Table(
            dataset, organisation, columns, [{n: row.get(n) for n in names} for row in rows], public, now
        )
    return found


def selection(
    framework: Framework, organisation: str, measures: Sequence[str] = (), theme: str | None = None
) -> set[str] | None:
    """The measure codes a request narrows the rows to: those named, of ``theme`` (as the
    library has it now), or both; ``None`` when it names neither (every measure)."""
    if not measures and theme is None:
        return None
    chosen = set(measures) if measures else None
    if theme is not None:
        with framework.engine.store.read() as s:
            of_theme = set(
                s.scalars(
                    select(Measure.code)
                    .join(Organisation, Organisation.id == Measure.organisation_id)
                    .where(Organisation.code == organisation, Measure.theme == theme)
                )
            )
        chosen = of_theme if chosen is None else chosen & of_theme
    return chosen


def unpublished(framework: Framework, organisation: str) -> set[str]:
    """The codes of the organisation's measures not approved for publication (``publish`` off):
    the flag as it is now, for every quarter, frozen ones included."""
    with framework.engine.store.read() as s:
        return set(
            s.scalars(
                select(Measure.code)
                .join(Organisation, Organisation.id == Measure.organisation_id)
                .where(Organisation.code == organisation, Measure.publish.is_(False))
            )
        )


def _measures(framework: Framework, organisation: str) -> list[Row]:
    with framework.engine.store.read() as s:
        found = s.execute(
            select(Measure, Service.code)
            .join(Organisation, Organisation.id == Measure.organisation_id)
            .outerjoin(Service, Service.id == Measure.service_id)
            .where(Organisation.code == organisation)
            .order_by(Measure.code)
        ).all()
        return [
            {
                "organisation": organisation,
                "code": m.code,
                "title": m.title,
                "theme": m.theme,
                "priority": m.priority,
                "service": service or "",
                "unit": m.unit,
                "format": m.format,
                "polarity": m.polarity,
                "frequency": m.frequency,
                "data_source": m.data_source,
                "owner": m.owner,
                "publish": m.publish,
            }
            for m, service in found
        ]


def _figure_rows(found: Iterable[Quarter]) -> Iterable[tuple[Quarter, MeasureStatus, Row]]:
    for q in found:
        for m in sorted(q.measures, key=lambda m: m.code):
            yield q, m, {"organisation": q.organisation, "period": q.period, "measure": m.code}


def _actuals(found: Iterable[Quarter]) -> Iterable[Row]:
    for q, m, row in _figure_rows(found):
        yield row | {
            "value": m.actual,
            "forecast": m.forecast,
            "unit": m.unit,
            "restated": m.restated,
            "missing_reason": m.missing_reason,
            "narrative": m.narrative,
            "report_frozen": q.frozen,
            "quality": m.quality,
        }


def _targets(found: Iterable[Quarter]) -> Iterable[Row]:
    for _, m, row in _figure_rows(found):
        yield row | {"target": m.target, "unit": m.unit}


def _rag(found: Iterable[Quarter]) -> Iterable[Row]:
    for _, m, row in _figure_rows(found):
        yield row | {
            "rag": m.rag.status,
            "rule": m.rag.rule,
            "basis": m.basis,
            "compared": m.compared,
            "compared_target": m.compared_target,
            "since_last_quarter": m.since_last_quarter,
            "since_last_year": m.since_last_year,
        }


def _exceptions(found: Iterable[Quarter]) -> Iterable[Row]:
    for q in found:
        for code, reason, action, owner, recovery in sorted(q.exceptions):
            yield {
                "organisation": q.organisation,
                "period": q.period,
                "measure": code,
                "reason": reason,
                "remedial_action": action,
                "owner": owner,
                "recovery_date": recovery,
            }


_ROWS: dict[str, Callable[[Iterable[Quarter]], Iterable[Row]]] = {
    "actuals": _actuals,
    "targets": _targets,
    "rag": _rag,
    "exceptions": _exceptions,
}


# -- writing ------------------------------------------------------------------------------------


def render(t: Table, fmt: str) -> bytes:
    """The table in ``fmt`` (one of ``FORMATS``; ``KeyError`` for another)."""
    if fmt not in FORMATS:
        raise KeyError(fmt)
    if fmt == "csv":
        return to_csv(t).encode("utf-8")
    if fmt == "json":
        return to_json(t).encode("utf-8")
    return to_xlsx(t)


def _cell(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "number":
        return int(value) if float(value).is_integer() else value  # 41, not 41.0
    return csv_safe(value)


def to_csv(t: Table) -> str:
    """A header row of column names, then the rows; text that a spreadsheet would run as a
    formula starts with an apostrophe; numbers are plain; an empty cell is no value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in t.columns])
    for row in t.rows:
        writer.writerow([_cell(c, row[c.name]) for c in t.columns])
    return out.getvalue()


def describe(columns: Sequence[Column]) -> list[dict[str, str]]:
    """The columns as the JSON document's ``columns`` give them."""
    return [{"name": c.name, "type": c.type, "description": c.description} for c in columns]


def to_json(t: Table) -> str:
    """``{"schema", "dataset", "organisation", "public", "generated", "columns", "rows"}``."""
    return json.dumps(
        {
            "schema": SCHEMA,
            "dataset": t.dataset,
            "organisation": t.organisation,
            "public": t.public,
            "generated": t.generated.isoformat(),
            "columns": describe(t.columns),
            "rows": t.rows,
        },
        ensure_ascii=False,
    )


def to_xlsx(t: Table) -> bytes:
    """One sheet of the rows (text cells never formulas) and one of the columns' meanings."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has its sheet
    sheet.title = t.dataset
    sheet.append([c.name for c in t.columns])
    for row in t.rows:
        sheet.append([_xlsx_cell(c, row[c.name]) for c in t.columns])
    sheet.freeze_panes = "A2"
    about = book.create_sheet("columns")
    about.append(["name", "type", "description"])
    for c in t.columns:
        about.append([c.name, c.type, c.description])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(column: Column, value: Any) -> Any:
    if value is None or column.type != "string":
        return value
    text = str(value)
    return csv_safe(text)
