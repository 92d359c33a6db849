"""One set of data rules on every door (``pmf_engine.pmf.rules`` and the submit guard of
``pmf_engine.pmf.completeness``): the web form, the JSON API, the CLI and the Excel return each
refuse the same figures with an error naming the measure and the field (the cell, for the
return), record nothing of a refused batch, and no door submits a return with a red measure
unexplained or a figure missing without its reason.

Found on the demo before: -5 households and 140 % rent collected (shown green), ``nan`` and
``inf`` accepted by the form and the CLI (``pmf actuals record ... HOU-04 150`` too); a return
with three reds and no narratives submitted; an empty return submitted and accepted.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, GuardFailed, InvalidInput, PmfError
from pmf_engine.core.store import Instance, sqlite_url
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import report, rules
from pmf_engine.pmf.completeness import return_problems
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Actual, Project, ProjectUpdate
from pmf_engine.pmf.performance import ActualIn
from tests.conftest import CYCLE, ORG, POLICIES, SHIPPED_POLICIES, WORKFLOWS, services

FIXTURES = Path(__file__).parent / "fixtures"
RETURN = f"{CYCLE}/HOUSING"
PASSWORD = "correct horse battery"
CODES = ("HOU-02", "HOU-04", "HOU-08", "HOU-09")
"""The HOUSING measures due in Q1 (HOU-10 is annual: due in Q4)."""
GOOD = {"HOU-02": "61", "HOU-04": "98.5", "HOU-08": "-1200.5", "HOU-09": "101"}
"""A figure each, none red (HOU-08 is money: under budget is negative)."""


@dataclass
class Figure:
    """What a person types for one measure."""

    code: str
    value: str = ""
    narrative: str = ""
    missing_reason: str = ""


@dataclass
class Answer:
    ok: bool
    message: str


@dataclass
class Door:
    """One way in: record figures, then submit the return, as the service manager."""

    name: str
    framework: Framework
    url: str
    tmp: Path
    web: TestClient | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def record(self, *figures: Figure) -> Answer:
        return getattr(self, f"_record_{self.name}")(list(figures))

    def submit(self) -> Answer:
        return getattr(self, f"_submit_{self.name}")()

    # -- web form -----------------------------------------------------------------------------
    def _token(self) -> str:
        assert self.web is not None
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.web.get(f"/instances/{RETURN}").text)
        assert found
        return found.group(1)

    def _record_web(self, figures: list[Figure]) -> Answer:
        assert self.web is not None
        data: dict[str, Any] = {"csrf_token": self._token(), "code": [f.code for f in figures]}
        for f in figures:
            data |= {
                f"actual_{f.code}": f.value,
                f"narrative_{f.code}": f.narrative,
                f"missing_reason_{f.code}": f.missing_reason,
            }
        answer = self.web.post(f"/instances/{RETURN}/actuals", data=data)
        return Answer(answer.status_code == 303, _page_errors(answer.text))

    def _submit_web(self) -> Answer:
        assert self.web is not None
        version = self.framework.engine.peek(RETURN)[1]
        answer = self.web.post(
            f"/instances/{RETURN}/fire",
            data={"csrf_token": self._token(), "trigger": "submit", "expected_version": version},
        )
        return Answer(answer.status_code == 303, _page_errors(answer.text))

    # -- JSON API -----------------------------------------------------------------------------
    def _record_api(self, figures: list[Figure]) -> Answer:
        assert self.web is not None
        body = {
            "figures": [
                {
                    "code": f.code,
                    "value": float(f.value) if f.value else None,  # nan and inf go as NaN, Infinity
                    "narrative": f.narrative,
                    "missing_reason": f.missing_reason,
                }
                for f in figures
            ]
        }
        answer = self.web.post(
            f"/api/v1/instances/{RETURN}/actuals",
            headers={**self.headers, "Content-Type": "application/json"},
            content=json.dumps(body),  # allow_nan: what a script's JSON library may well send
        )
        return Answer(answer.status_code == 200, str(answer.json().get("detail", "")))

    def _submit_api(self) -> Answer:
        assert self.web is not None
        version = self.framework.engine.peek(RETURN)[1]
        answer = self.web.post(
            f"/api/v1/instances/{RETURN}/transitions",
            headers=self.headers,
            json={"trigger": "submit", "expected_version": version},
        )
        return Answer(answer.status_code == 201, str(answer.json().get("detail", "")))

    # -- CLI ----------------------------------------------------------------------------------
    def _pmf(self, *args: str) -> Answer:
        result = CliRunner().invoke(
            main,
            [*("--db", self.url, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES)), *NOW, *args],
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output
        return Answer(result.exit_code == 0, result.output)

    def _record_cli(self, figures: list[Figure]) -> Answer:
        for f in figures:
            options = ["--narrative", f.narrative, "--missing-reason", f.missing_reason]
            answer = self._pmf(
                "actuals", "record", CYCLE, f.code, f.value or "missing", *options, "--as", "sm_housing"
            )
            if not answer.ok:
                return answer
        return Answer(True, "")

    def _submit_cli(self) -> Answer:
        return self._pmf("fire", CYCLE, "submit", "--service", "HOUSING", "--as", "sm_housing")

    # -- the Excel return ---------------------------------------------------------------------
    def _record_xlsx(self, figures: list[Figure]) -> Answer:
        path = self.tmp / "housing.xlsx"
        returns = self.framework.returns
        returns.template(CYCLE, "HOUSING", path)
        book = openpyxl.load_workbook(path)
        sheet = book["Return"]
        rows = {sheet.cell(row=r, column=1).value: r for r in range(2, sheet.max_row + 1)}
        for f in figures:
            r = rows[f.code]
            number = float(f.value) if f.value else None
            # Excel holds no NaN or infinity: typed in, they are text (hostile XML: test_hostile_data)
            sheet.cell(row=r, column=6).value = (
                f.value if number is not None and not math.isfinite(number) else number
            )
            sheet.cell(row=r, column=7).value = f.narrative or None
            sheet.cell(row=r, column=9).value = f.missing_reason or None
        book.save(path)
        try:
            returns.import_return(CYCLE, "HOUSING", path, by="sm_housing")
        except DataFileError as exc:
            return Answer(False, "\n".join(f"{p.field}: {p.message}" for p in exc.problems))
        return Answer(True, "")

    def _submit_xlsx(self) -> Answer:  # an uploaded return is then submitted on its page
        self.name = "web"
        try:
            return self.submit()
        finally:
            self.name = "xlsx"


DOORS = ("web", "api", "cli", "xlsx")
NOW = ("--now", "2024-07-01 10:00")


def _page_errors(html: str) -> str:
    """The error summary and field errors of a page, as text."""
    found = re.findall(r'<li><a href="#[^"]*">(.*?)</a></li>|govuk-error-message">(.*?)</p>', html, re.S)
    text = " ".join(a or b for a, b in found)
    return re.sub(r"<[^>]+>", "", text).replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&")


@pytest.fixture(params=["sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The seeded council on SQLite only: the rules are the application's, not the database's
    (the submit guard's query plan is read on both backends in test_query_plans)."""
    template: Path = request.getfixturevalue("sqlite_template")
    shutil.copyfile(template, tmp_path / "pmf.db")
    return sqlite_url(tmp_path / "pmf.db")


@pytest.fixture
def framework(engine: Engine) -> Framework:
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures" / "rules.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return framework


@pytest.fixture(params=DOORS)
def door(request: pytest.FixtureRequest, framework: Framework, store_url: str, tmp_path: Path) -> Door:
    engine = framework.engine
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("sm_housing", PASSWORD, by="test")
    app = create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="test-secret", secure_cookies=False)
    )
    web = TestClient(app, follow_redirects=False)
    page = web.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    signed = web.post(
        "/sign-in",
        data={"username": "sm_housing", "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
    )
    assert signed.status_code == 303
    headers = {"Authorization": f"Bearer {accounts.create_token('sm_housing', 'script', by='test')}"}
    return Door(request.param, framework, store_url, tmp_path, web, headers)


def _figures(framework: Framework) -> dict[str, tuple[float | None, str]]:
    """What is recorded for the HOUSING measures: (actual, missing reason) by code."""
    return {
        m.code: (m.actual, m.missing_reason)
        for m in framework.performance.status(CYCLE)
        if m.service == "HOUSING"
    }


def _recorded_rows(framework: Framework) -> int:
    with framework.engine.store.read() as s:
        return len(list(s.scalars(select(Actual.id))))


# -- the figure rules ---------------------------------------------------------------------------

REFUSED = [
    pytest.param("HOU-02", "-5", "out of range for a count measure (at least 0)", id="negative-count"),
    pytest.param("HOU-02", "2.5", "not a whole number", id="fractional-count"),
    pytest.param("HOU-04", "140", "out of range for a percent measure (0 to 100)", id="percent-over-100"),
    pytest.param("HOU-04", "150", "out of range for a percent measure (0 to 100)", id="percent-150"),
    pytest.param("HOU-04", "-0.5", "out of range for a percent measure (0 to 100)", id="negative-percent"),
    pytest.param("HOU-09", "160", "out of range for this measure", id="over-its-own-maximum"),
    pytest.param("HOU-04", "nan", "nan", id="nan"),
    pytest.param("HOU-08", "inf", "inf", id="inf"),
]


@pytest.mark.parametrize(("code", "value", "why"), REFUSED)
def test_a_figure_breaking_a_rule_is_refused_by_every_door(
    door: Door, framework: Framework, code: str, value: str, why: str
) -> None:
    """Named by measure and field (by cell, in the return); nothing of the batch recorded."""
    before = _recorded_rows(framework)
    good = Figure("HOU-09" if code != "HOU-09" else "HOU-04", "99")
    answer = door.record(good, Figure(code, value, narrative="typed in"))
    assert not answer.ok
    assert why.lower() in answer.message.lower(), answer.message
    if door.name == "xlsx":
        assert re.search(r"Return!F\d", answer.message), "the cell is named"
    else:
        assert code in answer.message, "the measure is named"
    if door.name in ("web", "api"):
        assert "actual" in answer.message.lower(), "the field is named"
    assert _figures(framework)[code][0] is None, "the figure was not recorded"
    if door.name != "cli":  # the CLI records one figure a command
        assert _recorded_rows(framework) == before, "nothing of the batch was recorded"


ACCEPTED = [
    pytest.param("HOU-04", "100", id="percent-100"),
    pytest.param("HOU-04", "0", id="percent-0"),
    pytest.param("HOU-09", "140", id="within-its-own-maximum"),
    pytest.param("HOU-08", "-1200.5", id="money-negative"),
    pytest.param("HOU-02", "0", id="count-zero"),
]


@pytest.mark.parametrize(("code", "value"), ACCEPTED)
def test_a_figure_within_the_rules_is_recorded_by_every_door(
    door: Door, framework: Framework, code: str, value: str
) -> None:
    answer = door.record(Figure(code, value, narrative="as reported"))
    assert answer.ok, answer.message
    assert _figures(framework)[code][0] == float(value)


def test_a_figure_and_a_missing_reason_together_are_refused(door: Door, framework: Framework) -> None:
    answer = door.record(Figure("HOU-02", "61", missing_reason="system down"))
    assert not answer.ok and "not both" in answer.message, answer.message
    assert "I" in answer.message if door.name == "xlsx" else "HOU-02" in answer.message
    assert _figures(framework)["HOU-02"] == (None, "")


# -- what a return holds before it is submitted -------------------------------------------------


def test_an_empty_return_is_not_submitted(door: Door, framework: Framework) -> None:
    answer = door.submit()
    assert not answer.ok
    for code in CODES:
        assert f"{code} has no figure" in answer.message, answer.message
    assert "HOU-10" not in answer.message, "an annual measure is due in Q4"
    assert framework.engine.peek(RETURN)[0] == "requested"


def test_a_missing_figure_needs_its_reason(door: Door, framework: Framework) -> None:
    figures = [Figure(c, GOOD[c]) for c in CODES if c != "HOU-09"]
    assert door.record(*figures).ok
    refused = door.submit()
    assert not refused.ok and "HOU-09 has no figure and no reason" in refused.message, refused.message
    assert "HOU-02" not in refused.message
    reason = "The occupancy system was down at the quarter's end"
    recorded = door.record(Figure("HOU-09", missing_reason=reason))
    assert recorded.ok, recorded.message
    assert _figures(framework)["HOU-09"] == (None, reason)
    submitted = door.submit()
    assert submitted.ok, submitted.message
    assert framework.engine.peek(RETURN)[0] == "submitted"
    assert f"not reported: {reason}" in report.html(report.gather(framework, CYCLE)).replace("&#39;", "'")


def test_a_red_measure_needs_a_narrative_before_the_return_is_submitted(
    door: Door, framework: Framework
) -> None:
    answer = door.record(*(Figure(c, "80" if c == "HOU-04" else GOOD[c]) for c in CODES))  # red: 80 < 98
    if door.name == "xlsx":  # a return is checked whole as it is read
        assert not answer.ok and re.search(r"Return!G\d: a red measure needs a narrative", answer.message)
        return
    assert answer.ok, answer.message
    refused = door.submit()
    assert not refused.ok and "HOU-04 is red and has no narrative" in refused.message, refused.message
    assert framework.engine.peek(RETURN)[0] == "requested"
    assert door.record(Figure("HOU-04", "80", narrative="Universal Credit migration")).ok
    submitted = door.submit()
    assert submitted.ok, submitted.message


def test_reds_without_narratives_are_all_named(framework: Framework) -> None:
    """Three reds, no narratives (the finding): one refusal names every one."""
    perf = framework.performance
    for code, value in (("HOU-02", "90"), ("HOU-04", "80"), ("HOU-09", "60"), ("HOU-08", "5000")):
        perf.record_actual(CYCLE, code, float(value), by="sm_housing")
    with pytest.raises(GuardFailed) as refused:
        framework.engine.fire(RETURN, "submit", "sm_housing")
    assert refused.value.guard == "return_complete"
    for code in ("HOU-02", "HOU-04", "HOU-09", "HOU-08"):
        assert f"{code} is red and has no narrative" in refused.value.why


def test_an_off_track_project_needs_a_narrative(framework: Framework, tmp_path: Path) -> None:
    """``pmf projects update`` and the return's Projects sheet refuse an off-track project with
    no narrative; one written around them (an older row) still stops the return's submission."""
    projects = framework.projects
    projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf")
    with pytest.raises(InvalidInput, match="project P-01: a project off track needs a narrative"):
        projects.update(CYCLE, "P-01", "off_track", by="sm_housing")
    perf = framework.performance
    perf.record_actuals(CYCLE, [rules_row(c, GOOD[c]) for c in CODES], by="sm_housing")
    engine = framework.engine
    with engine.store.write() as s:
        project = s.scalar(select(Project).where(Project.code == "P-01"))
        assert project is not None
        s.add(
            ProjectUpdate(
                project_id=project.id,
                period="2024-25-Q1",
                status="off_track",
                narrative="",
                reported_by="sm_housing",
                reported_at=engine.clock.now(),
            )
        )
    with pytest.raises(GuardFailed, match="project P-01 is off track and has no narrative"):
        engine.fire(RETURN, "submit", "sm_housing")
    projects.update(CYCLE, "P-01", "off_track", narrative="Contractor went into administration", by="perf")
    assert engine.fire(RETURN, "submit", "sm_housing").to_state == "submitted"


def rules_row(code: str, value: str) -> ActualIn:
    return ActualIn(code, float(value))


def test_a_service_with_nothing_to_report_may_submit(framework: Framework) -> None:
    """WASTE has no measure or project in this council: its return has nothing to owe."""
    assert framework.engine.fire(f"{CYCLE}/WASTE", "submit", "sm_waste").to_state == "submitted"


# -- the guard on the hot path ------------------------------------------------------------------


@pytest.fixture
def statements(framework: Framework) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(framework.engine.store.engine, "before_cursor_execute", record)
    yield seen
    event.remove(framework.engine.store.engine, "before_cursor_execute", record)


def test_the_submit_guard_reads_in_one_query(framework: Framework, statements: list[str]) -> None:
    perf = framework.performance
    perf.record_actuals(CYCLE, [rules_row(c, GOOD[c]) for c in CODES], by="sm_housing")
    with framework.engine.store.read() as s:
        service_id = s.scalar(select(Instance.service_id).where(Instance.key == RETURN))
        assert service_id is not None
        statements.clear()
        assert return_problems(s, service_id, "2024-25-Q1", SHIPPED_POLICIES) == []
        assert len(statements) == 1, statements


# -- the pure rules -----------------------------------------------------------------------------


def test_bounds_by_format_and_by_the_measures_own_range() -> None:
    assert rules.bounds("percent").span() == "0 to 100"
    assert rules.bounds("percent", maximum=150).span() == "0 to 150"
    assert rules.bounds("count").problem(3.0) is None and rules.bounds("count").problem(3.5)
    assert rules.bounds("currency").problem(-1e9) is None
    assert rules.bounds("currency").problem(math.inf) == "inf is not a finite number"
    assert rules.bounds("number").problem(math.nan) == "nan is not a finite number"
    assert rules.range_problem("percent", 10, 5) == "the minimum 10 is above the maximum 5"
    assert rules.bounds("number").problem(-5) == "-5 is out of range for a number measure (at least 0)"
    assert rules.bounds("number", minimum=-10).problem(-5) is None, "a measure may say it goes below 0"


def test_the_measures_file_range_is_checked_with_its_line_and_column(
    framework: Framework, tmp_path: Path
) -> None:
    bad = tmp_path / "measures.csv"
    bad.write_text(
        "code,title,polarity,format,minimum,maximum,target 2024-25-Q1\n"
        "X-1,Upside down,higher,percent,90,10,50\n"
        "X-2,Target out of range,higher,percent,,,120\n"
        "X-3,Negative count floor,higher,count,-3,,5\n"
    )
    with pytest.raises(DataFileError) as raised:
        framework.performance.import_measures(ORG, bad, by="perf")
    found = {(p.line, p.field): p.message for p in raised.value.problems}
    assert "the minimum 90 is above the maximum 10" in found[(2, "maximum")]
    assert "the 2024-25-Q1 target 120 is outside the range (0 to 100)" in found[(3, "targets")]
    assert "cannot go below 0" in found[(4, "minimum")]


def test_the_csv_import_names_line_and_column(framework: Framework, tmp_path: Path) -> None:
    csv = tmp_path / "actuals.csv"
    csv.write_text(
        "code,value,narrative,forecast,missing_reason\n"
        "HOU-04,140,,,\n"
        "HOU-02,-5,,,\n"
        "HOU-09,,,,system down\n"
        "HOU-08,12,,,and a reason\n"
    )
    with pytest.raises(DataFileError) as raised:
        framework.performance.import_actuals(CYCLE, csv, by="sm_housing")
    found = {(p.line, p.field): p.message for p in raised.value.problems}
    assert found == {
        (2, "value"): "HOU-04: 140 is out of range for a percent measure (0 to 100)",
        (3, "value"): "HOU-02: -5 is out of range for a count measure (at least 0)",
        (5, "missing_reason"): "HOU-08: give a figure or the reason it is missing, not both",
    }
    assert _recorded_rows(framework) == 0


def test_a_restatement_keeps_to_the_rules(framework: Framework) -> None:
    with pytest.raises(PmfError, match="out of range"):
        framework.performance.restate(CYCLE, "HOU-04", 140, reason="typo", by="perf")
