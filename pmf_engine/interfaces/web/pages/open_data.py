"""The public pages of published figures, with no sign-in: ``/open/{org}`` lists the quarters
approved for publication, ``/open/{org}/{period}`` shows one; ``/open/{org}/annual/{year}`` the
year's public annual report once frozen and approved (``.csv``: its figures). Each chart is followed by its
data as a table and the public feed's CSV of the same rows; nothing is shown that the public
feed (``/api/v1/open/...``) withholds, and an unpublished quarter is not found."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import FrameworkDep, Render
from pmf_engine.interfaces.web.rendering import csv_download
from pmf_engine.pmf import publication, report
from pmf_engine.pmf.publication import PublicMeasure
from pmf_engine.pmf.report import AnnualMeasure, AnnualReport

router = APIRouter()


@router.get("/open/{org}")
def published_quarters(org: str, framework: FrameworkDep, render: Render) -> Response:
    """The organisation's published quarters, newest first, and the open-data feed's address."""
    name = publication.organisation_name(framework, org)
    periods = [(p, wording.period_words(p)) for p in publication.published_periods(framework, org)]
    years = publication.published_years(framework, org)
    return render(
        "open_index.html",
        {
            "title": f"{name}: published performance figures",
            "org": org,
            "name": name,
            "periods": periods,
            "years": years,
        },
    )


@router.get("/open/{org}/annual/{year}.csv")
def published_annual_csv(org: str, year: str, framework: FrameworkDep) -> Response:
    """The published annual report's figures, one row per measure."""
    found = publication.public_annual(framework, org, year)
    return csv_download(publication.annual_csv(found), f"{org}-annual-report-{found.year}.csv")


@router.get("/open/{org}/annual/{year}")
def published_annual(org: str, year: str, framework: FrameworkDep, render: Render) -> Response:
    """The published annual report of a financial year: its public version, as frozen."""
    found = publication.public_annual(framework, org, year)
    return render(
        "open_annual.html",
        {
            "title": f"{found.organisation}: annual performance report {found.year}",
            "report": found,
            "org": org,
            "themes": _by_theme(found),
        },
    )


def _by_theme(found: AnnualReport) -> list[tuple[str, list[AnnualMeasure]]]:
    themes: dict[str, list[AnnualMeasure]] = {}
    for m in found.measures:
        themes.setdefault(m.theme or "Other measures", []).append(m)
    return sorted(themes.items())


@router.get("/open/{org}/{period}")
def published_quarter(org: str, period: str, framework: FrameworkDep, render: Render) -> Response:
    """One published quarter: per theme its RAG counts and each measure's figures over time."""
    quarter = publication.public_quarter(framework, org, period)
    charts = {
        m.code: _history(m, f"chart-{i}") for i, m in enumerate(m for t in quarter.themes for m in t.measures)
    }
    return render(
        "open_quarter.html",
        {
            "title": f"{quarter.name}: performance, {wording.period_words(period)}",
            "quarter": quarter,
            "words": wording.period_words(period),
            "theme_charts": {
                t.name: Markup(report.theme_chart(t.counts))  # noqa: S704 - numbers only
                for t in quarter.themes
            },
            "charts": charts,
        },
    )


def _history(m: PublicMeasure, chart_id: str) -> Markup:
    label = (
        f"{m.code} {m.title}: figures"
        + (f" in {m.unit}" if m.unit else "")
        + " and targets, "
        + "; ".join(
            f"{p.period} {'no figure' if p.value is None else f'{p.value:g}'}"
            f"{'' if p.target is None else f' against {p.target:g}'}"
            for p in m.points
        )
    )
    points = [(p.period, p.value, p.target) for p in m.points]
    return Markup(report.history_chart(points, label=label, chart_id=chart_id))  # noqa: S704 - escaped
