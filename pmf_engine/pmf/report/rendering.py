"""The report as HTML (self-contained, accessible, printable) and as PDF printed from it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pmf_engine.core.clock import london
from pmf_engine.pmf import quality_marks
from pmf_engine.pmf.comparison import group_label
from pmf_engine.pmf.rag import status_words
from pmf_engine.pmf.report.annual import AnnualReport
from pmf_engine.pmf.report.charts import COLOURS, sparkline, theme_chart
from pmf_engine.pmf.report.content import ReportData
from pmf_engine.pmf.report.heatmap import grid, heat_map
from pmf_engine.pmf.words import day_words

ARROWS = {"improving": "▲ improving", "worsening": "▼ worsening", "no_change": "► no change", "unknown": "–"}
"""Direction of travel as the report prints it."""

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("pmf_engine.pmf", "templates"),
    autoescape=True,  # every template here is HTML (select_autoescape would miss ".html.j2")
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(quality_mark=quality_marks.mark, quality_note=quality_marks.note)
_env.filters["rag"] = status_words


def _when(moment: datetime) -> str:
    """A moment's day in London as people write it: ``1 Oct 2026``."""
    local = london(moment)
    return f"{local.day} {local:%b %Y}"


def _day(iso: object) -> str:
    """An ISO date (``2027-03-31``) as people write it (``31 March 2027``); anything else as it is."""
    try:
        return day_words(date.fromisoformat(str(iso)))
    except ValueError:
        return str(iso)


_env.filters["day"] = _day


def html(data: ReportData) -> str:
    """The report as one HTML page."""
    content = data.content
    return _env.get_template("report.html.j2").render(
        data=data,
        content=content,
        colours=COLOURS,
        arrows=ARROWS,
        sparkline=lambda code: Markup(sparkline(content.history.get(code, []))),  # noqa: S704 - numbers and escaped text
        theme_chart=lambda counts: Markup(theme_chart(counts)),  # noqa: S704 - numbers only
        heat_map=lambda section: Markup(heat_map(section)),  # noqa: S704 - numbers and escaped text
        grid=grid,
        when=_when,
        number=_number,
        group_label=group_label,
    )


def pdf(data: ReportData, path: Path) -> None:
    """The HTML report printed to PDF by WeasyPrint (a real layout engine, no browser)."""
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - needs Pango from the system; only the PDF format pays for it

    weasyprint.HTML(string=html(data)).write_pdf(path)


def annual_html(found: AnnualReport) -> str:
    """The annual report as one HTML page (the public version leaves out restricted narrative)."""
    return _env.get_template("annual_report.html.j2").render(
        report=found,
        colours=COLOURS,
        arrows=ARROWS,
        when=_when,
        number=_number,
    )


def annual_pdf(found: AnnualReport, path: Path) -> None:
    """The annual report printed to PDF by WeasyPrint."""
    import weasyprint  # noqa: PLC0415 - needs Pango from the system; only the PDF format pays for it

    weasyprint.HTML(string=annual_html(found)).write_pdf(path)


def _number(value: float | None, fmt: str = "number") -> str:
    if value is None:
        return "–"
    if fmt == "percent":
        return f"{value:g}%"
    if fmt == "currency":
        return f"£{value:,.2f}"
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"


_PRINTED_FROM = "https://pmf-engine.invalid/"
"""The base a printed page's links resolve against; only ``static/`` under it is read."""


def print_page(html: str, static: Path) -> bytes:
    """A web page printed to PDF by WeasyPrint, ``/static/...`` read from the folder ``static``;
    any other address is refused (a page prints nothing from the network)."""
    import weasyprint  # noqa: PLC0415 - needs Pango from the system; only the PDF format pays for it
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]  # noqa: PLC0415

    root = static.resolve()
    prefix = _PRINTED_FROM + "static/"
    kinds = {".css": "text/css", ".woff2": "font/woff2", ".woff": "font/woff", ".svg": "image/svg+xml"}

    class StaticFiles(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            path = (root / url.removeprefix(prefix).split("?", 1)[0]).resolve()
            if not url.startswith(prefix) or not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"not printed: {url}")
            kind = kinds.get(path.suffix, "application/octet-stream")
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": kind})

    document = weasyprint.HTML(string=html, base_url=_PRINTED_FROM, url_fetcher=StaticFiles())
    return bytes(document.write_pdf())
