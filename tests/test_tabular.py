"""The one tabular reader every import uses: CSV or the first sheet of a workbook, rows with the
line a person finds them on, the header checked, and every problem raised together."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError
from pmf_engine.pmf import tabular
from pmf_engine.pmf.actuals import read_actuals
from pmf_engine.pmf.meetings import read_meetings
from pmf_engine.pmf.projects import read_projects
from tests.conftest import ORG, services

FIXTURES = Path(__file__).parent / "fixtures" / "measures"


def test_rows_keep_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        '\ufeffcode,value,narrative\n\nA,1,"two\nlines"\nB,2\n\n\nC,x,  padded  \n', encoding="utf-8"
    )
    table = tabular.read_table(path, ("code", "value"))
    assert table.header == ("code", "value", "narrative")
    assert [(r.line, r.get("code")) for r in table.rows] == [(3, "A"), (5, "B"), (8, "C")]
    assert table.rows[1].cells == {"code": "B", "value": "2", "narrative": ""}, "a short row is padded"
    assert table.rows[2].get("narrative") == "padded" and table.rows[2].cells["narrative"] == "  padded  "
    table.problem(8, "value", "not a number")
    with pytest.raises(DataFileError) as raised:
        table.done([])
    assert [(p.file, p.line, p.field) for p in raised.value.problems] == [(str(path), 8, "value")]


def test_the_header_is_checked_first(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("code,extra\nA,1\n")
    with pytest.raises(DataFileError, match=r"missing column\(s\): period, value") as raised:
        tabular.read_table(path, ("code", "period", "value"))
    assert (raised.value.line, raised.value.field) == (1, "header")
    table = tabular.read_table(path, ("code",), known=lambda name: name == "code")
    assert [(p.line, p.field, p.message) for p in table.problems] == [(1, "extra", "unknown column")]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot read file"):
        tabular.read_table(tmp_path / "missing.csv", ("code",))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("code\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFileError, match="cannot read file"):
        tabular.read_table(latin, ("code",))
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match=r"not a readable \.xlsx"):
        tabular.read_table(book, ("code",), excel=True)


def test_the_first_sheet_of_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "value", "due"])
    sheet.append(["A", 12.0, None])
    sheet.cell(4, 1).value = "B"  # row 3 left empty
    sheet.cell(4, 3).value = date(2024, 6, 30)
    book.create_sheet("Other").append(["ignored"])
    book.save(path)
    table = tabular.read_table(path, ("code",), excel=True)
    cells = [(r.line, dict(r.cells)) for r in table.rows if r.get("code")]
    assert cells == [
        (2, {"code": "A", "value": "12", "due": ""}),
        (4, {"code": "B", "value": "", "due": "2024-06-30"}),
    ]
    sheet.cell(4, 2).value = "=1+1"
    book.save(path)
    with pytest.raises(DataFileError) as raised:
        tabular.read_table(path, ("code",), excel=True)
    assert [(p.line, p.field, p.message) for p in raised.value.problems] == [
        (4, "Sheet!B4", "formulas are not accepted")
    ]


def test_number() -> None:
    assert tabular.number("") is None and tabular.number("2.5") == 2.5
    with pytest.raises(ValueError, match="'ten' is not a number"):
        tabular.number("ten")


def test_every_import_names_the_line_after_blank_ones(tmp_path: Path) -> None:
    actuals = tmp_path / "actuals.csv"
    actuals.write_text("code,value\n\nHOU-01,1\n\nPLA-01,lots\n")
    with pytest.raises(DataFileError) as raised:
        read_actuals(actuals)
    assert [(p.line, p.field) for p in raised.value.problems] == [(5, "value")]
    projects = tmp_path / "projects.csv"
    projects.write_text("project,title,milestone,due\n\nP-1,One,M,2024-06-30\n\nP-1,Two,,\n")
    with pytest.raises(DataFileError, match="'Two' contradicts line 3") as raised:
        read_projects(projects)
    assert raised.value.line == 5
    meetings = tmp_path / "meetings.csv"
    meetings.write_text("body,starts\n\ncabinet,soon\n")
    with pytest.raises(DataFileError) as raised:
        read_meetings(meetings)
    assert (raised.value.line, raised.value.field) == (3, "row 3")


def test_history_problems_found_in_the_store_name_their_own_line(engine: Engine, tmp_path: Path) -> None:
    performance = services(engine).performance
    performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    history = tmp_path / "history.csv"
    history.write_text("code,period,value\nHOU-01,not a period,1\nNOPE,2023-24-Q4,2\n")
    with pytest.raises(DataFileError) as raised:
        performance.import_history(ORG, history, by="perf")
    assert [(p.line, p.field) for p in raised.value.problems] == [(2, "period"), (3, "code")]
