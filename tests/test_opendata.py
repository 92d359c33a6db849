"""The open-data feed's tables (``pmf_engine.pmf.opendata``), on SQLite and PostgreSQL: the
report's figures per quarter, restricted columns and unpublished quarters left out of the
public feed, CSV/JSON/XLSX that say the same, text never a spreadsheet formula, and an ETag
that changes exactly when the content does."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound
from pmf_engine.core.period import Period
from pmf_engine.pmf import opendata
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES

MEASURES = Path(__file__).parent / "fixtures" / "measures" / "measures.csv"
Q1 = {"HOU-01": 41, "PLA-01": 70, "WAS-01": 30, "COR-01": 1.5}
Q2_CYCLE = f"{ORG}/2024-25-Q2"


@pytest.fixture
def framework(engine: Engine) -> Framework:
    """Two quarters: Q1 with figures, narratives and an exception report; Q2 started."""
    framework = Framework(engine, SHIPPED_POLICIES)
    performance = framework.performance
    performance.import_measures(ORG, MEASURES, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    for code, value in Q1.items():
        performance.record_actual(CYCLE, code, value, narrative=f"{code} narrative", by="perf")
    performance.add_exception_report(
        CYCLE,
        "HOU-01",
        reason="Contractor shortage",
        remedial_action="Second contractor from August",
        owner="sm_housing",
        recovery_date="2024-12-31",
        by="sm_housing",
    )
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    return framework


def test_actuals_are_the_reports_figures_per_quarter(framework: Framework) -> None:
    t = opendata.table(framework, ORG, "actuals")
    q1 = {r["measure"]: r for r in t.rows if r["period"] == "2024-25-Q1"}
    assert {code: r["value"] for code, r in q1.items()} == Q1
    assert q1["HOU-01"]["narrative"] == "HOU-01 narrative" and not q1["HOU-01"]["report_frozen"]
    assert {r["period"] for r in t.rows} == {"2024-25-Q1", "2024-25-Q2"}
    assert all(r["value"] is None for r in t.rows if r["period"] == "2024-25-Q2")
    rag = {r["measure"]: r for r in opendata.table(framework, ORG, "rag").rows if r["period"] == "2024-25-Q1"}
    assert rag["HOU-01"]["rag"] == "red" and rag["HOU-01"]["rule"]
    targets = opendata.table(framework, ORG, "targets").rows
    assert {r["measure"]: r["target"] for r in targets if r["period"] == "2024-25-Q1"}["PLA-01"] == 65
    (exception,) = opendata.table(framework, ORG, "exceptions").rows
    assert exception["measure"] == "HOU-01" and exception["owner"] == "sm_housing"
    measures = opendata.table(framework, ORG, "measures").rows
    assert {m["code"] for m in measures} == set(Q1)


def test_the_public_feed_has_published_quarters_only_and_no_restricted_column(framework: Framework) -> None:
    t = opendata.table(framework, ORG, "actuals", public=True, publishable=lambda cycle: cycle == CYCLE)
    assert {r["period"] for r in t.rows} == {"2024-25-Q1"}
    names = [c.name for c in t.columns]
    assert "narrative" not in names and all("narrative" not in r for r in t.rows)
    exceptions = opendata.table(framework, ORG, "exceptions", public=True, publishable=lambda c: True)
    assert "owner" not in exceptions.rows[0] and exceptions.rows[0]["reason"] == "Contractor shortage"
    assert "sm_housing" not in opendata.to_csv(exceptions)
    nothing = opendata.table(framework, ORG, "rag", public=True, publishable=lambda c: False)
    assert nothing.rows == []
    # Without public, publishable is not consulted: members see every quarter.
    every = opendata.table(framework, ORG, "rag", publishable=lambda c: False)
    assert {r["period"] for r in every.rows} == {"2024-25-Q1", "2024-25-Q2"}


def test_a_range_narrows_the_quarters_and_bad_bounds_are_named(framework: Framework) -> None:
    first, last = opendata.parse_range("2024-25-Q2", None)
    assert first == Period(2024, 2) and last is None
    t = opendata.table(framework, ORG, "actuals", start=first)
    assert {r["period"] for r in t.rows} == {"2024-25-Q2"}
    t = opendata.table(framework, ORG, "actuals", end=Period(2024, 1))
    assert {r["period"] for r in t.rows} == {"2024-25-Q1"}
    with pytest.raises(ValueError, match=r"^from: "):
        opendata.parse_range("2024-25", None)
    with pytest.raises(ValueError, match=r"^to: 2024-25-Q1 is before from: 2024-25-Q3"):
        opendata.parse_range("2024-25-Q3", "2024-25-Q1")
    with pytest.raises(ValueError, match=r"^to: "):
        opendata.parse_range(None, "next year")
    with pytest.raises(NotFound, match="organisation 'NOPE'"):
        opendata.table(framework, "NOPE", "actuals")


def test_csv_json_and_xlsx_say_the_same(framework: Framework) -> None:
    t = opendata.table(framework, ORG, "actuals")
    rows = list(csv.DictReader(io.StringIO(opendata.to_csv(t))))
    assert [r["measure"] for r in rows] == [r["measure"] for r in t.rows]
    cor = next(r for r in rows if r["measure"] == "COR-01" and r["period"] == "2024-25-Q1")
    assert cor["value"] == "1.5"
    assert cor["restated"] == "false"
    doc = json.loads(opendata.to_json(t))
    assert doc["schema"] == opendata.SCHEMA and doc["dataset"] == "actuals"
    assert [c["name"] for c in doc["columns"]] == [c.name for c in t.columns]
    assert doc["rows"] == json.loads(json.dumps(t.rows))
    book = load_workbook(io.BytesIO(opendata.to_xlsx(t)), read_only=True)
    sheet = list(book["actuals"].iter_rows(values_only=True))
    assert list(sheet[0]) == [c.name for c in t.columns]
    assert len(sheet) == len(t.rows) + 1
    assert [row[0] for row in book["columns"].iter_rows(values_only=True)][1:] == [c.name for c in t.columns]


def test_text_is_never_a_formula_in_csv_or_xlsx() -> None:
    columns = opendata.DATASETS["exceptions"]
    row = {c.name: "" for c in columns} | {"reason": '=HYPERLINK("http://x","y")', "measure": "@SUM(A1)"}
    t = opendata.Table("exceptions", ORG, columns, [row], False, datetime(2024, 7, 1, tzinfo=UTC))
    numbers = opendata.DATASETS["rag"]
    change = {c.name: None for c in numbers} | {"compared": -1.5, "rule": "-2 below target"}
    (figures,) = csv.DictReader(
        io.StringIO(opendata.to_csv(opendata.Table("rag", ORG, numbers, [change], False, t.generated)))
    )
    assert figures["compared"] == "-1.5"  # a number is written as one, not escaped like text
    assert figures["rule"] == "'-2 below target" and figures["rag"] == ""
    (parsed,) = csv.DictReader(io.StringIO(opendata.to_csv(t)))
    assert parsed["reason"].startswith("'=") and parsed["measure"].startswith("'@")
    book = load_workbook(io.BytesIO(opendata.to_xlsx(t)))
    cells = [c.value for c in book["exceptions"][2]]
    assert all(not (isinstance(v, str) and v.startswith(("=", "@"))) for v in cells)
    assert all(c.data_type != "f" for c in book["exceptions"][2])


def test_the_etag_changes_with_the_content_only(framework: Framework) -> None:
    before = opendata.table(framework, ORG, "actuals")
    framework.engine.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    again = opendata.table(framework, ORG, "actuals")
    assert again.generated != before.generated and again.etag("csv") == before.etag("csv")
    assert before.etag("csv") != before.etag("json")
    framework.performance.record_actual(CYCLE, "PLA-01", 71, narrative="corrected", by="perf")
    assert opendata.table(framework, ORG, "actuals").etag("csv") != before.etag("csv")


def test_each_figure_carries_its_quality_flag_in_a_column_added_last(framework: Framework) -> None:
    """Found in review: the feed had no word of a figure's quality. ``actuals`` ends with a
    documented ``quality`` column (validated, estimated, provisional; empty: not stated), public
    too; the columns before it keep their order, in CSV, JSON and XLSX."""
    performance = framework.performance
    performance.record_actual(CYCLE, "HOU-01", 41, quality="provisional", by="perf")
    performance.record_actual(CYCLE, "PLA-01", 70, quality="estimated", by="perf")
    performance.record_actual(CYCLE, "WAS-01", 30, quality="validated", by="perf")
    names = [c.name for c in opendata.DATASETS["actuals"]]
    assert names == [
        "organisation", "period", "measure", "value", "forecast", "unit", "restated",
        "missing_reason", "narrative", "report_frozen", "quality",
    ]  # fmt: skip
    column = opendata.DATASETS["actuals"][-1]
    assert column.public and column.type == "string" and "provisional" in column.description
    for public in (False, True):
        t = opendata.table(framework, ORG, "actuals", public=public, publishable=lambda cycle: cycle == CYCLE)
        assert t.columns[-1].name == "quality"
        q1 = {r["measure"]: r["quality"] for r in t.rows if r["period"] == "2024-25-Q1"}
        assert q1 == {"HOU-01": "provisional", "PLA-01": "estimated", "WAS-01": "validated", "COR-01": ""}
        rows = list(csv.reader(io.StringIO(opendata.to_csv(t))))
        assert rows[0][-1] == "quality"
        assert ["2024-25-Q1", "HOU-01", "provisional"] in [[r[1], r[2], r[-1]] for r in rows[1:]]
        document = json.loads(opendata.to_json(t))
        assert document["columns"][-1]["name"] == "quality"
        assert {r["measure"]: r["quality"] for r in document["rows"] if r["period"] == "2024-25-Q1"} == q1
        sheet = load_workbook(io.BytesIO(opendata.to_xlsx(t)))["actuals"]
        header = [c.value for c in sheet[1]]
        assert header[-1] == "quality"
