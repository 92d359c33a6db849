"""Excel returns: a template generated, filled in with openpyxl as a service would, imported;
bad returns (text in a number cell, an unknown code, a formula, a zip bomb) refused with every
problem listed and nothing imported."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError
from pmf_engine.pmf import report
from pmf_engine.pmf.returns import ExcelReturns
from tests.conftest import CYCLE, ORG, services

FIXTURES = Path(__file__).parent / "fixtures" / "measures"


@pytest.fixture
def returns(engine: Engine) -> ExcelReturns:
    performance = services(engine).performance
    performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return services(engine).returns


def _fill(
    path: Path, rows: dict[int, tuple[object, object]], extra: list[list[object]] | None = None
) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book["Return"]
    for row, (actual, narrative) in rows.items():
        sheet.cell(row=row, column=6).value = actual
        sheet.cell(row=row, column=7).value = narrative
    for values in extra or []:
        sheet.append(values)
    book.save(path)


def test_template_filled_in_and_imported(returns: ExcelReturns, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "waste.xlsx"
    assert returns.template(CYCLE, "WASTE", path) == 1
    sheet = openpyxl.load_workbook(path)["Return"]
    assert [c.value for c in sheet[2]][:5] == ["WAS-01", "Household waste recycled", "%", "higher", 52]
    _fill(path, {2: (41.5, "Contractor strike")})
    assert returns.import_return(CYCLE, "WASTE", path, by="sm_waste") == 1
    status = {m.code: m for m in returns.performance.status(CYCLE)}
    assert (status["WAS-01"].actual, status["WAS-01"].rag.status, status["WAS-01"].narrative) == (
        41.5,
        "red",
        "Contractor strike",
    )
    html = report.html(report.gather(services(engine), CYCLE))
    assert "Contractor strike" in html and ">41.5%<" in html, "the imported figure is reported"


def test_bad_return_lists_every_problem_and_imports_nothing(returns: ExcelReturns, tmp_path: Path) -> None:
    path = tmp_path / "housing.xlsx"
    returns.template(CYCLE, "HOUSING", path)
    _fill(
        path,
        {2: ("twenty", None)},
        extra=[
            ["NOPE-1", "x", "", "", "", 5, ""],
            ["HOU-01", "x", "", "", "", '=HYPERLINK("http://x","y")', ""],
        ],
    )
    with pytest.raises(DataFileError) as raised:
        returns.import_return(CYCLE, "HOUSING", path, by="sm_housing")
    messages = {(p.field, p.message) for p in raised.value.problems}
    assert ("Return!F2", "'twenty' is not a number") in messages
    assert any(f == "Return!A3" and "unknown measure code 'NOPE-1'" in m for f, m in messages)
    assert ("Return!F4", "formulas are not accepted") in messages
    assert all(p.file == str(path) and p.line for p in raised.value.problems)
    assert all(m.actual is None for m in returns.performance.status(CYCLE))


def test_red_measure_needs_a_narrative(returns: ExcelReturns, tmp_path: Path) -> None:
    path = tmp_path / "waste.xlsx"
    returns.template(CYCLE, "WASTE", path)
    _fill(path, {2: (30, None)})
    with pytest.raises(DataFileError, match="a red measure needs a narrative"):
        returns.import_return(CYCLE, "WASTE", path, by="sm_waste")


def test_zip_bomb_and_garbage_refused_before_parsing(returns: ExcelReturns, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * 50_000_000 + b"</a>")
    with pytest.raises(DataFileError, match="zip bomb"):
        returns.import_return(CYCLE, "WASTE", bomb, by="sm_waste")
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(DataFileError, match=r"not a readable \.xlsx"):
        returns.import_return(CYCLE, "WASTE", garbage, by="sm_waste")


def test_forecast_range_and_projects_sheet(returns: ExcelReturns, engine: Engine, tmp_path: Path) -> None:
    projects = services(engine).projects
    projects.import_projects(ORG, Path(__file__).parent / "fixtures" / "projects" / "projects.csv", by="perf")
    path = tmp_path / "waste.xlsx"
    assert returns.template(CYCLE, "WASTE", path) == 2  # WAS-01 and the food waste project
    book = openpyxl.load_workbook(path)
    assert [c.value for c in book["Projects"][2]][:3] == [
        "P-02",
        "Food waste collections",
        "Caddies delivered (2024-09-30)",
    ]
    book["Return"]["F2"], book["Return"]["H2"] = 140, 55  # a percentage over 100
    book["Projects"]["D2"] = "off_track"  # and no narrative
    book.save(path)
    with pytest.raises(DataFileError) as raised:
        returns.import_return(CYCLE, "WASTE", path, by="sm_waste")
    messages = {(p.field, p.message) for p in raised.value.problems}
    assert ("Return!F2", "140 is out of range for a percent measure (0 to 100)") in messages
    assert ("Projects!E2", "a project off_track needs a narrative") in messages
    assert projects.status(CYCLE)[1].status == "missing", "nothing imported"

    book = openpyxl.load_workbook(path)
    book["Return"]["F2"], book["Return"]["G2"] = 50, "Fewer garden waste subscriptions"
    book["Projects"]["E2"] = "Caddy supplier went bust"
    book.save(path)
    assert returns.import_return(CYCLE, "WASTE", path, by="sm_waste") == 2
    was = next(m for m in returns.performance.status(CYCLE) if m.code == "WAS-01")
    assert (was.actual, was.forecast) == (50, 55)
    assert {p.code: p.status for p in projects.status(CYCLE)}["P-02"] == "off_track"
