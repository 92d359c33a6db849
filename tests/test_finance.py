"""Finance beside performance: services' budgets and forecast outturns per quarter, imported
from CSV or Excel all or nothing (every problem named by file, line and column), replaced on
re-import, audited with the file's hash; the variance shown with each service's measures in
the report and on the measures page; ``pmf finance import --org``."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError
from pmf_engine.core.store import Store
from pmf_engine.pmf import report
from pmf_engine.pmf.finance import FinanceView
from tests import test_cli, test_web
from tests.conftest import CYCLE, ORG, seed, services
from tests.test_web import sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "measures"
pmf = test_cli.pmf  # the fixtures: the CLI on a rehearsal database, on each backend
cli_db = test_cli.cli_db
client = test_web.client  # the fixture: a signed-out browser over the test council

GOOD = (
    "service,period,budget,forecast_outturn,note\n"
    "HOUSING,2024-25-Q1,1250000,1310000,Temporary accommodation demand\n"
    "WASTE,2024-25-Q1,2400000,2376000,\n"
    "PLANNING,2024-25-Q1,0,15000,Fee income below profile\n"
)


def test_import_then_read_with_variance(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    finance = services(engine).finance
    assert finance.import_finance(ORG, path, by="perf") == (3, 0)
    lines = {f.service: f for f in finance.lines(ORG, "2024-25-Q1")}
    housing = lines["HOUSING"]
    assert (housing.budget, housing.forecast_outturn, housing.variance) == (1250000, 1310000, 60000)
    assert housing.variance_percent == pytest.approx(4.8)
    assert lines["WASTE"].variance == -24000 and lines["PLANNING"].variance_percent is None
    assert housing.note == "Temporary accommodation demand"
    with engine.store.read() as s:
        entry = [e for e in audit.iter_entries(s, chain=ORG) if e.event == "finance.imported"]
    data = json.loads(entry[-1].data)
    assert (data["added"], data["updated"], data["periods"]) == (3, 0, ["2024-25-Q1"])
    assert len(data["sha256"]) == 64


def test_a_reimport_replaces_the_quarter_it_names(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    finance = services(engine).finance
    finance.import_finance(ORG, path, by="perf")
    path.write_text("service,period,budget,forecast_outturn\nHOUSING,2024-25-Q1,1250000,1290000\n")
    assert finance.import_finance(ORG, path, by="perf") == (0, 1)
    lines = {f.service: f for f in finance.lines(ORG)}
    assert lines["HOUSING"].forecast_outturn == 1290000 and lines["WASTE"].forecast_outturn == 2376000


def test_every_problem_is_named_by_line_and_column_and_nothing_imported(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "service,period,budget,forecast_outturn,note\n"
        "HOUSING,2024-25-Q1,1250000,1310000,\n"
        "HOUSNG,2024-25-Q1,10,10,\n"
        "WASTE,2024-25-Q5,10,10,\n"
        "PLANNING,2024-25-Q1,lots,10,\n"
        "PLANNING,2024-25-Q2,10,inf,\n"
        "WASTE,2024-25-Q2,10,10,=cmd|' /C calc'!A0\n"
        "HOUSING,2024-25-Q1,1,1,\n"
    )
    finance = services(engine).finance
    with pytest.raises(DataFileError) as refused:
        finance.import_finance(ORG, path, by="perf")
    where = {(p.line, p.field) for p in refused.value.problems}
    assert {(4, "period"), (5, "budget"), (6, "forecast_outturn"), (7, "note"), (8, "service")} <= where
    assert all(p.file == str(path) for p in refused.value.problems)
    path.write_text(
        "service,period,budget,forecast_outturn\nHOUSING,2024-25-Q1,1,1\nHOUSNG,2024-25-Q1,10,10\n"
    )
    with pytest.raises(DataFileError) as unknown:
        finance.import_finance(ORG, path, by="perf")
    assert [(p.line, p.field) for p in unknown.value.problems] == [(3, "service")]
    assert finance.lines(ORG) == [], "all or nothing"


def test_a_missing_column_is_refused_at_the_header(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("service,period,budget\nHOUSING,2024-25-Q1,1\n")
    with pytest.raises(DataFileError, match="forecast_outturn"):
        services(engine).finance.import_finance(ORG, path, by="perf")


def test_excel_import_and_a_formula_cell_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "finance.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [line.split(",") for line in GOOD.splitlines()]:
        sheet.append([float(c) if c.isdigit() else c for c in row])
    book.save(path)
    assert services(engine).finance.import_finance(ORG, path, by="perf") == (3, 0)
    sheet["C2"] = "=1+1"
    book.save(path)
    with pytest.raises(DataFileError) as refused:
        services(engine).finance.import_finance(ORG, path, by="perf")
    assert refused.value.problems[0].line == 2


def test_report_and_measures_page_show_finance_with_each_services_measures(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    framework = services(engine)
    framework.finance.import_finance(ORG, path, by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 35, narrative="Voids backlog", by="sm_housing")
    data = report.gather(framework, CYCLE)
    assert [f.service for f, _ in data.content.by_service()] == ["HOUSING", "PLANNING", "WASTE"]
    housing_measures = dict((f.service, [m.code for m in ms]) for f, ms in data.content.by_service())
    assert housing_measures["HOUSING"] == ["HOU-01"]
    html = report.html(data)
    assert 'id="finance"' in html and "£1,310,000.00" in html and "(+4.8%)" in html and "overspend" in html
    assert "HOU-01 Red" in html
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}/measures").text
    assert "Finance beside performance" in page and "+£60,000.00" in page
    assert "Temporary accommodation" in page


def test_finance_is_frozen_with_the_report(engine: Engine, cycle: str, tmp_path: Path) -> None:
    """The figures at sign-off stay in the frozen report: the content round-trips its finance."""
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    services(engine).finance.import_finance(ORG, path, by="perf")
    content = report.gather(services(engine), CYCLE).content
    again = TypeAdapter(report.Content).validate_json(report.canonical(content))
    assert again.finance == content.finance and isinstance(again.finance[0], FinanceView)


def test_cli_finance_import_and_list(pmf, cli_db: str, tmp_path: Path, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    store = Store(cli_db)
    seed(Engine(store, catalog, SystemClock()))
    store.dispose()
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    refused = pmf("finance", "import", "--org", "TDC", str(path), "--as", "sm_housing")
    assert refused.exit_code == 1 and "finance.manage" in refused.stderr
    done = pmf("finance", "import", "--org", "TDC", str(path), "--as", "perf")
    assert done.exit_code == 0 and "3 finance line(s) added, 0 updated" in done.stdout
    listed = pmf("finance", "list", "--org", "TDC", "--period", "2024-25-Q1").stdout
    assert "HOUSING" in listed and "+60,000.00 (+4.8%)" in listed
    path.write_text("service,period,budget,forecast_outturn\nHOUSING,2024-25-Q9,1,1\n")
    bad = pmf("finance", "import", "--org", "TDC", str(path), "--as", "perf")
    assert bad.exit_code == 1 and "finance.csv:2: [period]" in bad.stderr


def test_the_report_workbook_has_a_finance_sheet_and_the_quality_column(
    engine: Engine, cycle: str, tmp_path: Path
) -> None:
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    framework.finance.import_finance(ORG, path, by="perf")
    framework.performance.record_actual(cycle, "WAS-01", 55, quality="provisional", by="sm_waste")
    out = tmp_path / "report.xlsx"
    report.xlsx(report.gather(framework, cycle), out)
    book = openpyxl.load_workbook(out)
    finance = [[c.value for c in row] for row in book["Finance"].iter_rows()]
    assert finance[0][:4] == ["Service", "Budget", "Forecast outturn", "Variance"]
    assert finance[1][:4] == ["HOUSING", 1250000, 1310000, 60000] and finance[1][6] == "HOU-01 missing"
    measures = [[c.value for c in row] for row in book["Measures"].iter_rows()]
    assert measures[0][-1] == "Quality"
    assert next(r for r in measures if r[0] == "WAS-01")[-1] == "provisional"


def test_an_underspend_reads_as_minus_pounds(engine: Engine, cycle: str, tmp_path: Path) -> None:
    path = tmp_path / "finance.csv"
    path.write_text(GOOD)
    services(engine).finance.import_finance(ORG, path, by="perf")
    html = report.html(report.gather(services(engine), cycle))
    assert "−£24,000.00 (-1.0%)" in html and "£-" not in html
