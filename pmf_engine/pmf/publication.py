"""The public page of an organisation's published figures, one quarter at a time: built from
the public open-data tables (``opendata.tables`` with ``public=True``) and nothing else, so the
page can never show what the public feed withholds: an unpublished quarter, a measure not for
publication, a narrative or an owner.

Per Council Plan theme the page has the theme's RAG counts and each measure's status; per
measure, its figures and targets over the published quarters up to the one shown. Each comes
with the feed's address of the same rows as CSV (``?theme=`` or ``?measure=`` narrows them).

A year's annual report is published too, in its public version as frozen at the sign-off of
the year's Q4 cycle (``report.annual_snapshot``): only once that cycle is approved for
publication, and without measures marked ``publish: no``, restricted narrative or quarters not
approved for publication (history, unless ``open_data.history_published``); its figures as CSV.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select

from pmf_engine.core.errors import NotFound
from pmf_engine.core.period import Period, parse_period
from pmf_engine.core.store import Organisation
from pmf_engine.pmf import opendata
from pmf_engine.pmf.dashboard import quarterly_cycles
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import AnnualReportSnapshot
from pmf_engine.pmf.quality_marks import is_marked
from pmf_engine.pmf.report.annual import AnnualReport
from pmf_engine.pmf.report.annual_snapshot import frozen_annual, genuine_annual, q4_cycle
from pmf_engine.pmf.target_setting import parse_year

RAG_ORDER = ("red", "amber", "green", "no_target", "missing")
"""The order of the statuses in a theme's counts (the worst first)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One published quarter of a measure: its figure and target (``None``: none)."""

    period: str
    value: float | None
    target: float | None
    quality: str = ""
    """The figure's quality flag as the public feed has it (``""``: not stated)."""


@dataclass(frozen=True, slots=True)
class PublicMeasure:
    """A measure on the page: what it is, its status this quarter, and its published quarters."""

    code: str
    title: str
    unit: str
    polarity: str
    rag: str
    since_last_quarter: str
    since_last_year: str
    points: tuple[Point, ...]
    actuals_csv: str
    targets_csv: str
    fmt: str = "number"
    """How its figures are written: number, percent, currency or days (the feed's ``format``)."""


@dataclass(frozen=True, slots=True)
class PublicTheme:
    """A Council Plan theme: how many of its measures have each status, and the measures."""

    name: str
    counts: dict[str, int]
    measures: tuple[PublicMeasure, ...]
    rag_csv: str


@dataclass(frozen=True, slots=True)
class PublicQuarter:
    """The page of one published quarter."""

    organisation: str
    name: str
    period: str
    themes: tuple[PublicTheme, ...]
    rag_csv: str
    actuals_csv: str
    targets_csv: str
    marked: tuple[str, ...] = ()
    """The figures on the page marked provisional or estimated, as the note names them
    (``HOU-01 2024-25-Q1``), by measure code and quarter."""


def organisation_name(framework: Framework, organisation: str) -> str:
    """The organisation's name; ``NotFound`` if no organisation has the code."""
    with framework.engine.store.read() as s:
        name = s.scalar(select(Organisation.name).where(Organisation.code == organisation))
    if name is None:
        raise NotFound("organisation", organisation)
    return str(name)


def published_periods(framework: Framework, organisation: str) -> list[str]:
    """The quarters whose figures are approved for publication, newest first."""
    approved = opendata.published(framework)
    return [c.rsplit("/", 1)[1] for c in quarterly_cycles(framework, organisation) if approved(c)]


def feed_address(organisation: str, dataset: str, **query: str | list[str]) -> str:
    """The public feed's CSV address of ``dataset`` narrowed by ``query`` (``from``, ``to``,
    ``theme``, ``measure``)."""
    params = urlencode({k.rstrip("_"): v for k, v in query.items()}, doseq=True)
    return f"/api/v1/open/{organisation}/{dataset}.csv" + (f"?{params}" if params else "")


def public_quarter(framework: Framework, organisation: str, period: str) -> PublicQuarter:
    """The page of ``period``; ``NotFound`` unless it is a published quarter of the organisation."""
    name = organisation_name(framework, organisation)
    try:
        quarter = parse_period(period)
    except ValueError:
        raise NotFound("published quarter", f"{organisation}/{period}") from None
    if not isinstance(quarter, Period) or period not in published_periods(framework, organisation):
        raise NotFound("published quarter", f"{organisation}/{period}")
    found = opendata.tables(
        framework,
        organisation,
        ("measures", "actuals", "targets", "rag"),
        end=quarter,
        public=True,
        publishable=opendata.published(framework),
    )
    library = {row["code"]: row for row in found["measures"].rows}
    targets = {(r["measure"], r["period"]): r["target"] for r in found["targets"].rows}
    history: dict[str, list[Point]] = {}
    for row in found["actuals"].rows:
        key = (row["measure"], row["period"])
        history.setdefault(row["measure"], []).append(
            Point(row["period"], row["value"], targets.get(key), row["quality"] or "")
        )
    by_theme: dict[str, list[PublicMeasure]] = {}
    for row in found["rag"].rows:
        if row["period"] != period or row["measure"] not in library:
            continue
        code = row["measure"]
        about = library[code]
        by_theme.setdefault(about["theme"] or "", []).append(
            PublicMeasure(
                code=code,
                title=about["title"],
                unit=about["unit"],
                polarity=about["polarity"],
                rag=row["rag"],
                since_last_quarter=row["since_last_quarter"],
                since_last_year=row["since_last_year"],
                points=tuple(sorted(history.get(code, []), key=lambda p: p.period)),
                actuals_csv=feed_address(organisation, "actuals", to=period, measure=code),
                targets_csv=feed_address(organisation, "targets", to=period, measure=code),
                fmt=about["format"] or "number",
            )
        )
    themes = tuple(
        PublicTheme(
            name=theme,
            counts=_counts(measures),
            measures=tuple(measures),
            rag_csv=feed_address(organisation, "rag", from_=period, to=period, theme=theme),
        )
        for theme, measures in sorted(by_theme.items())
    )
    marked = tuple(
        f"{m.code} {p.period}"
        for m in sorted((m for t in themes for m in t.measures), key=lambda m: m.code)
        for p in m.points
        if is_marked(p.quality)
    )
    return PublicQuarter(
        organisation=organisation,
        name=name,
        period=period,
        themes=themes,
        rag_csv=feed_address(organisation, "rag", from_=period, to=period),
        actuals_csv=feed_address(organisation, "actuals", from_=period, to=period),
        targets_csv=feed_address(organisation, "targets", from_=period, to=period),
        marked=marked,
    )


def _counts(measures: list[PublicMeasure]) -> dict[str, int]:
    counted = Counter(m.rag for m in measures)
    return {status: counted.get(status, 0) for status in RAG_ORDER}


def published_years(framework: Framework, organisation: str) -> list[str]:
    """The financial years whose annual report is published (frozen, and its Q4 cycle
    approved for publication), newest first."""
    approved = opendata.published(framework)
    with framework.engine.store.read() as s:
        org_id = s.scalar(select(Organisation.id).where(Organisation.code == organisation))
        years = s.scalars(
            select(AnnualReportSnapshot.year)
            .where(AnnualReportSnapshot.organisation_id == org_id)
            .order_by(AnnualReportSnapshot.year.desc())
        ).all()
        found = [(y, genuine_annual(s, organisation, y)) for y in years]
        keys = {y: q4_cycle(s, snap) for y, snap in found if snap is not None}
    return [y for y, key in keys.items() if approved(key)]


def public_annual(framework: Framework, organisation: str, year: str) -> AnnualReport:
    """The public annual report of ``year`` as frozen at its Q4 sign-off; ``NotFound`` unless
    it is published (frozen by the engine, and its Q4 cycle approved for publication)."""
    organisation_name(framework, organisation)
    try:
        year = parse_year(year)
    except ValueError:
        raise NotFound("published annual report", f"{organisation}/{year}") from None
    if year not in published_years(framework, organisation):
        raise NotFound("published annual report", f"{organisation}/{year}")
    with framework.engine.store.read() as s:
        snap = genuine_annual(s, organisation, year)
        assert snap is not None  # published_years found it
        return frozen_annual(snap, public=True)


ANNUAL_COLUMNS = (
    "measure", "title", "theme", "unit", "q1", "q2", "q3", "q4", "outturn", "outturn_note",
    "annual_target", "original_target", "revised_target", "rag", "since_last_year",
    "q1_quality", "q2_quality", "q3_quality", "q4_quality", "outturn_quality",
)  # fmt: skip
"""The columns of a published annual report's CSV: one row per measure; a quarter withheld
from publication (or not reported) is empty. The quality columns (added last, so a consumer
reading by position does not break) hold each quarter's figure's flag (validated, estimated,
provisional; empty: not stated) and the outturn's mark (estimated or provisional when a figure
it is built from is: ``AnnualMeasure.outturn_quality``)."""


def annual_csv(found: AnnualReport) -> str:
    """The figures of a public annual report as CSV (``ANNUAL_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ANNUAL_COLUMNS)
    for m in found.measures:
        quarters = [_figure(q.value) for q in m.quarters]
        writer.writerow(
            [
                m.code,
                m.title,
                m.theme,
                m.unit,
                *quarters,
                _figure(m.outturn),
                m.outturn_note,
                _figure(m.target),
                _figure(m.original),
                _figure(m.revised),
                m.rag.status,
                m.since_last_year,
                *(q.quality for q in m.quarters),
                m.outturn_quality,
            ]
        )
    return out.getvalue()


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)
