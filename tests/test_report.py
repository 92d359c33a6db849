"""The committee report: HTML parsed and checked, XLSX read back."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from pmf_engine.core.engine import Engine
from pmf_engine.pmf import report
from tests.conftest import CYCLE, ORG, services, settle_returns

FIXTURES = Path(__file__).parent / "fixtures" / "measures"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


@pytest.fixture
def data(engine: Engine) -> report.ReportData:
    perf = services(engine).performance
    perf.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2023-24-Q1", by="perf")
    perf.record_actual(f"{ORG}/2023-24-Q1", "WAS-01", 45, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "WAS-01", 40, narrative="Strike <b>hurt</b>", by="perf")
    perf.record_actual(CYCLE, "PLA-01", 70, by="perf")
    perf.add_exception_report(
        CYCLE,
        "WAS-01",
        reason="Strike",
        remedial_action="Extra rounds",
        owner="sm_waste",
        recovery_date="2024-12-31",
        by="perf",
    )
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    return report.gather(services(engine), CYCLE)


def test_html_report_content(data: report.ReportData) -> None:
    page = Page()
    page.feed(report.html(data))
    text = " ".join(page.text)
    assert "script" not in page.tags, "self-contained and static"
    assert page.attrs[0] == {"lang": "en-GB"} and "title" in page.tags
    assert "WAS-01: Household waste recycled" in text and "Red" in text and "Green" in text
    assert "GREEN" not in text and "RED" not in text, "RAG said as every page says it (rag.status_words)"
    assert "misses target 52 by more than 5% (higher is better)" in text
    assert "Strike <b>hurt</b>" in text, "narratives are escaped, not interpreted"
    assert "Extra rounds" in text and "▼ worsening" in text
    assert "Service review" in text  # timeliness: the stage reached
    assert "Sm_Waste" in text and "sm_waste" not in text, "the exception report's owner by name"
    svgs = [a for t, a in zip(page.tags, page.attrs, strict=True) if t == "svg"]
    assert svgs and all(a.get("role") == "img" and a.get("aria-label") for a in svgs)
    assert any("2023-24-Q1: 45" in (a.get("aria-label") or "") for a in svgs), "the 8-quarter chart"


def test_xlsx_report_reads_back(data: report.ReportData, tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    report.xlsx(data, path)
    book = openpyxl.load_workbook(path)
    rows = list(book["Measures"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Code", "Measure", "Theme")
    was = next(r for r in rows if r[0] == "WAS-01")
    assert (was[4], was[5], was[6]) == (40, 52, "red")
    assert [r[0] for r in book["Exception reports"].iter_rows(min_row=2, values_only=True)] == ["WAS-01"]
    stages = [r[0] for r in book["Timeliness"].iter_rows(min_row=2, values_only=True)]
    assert stages == ["Data request", "Service review"]


def _need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed (scripts/test.sh installs it)")
        pytest.skip(f"{program} is not installed")
    return found


def test_pdf_report_text(data: report.ReportData, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    report.pdf(data, path)
    assert path.read_bytes().startswith(b"%PDF-")
    reader = PdfReader(path)
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Quarterly performance report" in text
    assert "WAS-01:" in text and "Household waste" in text and "Extra rounds" in text
    assert "Scrutiny actions" in text and "Timeliness" in text


def test_libreoffice_reads_the_xlsx_report(data: report.ReportData, tmp_path: Path) -> None:
    """A real spreadsheet program opens what we write: LibreOffice converts it to CSV."""
    soffice = _need("soffice")
    path = tmp_path / "report.xlsx"
    report.xlsx(data, path)
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "csv",
         "--outdir", str(tmp_path / "out"), str(path)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    rows = list(csv.reader((tmp_path / "out" / "report.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0][:3] == ["Code", "Measure", "Theme"]
    was = next(r for r in rows if r[0] == "WAS-01")
    assert (was[4], was[5], was[6]) == ("40", "52", "red")
