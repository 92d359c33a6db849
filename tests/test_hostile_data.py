"""Regressions of issue 12's data findings (7, 12, 13, 14 and 15): hostile values and files at
every entry point that parses a number or takes text (CLI, web forms, the API, CSV, XLSX and
ICS imports), each refused with a clear error naming the file, the line or cell and the field.

The hostile files are built here: openpyxl for honest workbooks, then their sheet XML edited
inside the zip (truncated, ``<v>NaN</v>``, a bad ``t="d"``), as an attacker would."""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import icalendar
import openpyxl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, InvalidInput, NotNow, Refused
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.measures import read_measures
from pmf_engine.pmf.meetings import CommitteeCalendar, read_meetings
from pmf_engine.pmf.models import Measure
from tests.conftest import CYCLE, ORG, POLICIES, SHIPPED_POLICIES, WORKFLOWS, services, settle_returns

FIXTURES = Path(__file__).parent / "fixtures"
HYPERLINK = '=HYPERLINK("http://evil.example/x","Click for figures")'
PASSWORD = "correct horse battery"


@pytest.fixture
def framework(engine: Engine) -> Framework:
    """The test council with its measures and projects, and the 2024-25 Q1 cycle started."""
    found = services(engine)
    found.performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    found.projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return found


def _edit_sheet(path: Path, edit: Callable[[str], str], member: str = "xl/worksheets/sheet1.xml") -> None:
    """Rewrite one member of the workbook at ``path`` through ``edit``."""
    with zipfile.ZipFile(path) as source:
        items = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, content in items:
            edited = edit(content.decode()).encode() if info.filename == member else content
            target.writestr(info, edited)


def _sheet_xml(path: Path, member: str = "xl/worksheets/sheet1.xml") -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(member).decode()


def _no_actuals(framework: Framework) -> None:
    assert all(m.actual is None for m in framework.performance.status(CYCLE)), "nothing imported"


# -- 7: project status changes after acceptance ------------------------------------------------------


def test_project_status_follows_the_return_like_a_measure(framework: Framework, engine: Engine) -> None:
    """#7: "Project status changes after acceptance (an Excel upload with only the Projects sheet
    filled): same rule as measures." Refused once the return is accepted, whatever the path."""
    projects = framework.projects
    projects.update(CYCLE, "P-01", "on_track", by="sm_housing")  # requested: open
    settle_returns(engine)  # every return accepted
    with pytest.raises(NotNow, match="HOUSING return is Accepted"):
        projects.update(CYCLE, "P-01", "off_track", narrative="Contractor left", by="sm_housing")
    with pytest.raises(NotNow, match="HOUSING return is Accepted"):
        framework.performance.record_actual(CYCLE, "HOU-01", 20, by="sm_housing")  # as measures
    assert {p.code: p.status for p in projects.status(CYCLE)}["P-01"] == "on_track"


def test_an_excel_return_with_only_projects_is_refused_after_acceptance(
    framework: Framework, engine: Engine, tmp_path: Path
) -> None:
    """#7 through the Excel return: only the Projects sheet filled, uploaded after acceptance."""
    path = tmp_path / "housing.xlsx"
    framework.returns.template(CYCLE, "HOUSING", path)
    book = openpyxl.load_workbook(path)
    book["Projects"]["D2"], book["Projects"]["E2"] = "off_track", "Contractor left"
    book.save(path)
    settle_returns(engine)
    with pytest.raises(NotNow, match="HOUSING return is Accepted"):
        framework.returns.import_return(CYCLE, "HOUSING", path, by="sm_housing")
    assert {p.code: p.status for p in framework.projects.status(CYCLE)}["P-01"] == "missing"


def test_project_status_through_the_cli_after_acceptance(tmp_path: Path) -> None:
    """#7 through ``pmf projects update``: exit 1 with the reason, nothing recorded."""
    run = _cli(tmp_path)
    run("projects", "import", "TDC", str(FIXTURES / "projects" / "projects.csv"), "--as", "perf")
    cycle = "TDC/2024-25-Q1"
    run("actuals", "record", cycle, "HOU-01", "29", "--as", "sm_housing")  # a complete return
    assert run("fire", f"{cycle}/HOUSING", "submit", "--as", "sm_housing").exit_code == 0
    assert run("quality", "sign-off", f"{cycle}/HOUSING", "--as", "hos").exit_code == 0
    assert run("fire", f"{cycle}/HOUSING", "accept", "--as", "perf").exit_code == 0
    refused = run("projects", "update", cycle, "P-01", "on_track", "--as", "sm_housing")
    assert refused.exit_code == 1 and "HOUSING return is Accepted" in refused.stderr
    assert "MISSING" in run("projects", "status", cycle).stdout


# -- 12: formulas in the Excel template ---------------------------------------------------------------


def _formula_title(engine: Engine, code: str = "WAS-01") -> None:
    """A measure whose title is a formula (as the measures CSV let in before this was fixed)."""
    with engine.store.write() as s:
        s.execute(update(Measure).where(Measure.code == code).values(title=HYPERLINK, theme="@SUM(1)"))


def test_the_return_template_writes_a_formula_title_as_text(
    framework: Framework, engine: Engine, tmp_path: Path
) -> None:
    """#12: "A measure titled =HYPERLINK(...) is written into the template as a formula." """
    _formula_title(engine)
    path = tmp_path / "waste.xlsx"
    framework.returns.template(CYCLE, "WASTE", path)
    assert "<f>" not in _sheet_xml(path), "no formula anywhere in the sheet"
    cell = openpyxl.load_workbook(path)["Return"]["B2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (HYPERLINK, "s", True)


def test_the_report_workbook_and_the_library_export_write_text_cells(
    framework: Framework, engine: Engine, tmp_path: Path
) -> None:
    """#12 everywhere user text reaches a workbook: the report (a narrative, a project's
    narrative) and the measures library's Excel export."""
    _formula_title(engine)
    framework.performance.record_actual(CYCLE, "WAS-01", 40, narrative="-1 bins; =1+1", by="perf")
    framework.projects.update(CYCLE, "P-02", "at_risk", narrative="@risk", by="sm_waste")
    path = tmp_path / "report.xlsx"
    report.xlsx(report.gather(framework, CYCLE), path)
    book = openpyxl.load_workbook(path)
    was = next(row for row in book["Measures"].iter_rows() if row[0].value == "WAS-01")
    assert (was[1].value, was[1].data_type) == (HYPERLINK, "s"), "shown as written, never run"
    assert was[11].value == "-1 bins; =1+1" and was[11].data_type == "s"
    project = next(row for row in book["Projects"].iter_rows() if row[0].value == "P-02")
    assert project[6].value == "@risk" and project[6].data_type == "s"
    for member in [n for n in zipfile.ZipFile(path).namelist() if n.startswith("xl/worksheets/")]:
        assert "<f>" not in _sheet_xml(path, member), member
    export = tmp_path / "library.xlsx"
    framework.performance.export_measures_xlsx(ORG, export)
    assert "<f>" not in _sheet_xml(export)
    title = next(r for r in openpyxl.load_workbook(export).active.iter_rows() if r[0].value == "WAS-01")[1]
    assert (title.value, title.data_type) == (HYPERLINK, "s")


def test_the_measures_import_refuses_formula_like_text(tmp_path: Path) -> None:
    """#12: "the measures CSV accepts formulas": refused in every text field, each named."""
    path = tmp_path / "measures.csv"
    path.write_text(
        "code,title,theme,owner,unit,polarity,data_source\n"
        f'M-1,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",Homes,perf,%,higher,ok\n'
        "M-2,Fine,+cmd|' /C calc'!A0,perf,%,higher,ok\n"
        "M-3,Fine,Homes,@SUM(A1),-2+3,higher,\tx\n",  # a leading tab is stripped: harmless
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as raised:
        read_measures(path)
    found = {(p.line, p.field) for p in raised.value.problems}
    assert found == {(2, "title"), (3, "theme"), (4, "owner"), (4, "unit")}
    assert all(p.file == str(path) and "formula" in p.message for p in raised.value.problems)


def test_the_xlsx_measures_import_refuses_formula_like_text(tmp_path: Path) -> None:
    """#12 for the Excel library: a text cell starting ``+``, ``-`` or ``@`` is refused by cell."""
    path = tmp_path / "measures.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "title", "theme", "polarity"])
    sheet.append(["M-1", "+HYPERLINK(1)", "Homes", "higher"])
    book.save(path)
    with pytest.raises(DataFileError) as raised:
        read_measures(path)
    assert [(p.line, p.field) for p in raised.value.problems] == [(2, "title")]


# -- 13: non-finite numbers and NUL bytes -------------------------------------------------------------


@pytest.mark.parametrize("typed", ["nan", "-inf", "1e400", "Infinity", "1_000"])
def test_the_web_form_refuses_non_finite_numbers(framework: Framework, engine: Engine, typed: str) -> None:
    """#13: "The web form and CLI accept nan, -inf, 1e400" (audit data then held NaN)."""
    client = _web(engine, framework)
    token = _sign_in(client, "sm_housing", f"/instances/{CYCLE}/HOUSING")
    for field in ("actual", "forecast"):
        data = {"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "20", "narrative_HOU-01": ""}
        data[f"{field}_HOU-01"] = typed
        posted = client.post(f"/instances/{CYCLE}/HOUSING/actuals", data=data)
        assert posted.status_code == 400 and f'id="{field}_HOU-01-error"' in posted.text
    _no_actuals(framework)
    assert "NaN" not in _audit_text(engine) and "Infinity" not in _audit_text(engine)


def test_the_web_form_refuses_a_nul_in_a_narrative(framework: Framework, engine: Engine) -> None:
    """#13: "A NUL byte in a narrative gives a 500 on PostgreSQL": a 400 with the reason."""
    client = _web(engine, framework)
    token = _sign_in(client, "sm_housing", f"/instances/{CYCLE}/HOUSING")
    posted = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "20", "narrative_HOU-01": "vo\x00ids"},
    )
    assert posted.status_code == 400 and "NUL" in posted.text
    _no_actuals(framework)
    crlf = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "20", "narrative_HOU-01": "a\r\nb"},
    )
    assert crlf.status_code == 303, "a textarea's CRLF is a newline, not a control character"


def test_a_nul_in_a_refusal_reason_is_refused_and_the_connection_survives(
    framework: Framework, engine: Engine
) -> None:
    """#13: "in a refusal reason resets the connection and the refusal goes unaudited"."""
    for reason, data in (("late\x00", {}), ("ok", {"minute_reference": "M\x00"}), ("ok", {"x": math.nan})):
        with pytest.raises(InvalidInput) as raised:
            engine.fire(f"{CYCLE}/HOUSING", "accept", "sm_housing", reason=reason, data=data)
        assert raised.value.field.startswith(("reason", "data")), raised.value
    with pytest.raises(InvalidInput, match="actor"):
        engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_\x00housing")
    with pytest.raises(Refused):  # the same store still answers, and audits this one
        engine.fire(f"{CYCLE}/HOUSING", "accept", "sm_housing", reason="a clean reason")
    with engine.store.read() as s:
        refused = list(s.scalars(select(AuditEntry).where(AuditEntry.event == "refused")))
    assert [e.reason for e in refused] == ["a clean reason"], "the clean refusal is audited"
    assert "\\u0000" not in _audit_text(engine)


def test_the_api_refuses_control_characters_with_a_problem(framework: Framework, engine: Engine) -> None:
    """#13 through ``POST /api/v1/.../transitions``: a 422 problem, not a 500."""
    client = _web(engine, framework)
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    url = f"/api/v1/instances/{CYCLE}/HOUSING/transitions"
    headers = {"Authorization": f"Bearer {token}"}
    version = engine.peek(f"{CYCLE}/HOUSING")[1]
    for body in ({"trigger": "submit", "reason": "a\u0000b"}, {"trigger": "submit", "data": {"k": "\u0007"}}):
        answer = client.post(url, headers=headers, json={**body, "expected_version": version})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert engine.peek(f"{CYCLE}/HOUSING")[0] == "requested"


def test_the_web_step_form_refuses_a_nul_in_the_reason(framework: Framework, engine: Engine) -> None:
    """#13 through a step's form: the page again with the reason, not a 500."""
    client = _web(engine, framework)
    framework.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")  # a complete return
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    token = _sign_in(client, "perf", f"/instances/{CYCLE}/HOUSING")
    posted = client.post(
        f"/instances/{CYCLE}/HOUSING/fire",
        data={
            "csrf_token": token,
            "trigger": "return_for_correction",
            "reason": "wrong\x00",
            "expected_version": str(engine.peek(f"{CYCLE}/HOUSING")[1]),
        },
    )
    assert posted.status_code in (400, 422) and "NUL" in posted.text
    assert engine.peek(f"{CYCLE}/HOUSING")[0] == "submitted"


def test_the_cli_refuses_non_finite_numbers_and_control_characters(tmp_path: Path) -> None:
    """#13 through ``pmf actuals record``: a usage error (exit 2) or a refusal (exit 1)."""
    run = _cli(tmp_path)
    cycle = "TDC/2024-25-Q1"
    for value in ("nan", "-inf", "1e400"):
        assert run("actuals", "record", cycle, "WAS-01", value, "--as", "perf").exit_code == 2
        forecast = run("actuals", "record", cycle, "WAS-01", "40", "--forecast", value, "--as", "perf")
        assert forecast.exit_code == 2, value
    nul = run("actuals", "record", cycle, "WAS-01", "40", "--narrative", "a\x00b", "--as", "perf")
    assert nul.exit_code == 1 and "NUL" in nul.stderr
    project = run("projects", "update", cycle, "P-02", "at_risk", "--narrative", "\x1b[2J", "--as", "perf")
    assert project.exit_code == 1 and "U+001B" in project.stderr
    assert "MISSING" in run("measures", "status", cycle).stdout


def test_csv_and_xlsx_imports_refuse_non_finite_numbers_and_control_characters(
    framework: Framework, tmp_path: Path
) -> None:
    """#13 through the CSV actuals and measures imports and the Excel return: file, line, field."""
    actuals = tmp_path / "actuals.csv"
    actuals.write_text("code,value,narrative,forecast\nWAS-01,nan,,\nHOU-01,20,a\x00b,1e400\n")
    with pytest.raises(DataFileError) as raised:
        framework.performance.import_actuals(CYCLE, actuals, by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert found == {(2, "value"), (3, "narrative"), (3, "forecast")}
    measures = tmp_path / "measures.csv"
    measures.write_text(
        "code,title,polarity,profile,target 2024-25-Q1\nM-1,Ti\x00tle,higher,,nan\nM-2,T,higher,nan/1/1/1,1\n"
    )
    with pytest.raises(DataFileError) as raised:
        read_measures(measures)
    assert {(p.line, p.field) for p in raised.value.problems} >= {
        (2, "title"),
        (2, "target 2024-25-Q1"),
        (3, "profile.0"),
    }
    path = tmp_path / "waste.xlsx"
    framework.returns.template(CYCLE, "WASTE", path)
    book = openpyxl.load_workbook(path)
    book["Return"]["F2"], book["Return"]["G2"] = 50, "ok"
    book.save(path)
    _edit_sheet(path, lambda xml: xml.replace("<v>50</v>", "<v>1e400</v>"))
    with pytest.raises(DataFileError) as raised:
        framework.returns.import_return(CYCLE, "WASTE", path, by="sm_waste")
    assert [(p.line, p.field) for p in raised.value.problems] == [(2, "Return!F2")]
    _no_actuals(framework)


def test_calendar_text_with_control_characters_is_refused(engine: Engine, tmp_path: Path) -> None:
    """#13 through the calendar import: a NUL in a title names its line."""
    path = tmp_path / "meetings.csv"
    path.write_text("body,starts,title\ncabinet,2024-09-11 18:00,Cab\x00inet\n")
    with pytest.raises(DataFileError) as raised:
        CommitteeCalendar(engine).import_file(ORG, path, by="perf")
    assert raised.value.line == 2 and "NUL" in str(raised.value)


# -- 14: 500s and tracebacks ----------------------------------------------------------------------------


def _filled_return(framework: Framework, tmp_path: Path) -> Path:
    path = tmp_path / "waste.xlsx"
    framework.returns.template(CYCLE, "WASTE", path)
    book = openpyxl.load_workbook(path)
    book["Return"]["F2"], book["Return"]["G2"] = 50, "ok"
    book.save(path)
    return path


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda xml: xml[: len(xml) // 2], None),  # truncated sheet XML
        (lambda xml: xml.replace("<v>50</v>", "<v>NaN</v>"), "Return"),
        (lambda xml: xml.replace('t="n"><v>50</v>', 't="d"><v>2024-13-45T99:00</v>'), "Return"),
        (lambda xml: xml.replace('t="n"><v>50</v>', 't="s"><v>99</v>'), "Return"),
    ],
    ids=["truncated", "nan", "bad-date", "bad-shared-string"],
)
def test_a_damaged_return_is_a_clear_refusal(
    framework: Framework, tmp_path: Path, edit: Callable[[str], str], where: str | None
) -> None:
    """#14: "XLSX with truncated sheet XML, <v>NaN</v>, or a bad t="d" date" gave a 500."""
    path = _filled_return(framework, tmp_path)
    _edit_sheet(path, edit)
    with pytest.raises(DataFileError) as raised:
        framework.returns.import_return(CYCLE, "WASTE", path, by="sm_waste")
    problem = raised.value.problems[0]
    assert problem.file == str(path) and "Return" in problem.field, problem
    _no_actuals(framework)


@pytest.mark.parametrize(
    "edit",
    [
        lambda xml: xml[: len(xml) // 2],
        lambda xml: xml.replace("<v>12</v>", "<v>NaN</v>"),
        lambda xml: xml.replace('t="n"><v>12</v>', 't="d"><v>not-a-date</v>'),
    ],
    ids=["truncated", "nan", "bad-date"],
)
def test_a_damaged_measures_workbook_is_a_clear_refusal(tmp_path: Path, edit: Callable[[str], str]) -> None:
    """#14 for the Excel measures library (the tabular reader every Excel import shares)."""
    path = tmp_path / "measures.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "title", "polarity", "target 2024-25-Q1"])
    sheet.append(["M-1", "Title", "higher", 12])
    book.save(path)
    _edit_sheet(path, edit)
    with pytest.raises(DataFileError) as raised:
        read_measures(path)
    assert raised.value.file == str(path) and raised.value.problems[0].field.startswith("Sheet")


@pytest.mark.parametrize("when", ["0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00", "1066-10-14 09:00"])
def test_a_calendar_time_out_of_range_is_a_clear_refusal(engine: Engine, tmp_path: Path, when: str) -> None:
    """#14: "calendar import of 0001-01-01T00:00+14:00 raises OverflowError"."""
    for suffix, text in (
        (".csv", f"body,starts\ncabinet,{when}\n"),
        (".yaml", f"- body: cabinet\n  starts: '{when}'\n"),
    ):
        path = tmp_path / f"meetings{suffix}"
        path.write_text(text)
        with pytest.raises(DataFileError) as raised:
            read_meetings(path)
        assert raised.value.file == str(path) and raised.value.line == 2 - (suffix == ".yaml")
    added = _cli(tmp_path)("calendar", "add", "--org", "TDC", "cabinet", when, "--as", "perf")
    assert added.exit_code == 2 and "Traceback" not in added.output


def test_an_ics_time_out_of_range_is_a_clear_refusal(tmp_path: Path) -> None:
    """#14 for .ics: a DTSTART in year 1 with a +14:00 offset cannot be a meeting."""
    path = tmp_path / "c.ics"
    path.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Cabinet\r\nX-PMF-BODY:cabinet\r\n"
        b"DTSTART:00010101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with pytest.raises(DataFileError, match="VEVENT 1"):
        read_meetings(path)


# -- 15: .ics import loses data silently ------------------------------------------------------------------


def _ics(tmp_path: Path, *lines: str, start: str = "DTSTART;TZID=Europe/London:20240911T180000") -> Path:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", "UID:cab@x", "SUMMARY:Cabinet"]
    body += ["X-PMF-BODY:cabinet", start, *lines, "END:VEVENT", "END:VCALENDAR", ""]
    path = tmp_path / "council.ics"
    path.write_bytes("\r\n".join(body).encode())
    return path


def test_an_rrule_beyond_the_cap_is_refused(tmp_path: Path) -> None:
    """#15: "RRULE is ignored (COUNT=100000000 imported as one meeting)"."""
    for rule in ("RRULE:FREQ=WEEKLY;COUNT=100000000", "RRULE:FREQ=WEEKLY", "RRULE:FREQ=DAILY;COUNT=201"):
        with pytest.raises(DataFileError, match=r"VEVENT 1 .*(200 meetings|2 years)"):
            read_meetings(_ics(tmp_path, rule))
    with pytest.raises(DataFileError, match="VEVENT 1"):
        read_meetings(_ics(tmp_path, "RRULE:FREQ=SOMETIMES;COUNT=2"))


def test_an_rrule_within_the_horizon_is_expanded(engine: Engine, tmp_path: Path) -> None:
    """#15: a monthly Cabinet for six months is six meetings, at 18:00 London time across the
    October clock change, less the EXDATE, each with its own uid; re-importing changes nothing."""
    path = _ics(
        tmp_path,
        "RRULE:FREQ=MONTHLY;COUNT=6",
        "EXDATE;TZID=Europe/London:20241211T180000",
    )
    rows = read_meetings(path)
    times = [r.starts_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") for r in rows]
    assert times == ["2024-09-11 18:00", "2024-10-11 18:00", "2024-11-11 18:00", "2025-01-11 18:00",
                     "2025-02-11 18:00"]  # fmt: skip
    assert len({r.uid for r in rows}) == 5 and all(r.uid and r.uid.startswith("cab@x") for r in rows)
    calendar = CommitteeCalendar(engine)
    assert calendar.import_file(ORG, path, by="perf").added == 5
    assert calendar.import_file(ORG, path, by="perf").unchanged == 5


def test_a_moved_occurrence_follows_its_recurrence_id(tmp_path: Path) -> None:
    """#15: a RECURRENCE-ID override moves that one occurrence (as Outlook exports a moved one)."""
    path = tmp_path / "council.ics"
    path.write_bytes(
        "\r\n".join(
            [
                "BEGIN:VCALENDAR", "VERSION:2.0",
                "BEGIN:VEVENT", "UID:cab@x", "SUMMARY:Cabinet", "X-PMF-BODY:cabinet",
                "DTSTART;TZID=Europe/London:20240911T180000", "RRULE:FREQ=MONTHLY;COUNT=3", "END:VEVENT",
                "BEGIN:VEVENT", "UID:cab@x", "SUMMARY:Cabinet", "X-PMF-BODY:cabinet",
                "RECURRENCE-ID;TZID=Europe/London:20241011T180000",
                "DTSTART;TZID=Europe/London:20241015T190000", "END:VEVENT",
                "END:VCALENDAR", "",
            ]
        ).encode()
    )  # fmt: skip
    rows = read_meetings(path)
    assert sorted(r.starts_at.astimezone(LONDON).strftime("%m-%d %H:%M") for r in rows) == [
        "09-11 18:00",
        "10-15 19:00",
        "11-11 18:00",
    ]


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    """#15: "an unknown TZID is accepted" (and read as London time)."""
    with pytest.raises(DataFileError, match="unknown time zone 'Mars/Olympus'"):
        read_meetings(_ics(tmp_path, start="DTSTART;TZID=Mars/Olympus:20240911T180000"))
    known = read_meetings(_ics(tmp_path, start="DTSTART;TZID=America/New_York:20240911T130000"))
    assert known[0].starts_at == datetime(2024, 9, 11, 18, tzinfo=LONDON)
    cal = icalendar.Calendar.from_ical(_ics(tmp_path).read_bytes())
    assert cal.walk("VEVENT"), "the helper writes a calendar icalendar reads"


# -- helpers ---------------------------------------------------------------------------------------------


def _audit_text(engine: Engine) -> str:
    with engine.store.read() as s:
        return " ".join(f"{e.reason} {e.data}" for e in s.scalars(select(AuditEntry)))


def _web(engine: Engine, framework: Framework) -> TestClient:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing", "sm_waste"):
        accounts.set_password(user, PASSWORD, by="test")
    app = create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="test-secret", secure_cookies=False)
    )
    return TestClient(app, follow_redirects=False)


def _sign_in(client: TestClient, user: str, page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token
    signed = client.post(
        "/sign-in", data={"username": user, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
    )
    assert signed.status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found
    return found.group(1)


def _cli(tmp_path: Path) -> Callable[..., object]:
    """A ``pmf`` on a fresh SQLite file with the test council, its measures and its cycle."""
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(
            main,
            ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output
        return result

    assert run("org", "add", "TDC", "Test District Council", "--bootstrap").exit_code == 0
    run("actor", "add", "admin", "--name", "A", "--role", "administrator:TDC", "--bootstrap")
    for code in ("HOUSING", "PLANNING", "WASTE"):
        run("service", "add", "TDC", code, code.title(), "--as", "admin")
    run("actor", "add", "perf", "--name", "P", "--role", "performance_officer:TDC", "--as", "admin")
    run("actor", "add", "sm_housing", "--name", "S", "--role", "service_manager:TDC:HOUSING", "--as", "admin")
    run("actor", "add", "hos", "--name", "H", "--role", "head_of_service:TDC:HOUSING", "--as", "admin")
    run("measures", "import", "TDC", str(FIXTURES / "measures" / "measures.csv"), "--as", "perf")
    run("projects", "import", "TDC", str(FIXTURES / "projects" / "projects.csv"), "--as", "perf")
    started = run("cycle", "start", "--org", "TDC", "--period", "2024-25-Q1", "--as", "perf")
    assert started.exit_code == 0, started.output
    return run


def test_a_12_mb_narrative_is_refused_on_every_path(
    framework: Framework, engine: Engine, tmp_path: Path
) -> None:
    """#12.8: "a 12 MB narrative through Excel"; the same limit through the service and the CSV."""
    huge = "x" * 12_000_000
    with pytest.raises(InvalidInput, match="at most 10,000 characters"):
        framework.performance.record_actual(CYCLE, "HOU-01", 20, narrative=huge, by="perf")
    with pytest.raises(InvalidInput, match="at most 10,000 characters"):
        framework.projects.update(CYCLE, "P-02", "at_risk", narrative=huge, by="perf")
    with engine.store.read() as s:
        assert max((len(e.data) for e in s.scalars(select(AuditEntry))), default=0) < 100_000
