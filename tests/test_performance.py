"""Performance data on SQLite and PostgreSQL: the measures library, actuals with history,
RAG and trend per cycle, and exception reports required before Leadership sign-off."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, GuardFailed, NotNow, PermissionDenied, PmfError
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.performance import Performance
from tests.conftest import CYCLE, ORG, services, settle_returns

FIXTURES = Path(__file__).parent / "fixtures" / "measures"


@pytest.fixture
def perf(engine: Engine) -> Performance:
    performance = services(engine).performance
    performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    return performance


def test_import_list_and_export_round_trip(perf: Performance, tmp_path: Path) -> None:
    listed = perf.measures(ORG)
    assert [m.code for m, _ in listed] == ["COR-01", "HOU-01", "PLA-01", "WAS-01"]
    hou = next(m for m, _ in listed if m.code == "HOU-01")
    assert (hou.polarity, hou.targets) == ("lower", {"2023-24-Q1": 30.0, "2024-25-Q1": 28.0})
    out = io.StringIO()
    assert perf.export_measures(ORG, out) == 4
    again = tmp_path / "again.csv"
    again.write_text(out.getvalue())
    assert perf.import_measures(ORG, again, by="perf") == (0, 4)


def test_bad_file_lists_every_problem_and_imports_nothing(engine: Engine) -> None:
    performance = services(engine).performance
    with pytest.raises(DataFileError) as raised:
        performance.import_measures(ORG, FIXTURES / "bad.csv", by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert {(3, "code"), (4, "polarity"), (5, "target 2024-25-Q1"), (6, "code")} <= found
    assert (2, "code") not in found
    assert performance.measures(ORG) == []


def test_export_escapes_formulas(perf: Performance, engine: Engine, tmp_path: Path) -> None:
    """The import refuses a formula title (issue 12, finding 12); one stored before that is
    still escaped by the CSV export."""
    sneaky = tmp_path / "sneaky.csv"
    sneaky.write_text('code,title,polarity\nX-1,"=HYPERLINK(""http://evil"")",higher\n')
    with pytest.raises(DataFileError, match=r"sneaky.csv:2: \[title\].*formula"):
        perf.import_measures(ORG, sneaky, by="perf")
    with engine.store.write() as s:
        s.execute(update(Measure).where(Measure.code == "HOU-01").values(title='=HYPERLINK("http://evil")'))
    out = io.StringIO()
    perf.export_measures(ORG, out)
    titles = [row["title"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert '\'=HYPERLINK("http://evil")' in titles


def test_actuals_rag_trend_and_history(perf: Performance, engine: Engine, clock: ManualClock) -> None:
    engine.start_cycle(ORG, "2023-24-Q1", by="perf")
    last_year = f"{ORG}/2023-24-Q1"
    perf.record_actual(last_year, "HOU-01", 35, by="sm_housing")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "HOU-01", 33, narrative="Voids backlog", by="sm_housing")  # red: 28 + 2 < 33
    clock.advance(timedelta(hours=1))
    perf.record_actual(CYCLE, "HOU-01", 29.5, narrative="Corrected", by="sm_housing")  # amber, resubmitted
    perf.record_actual(CYCLE, "PLA-01", 70, by="sm_planning")
    perf.record_actual(CYCLE, "WAS-01", 40, by="sm_waste")
    status = {m.code: m for m in perf.status(CYCLE)}
    assert (status["HOU-01"].actual, status["HOU-01"].rag.status) == (29.5, "amber")
    assert "within 2 of target 28" in status["HOU-01"].rag.rule  # the per-measure absolute tolerance
    assert status["HOU-01"].since_last_year == "improving"  # fewer days is better
    assert status["PLA-01"].rag.status == "green"
    assert status["WAS-01"].rag.status == "red"
    assert status["COR-01"].rag.status == "missing"
    with engine.store.read() as s:
        from sqlalchemy import select

        from pmf_engine.pmf.models import Actual

        history = list(
            s.scalars(select(Actual.value).where(Actual.period == "2024-25-Q1").order_by(Actual.id))
        )
    assert history[:2] == [33, 29.5], "the earlier value stays in history"


def test_who_may_report_and_when(perf: Performance, engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with pytest.raises(PermissionDenied):
        perf.record_actual(CYCLE, "HOU-01", 20, by="sm_planning")  # another service's measure
    perf.record_actual(CYCLE, "HOU-01", 20, by="perf")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    with pytest.raises(PmfError, match="return is Submitted"):
        perf.record_actual(CYCLE, "HOU-01", 21, by="sm_housing")


def test_sign_off_needs_an_exception_report_for_every_red_measure(perf: Performance, engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "WAS-01", 40, narrative="Contractor strike", by="sm_waste")  # red
    settle_returns(engine)
    for trigger, actor in [
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
    ]:
        engine.fire(CYCLE, trigger, actor)
    with pytest.raises(GuardFailed) as refused:
        engine.fire(CYCLE, "sign_off", "lead")
    assert refused.value.guard == "exception_reports_complete" and "WAS-01" in refused.value.why
    with pytest.raises(PmfError, match="not a date"):
        perf.add_exception_report(
            CYCLE, "WAS-01", reason="r", remedial_action="a", owner="o", recovery_date="soon", by="perf"
        )
    perf.add_exception_report(
        CYCLE,
        "WAS-01",
        reason="Contractor strike",
        remedial_action="Extra rounds",
        owner="sm_waste",
        recovery_date="2024-12-31",
        by="perf",
    )
    assert [code for code, _ in perf.exception_reports(CYCLE)] == ["WAS-01"]
    assert engine.fire(CYCLE, "sign_off", "lead").to_state == "cabinet_approval"


def test_actuals_from_csv_all_or_nothing(perf: Performance, engine: Engine, tmp_path: Path) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,value,narrative\nHOU-01,27,ok\nNOPE,3,\nPLA-01,lots,\nWAS-01,=1+1,\n")
    with pytest.raises(DataFileError) as raised:
        perf.import_actuals(CYCLE, bad, by="perf")
    assert [(p.line, p.field) for p in raised.value.problems] == [(4, "value"), (5, "value")]
    assert all(m.actual is None for m in perf.status(CYCLE))
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("code,value\nHOU-01,27\nNOPE,3\n")
    with pytest.raises(DataFileError, match="unknown measure code 'NOPE'"):
        perf.import_actuals(CYCLE, unknown, by="perf")
    good = tmp_path / "good.csv"
    good.write_text("code,value,narrative\nHOU-01,27,Better\nPLA-01,,\n")
    assert perf.import_actuals(CYCLE, good, by="perf") == 2
    status = {m.code: m for m in perf.status(CYCLE)}
    assert (status["HOU-01"].actual, status["HOU-01"].rag.status) == (27, "green")


def test_excel_round_trip_and_formulas_refused(perf: Performance, engine: Engine, tmp_path: Path) -> None:
    book_path = tmp_path / "measures.xlsx"
    assert perf.export_measures_xlsx(ORG, book_path) == 4
    import openpyxl

    book = openpyxl.load_workbook(book_path)
    sheet = book["Measures"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["code", "title", "theme"] and "target 2024-25-Q1" in header
    title = header.index("title") + 1
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "PLA-01")
    sheet.cell(row, title).value = "Major applications decided in time"
    book.save(book_path)
    assert perf.import_measures(ORG, book_path, by="perf") == (0, 4)
    listed = {m.code: m for m, _ in perf.measures(ORG)}
    assert listed["PLA-01"].title == "Major applications decided in time"
    assert listed["HOU-01"].targets == {"2023-24-Q1": 30.0, "2024-25-Q1": 28.0}, "numbers survive Excel"

    sheet.cell(row, title).value = '=HYPERLINK("http://evil","x")'
    sheet.cell(row + 1, 1).value = "BAD CODE"
    book.save(book_path)
    with pytest.raises(DataFileError) as raised:
        perf.import_measures(ORG, book_path, by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert (row, f"Measures!B{row}") in found, "the formula's cell is named"
    assert listed["PLA-01"].title == perf.measures(ORG)[2][0].title, "nothing imported"


def test_a_frozen_figures_refusal_names_the_stage_from_the_engines_stored_definitions(
    perf: Performance, engine: Engine
) -> None:
    """Found in review: the refusal of a frozen figure read the workflow version's stored text
    again (and parsed it behind a cache of its own) to name the stage that froze it. It names the
    stage from the definitions the engine holds (``Versions.by_id``), reading no stored text."""
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "HOU-01", 20, by="sm_housing")  # green: no exception report needed
    settle_returns(engine)
    for trigger, actor in [
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
        ("sign_off", "lead"),
    ]:
        engine.fire(CYCLE, trigger, actor)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.store.engine, "before_cursor_execute", record)
    try:
        with pytest.raises(NotNow) as figure:
            perf.record_actual(CYCLE, "HOU-01", 21, by="sm_housing")
        with pytest.raises(NotNow) as exception_report:
            perf.add_exception_report(
                CYCLE,
                "HOU-01",
                reason="r",
                remedial_action="a",
                owner="o",
                recovery_date="2024-12-31",
                by="perf",
            )
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", record)
    for refusal in (figure, exception_report):
        assert "frozen at Leadership Team sign-off" in str(refusal.value)
    assert seen, "the refusals were listened to"
    assert not [statement for statement in seen if "source_text" in statement]
