"""The dashboard, its drill-down and each person's to-do list, on SQLite and PostgreSQL.

The seeded council reports four measures for 2024-25-Q1 after last quarter's history: two red
(one with its exception report), one green that improved, one green that got worse. The
dashboard must say so per theme, list the reds with what their reports say, name what went
well, and time the cycle's stages against ``framework.yaml``'s targets; the drill-down and the
CSVs carry the same figures; the to-do list follows the engine's allowed transitions.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import dashboard, quality_marks
from pmf_engine.pmf.framework import Framework, read_policies
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES

PASSWORD = "correct horse battery"
MEASURES = Path(__file__).parent / "fixtures" / "measures" / "measures.csv"
PROJECTS = Path(__file__).parent / "fixtures" / "projects" / "projects.csv"
# 2024-25-Q1 targets: HOU-01 28 (lower is better), PLA-01 65, WAS-01 52, COR-01 2.0 (lower).
LAST_QUARTER = {"HOU-01": 35, "PLA-01": 60, "WAS-01": 50, "COR-01": 1.0}
THIS_QUARTER = {"HOU-01": 41, "PLA-01": 70, "WAS-01": 30, "COR-01": 1.8}


@pytest.fixture
def framework(engine: Engine, tmp_path: Path) -> Framework:
    """The council with its measures, last quarter's history and this quarter's figures."""
    framework = Framework(engine, SHIPPED_POLICIES)
    performance = framework.performance
    performance.import_measures(ORG, MEASURES, by="perf")
    history = tmp_path / "history.csv"
    history.write_text(
        "code,period,value\n" + "".join(f"{c},2023-24-Q4,{v}\n" for c, v in LAST_QUARTER.items()),
        encoding="utf-8",
    )
    performance.import_history(ORG, history, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    for code, value in THIS_QUARTER.items():
        performance.record_actual(CYCLE, code, value, narrative=f"{code} this quarter", by="perf")
    performance.add_exception_report(
        CYCLE,
        "HOU-01",
        reason="Contractor shortage",
        remedial_action="Second contractor from August",
        owner="sm_housing",
        recovery_date="2024-12-31",
        by="sm_housing",
    )
    return framework


def test_the_dashboard_says_per_theme_what_is_red_and_what_went_well(framework: Framework) -> None:
    board = dashboard.build(framework, CYCLE)
    tiles = {t.theme: t for t in board.tiles}
    assert set(tiles) == {"Homes", "Growth", "Environment", "Council"}
    assert tiles["Homes"].counts["red"] == 1 and tiles["Homes"].worsening == 1
    assert tiles["Growth"].counts["green"] == 1 and tiles["Growth"].improving == 1
    assert tiles["Growth"].headline == "1 of 1 on target; 1 improving since last quarter"
    concerns = {c.code: c for c in board.concerns}
    assert set(concerns) == {"HOU-01", "WAS-01"}
    assert concerns["HOU-01"].reason == "Contractor shortage"
    assert concerns["HOU-01"].recovery_date == "2024-12-31"
    assert not concerns["WAS-01"].reported  # no exception report yet: the page says so
    # Green and better than last quarter; COR-01 is green but worse (1.0 -> 1.8, lower is better).
    assert [m.code for m in board.went_well] == ["PLA-01"]
    assert board.quarters == ["2024-25-Q1"] and board.last_year is None and not board.frozen


def test_an_off_track_projects_exception_report_is_on_the_dashboard(framework: Framework) -> None:
    """Projects' exception reports are filed as ``project CODE``: the dashboard must find them
    (found in a new-user trial of the demo: an off-track project said "no exception report
    yet" at Scrutiny, after sign-off had required one)."""
    framework.projects.import_projects(ORG, PROJECTS, by="perf")
    code = framework.projects.projects(ORG)[0][0].code
    framework.projects.update(CYCLE, code, "off_track", narrative="Supplier failed", by="perf")
    framework.performance.add_exception_report(
        CYCLE,
        code,
        reason="Supplier went into administration",
        remedial_action="New tender",
        owner="perf",
        recovery_date="2025-03-31",
        by="perf",
        project=True,
    )
    (concern,) = [c for c in dashboard.build(framework, CYCLE).concerns if c.kind == "project"]
    assert concern.code == code and concern.reason == "Supplier went into administration"


def test_stages_are_timed_against_the_councils_targets(
    framework: Framework, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    shipped = (Path(__file__).parent.parent / "policies" / "framework.yaml").read_text(encoding="utf-8")
    own = tmp_path / "framework.yaml"
    own.write_text(shipped.replace("      cmt_review: 20", "      service_review: 10\n      cmt_review: 20"))
    framework = Framework(engine, read_policies(None, own))
    for service in ("HOUSING", "PLANNING", "WASTE"):
        engine.fire(f"{CYCLE}/{service}", "submit", f"sm_{service.lower()}")
        engine.fire(f"{CYCLE}/{service}", "accept", "perf")
    clock.advance(timedelta(days=20))  # 1 July + 20 days: past the 10 working days allowed
    engine.fire(CYCLE, "close_data_request", "perf")
    stages = {s.label: s for s in dashboard.build(framework, CYCLE).stages}
    review = stages["Service review"]
    assert review.target == 10  # framework.yaml: dashboard.timeliness
    assert review.working_days > 10 and review.late


def test_a_timeliness_target_for_an_unknown_stage_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    shipped = (Path(__file__).parent.parent / "policies" / "framework.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "framework.yaml"
    broken.write_text(shipped.replace("      cmt_review: 20", "      cmt_reveiw: 20"), encoding="utf-8")
    with pytest.raises(
        DefinitionError, match=r"timeliness\.quarterly_cycle\.cmt_reveiw\].*no state 'cmt_reveiw'"
    ):
        read_policies(None, broken).check(catalog)


@pytest.fixture
def client(framework: Framework, engine: Engine) -> TestClient:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing"):
        accounts.set_password(user, PASSWORD, by="test")
    app = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    return TestClient(app, follow_redirects=False)


def _sign_in(client: TestClient, user: str) -> None:
    page = client.get("/sign-in")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/sign-in", data={"username": user, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text[:300]


def test_drill_down_from_the_dashboard_to_a_figure_and_back(client: TestClient) -> None:
    _sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}/dashboard")
    assert page.status_code == 200
    assert "Quarter 1 2024-25 at a glance" in page.text and "2024-25-Q1 at a glance" not in page.text
    assert "Contractor shortage" in page.text and "No exception report yet" in page.text
    assert "31 December 2024" in page.text, "the expected recovery as people write a day"
    theme = f"/orgs/{ORG}/dashboard/2024-25-Q1/themes/Homes"
    assert f'href="{theme}"' in page.text
    drilled = client.get(theme, params={"rag": "red"})
    assert drilled.status_code == 200 and "HOU-01" in drilled.text
    assert "1 measure</caption>" in drilled.text
    assert ">41 days<" in drilled.text and ">28 days</td>" in drilled.text, "as the measures page writes them"
    assert '<td class="govuk-table__cell">Housing</td>' in drilled.text, "a service by its name, not HOUSING"
    none = client.get(theme, params={"rag": "green"})
    assert "No measure matches." in none.text
    history = client.get(f"/orgs/{ORG}/measures/HOU-01/history", params={"upto": "2024-25-Q1"})
    assert history.status_code == 200
    assert "<svg" in history.text and "<title" in history.text  # the chart and its text alternative
    assert "HOU-01 this quarter" in history.text and "Back to the dashboard" in history.text
    rows = list(csv.reader(io.StringIO(client.get(f"/orgs/{ORG}/measures/HOU-01/history.csv").text)))
    assert rows[0] == ["period", "value", "target", "narrative", "exception_reason"]
    assert rows[-1][:3] == ["2024-25-Q1", "41.0", "28.0"] and rows[-1][4] == "Contractor shortage"
    assert rows[-2][:2] == ["2023-24-Q4", "35.0"] and len(rows) == 1 + dashboard.HISTORY_QUARTERS
    tiles = list(csv.reader(io.StringIO(client.get(f"/orgs/{ORG}/dashboard/2024-25-Q1/tiles.csv").text)))
    assert ["Homes", "0", "0", "1", "0", "0", "0", "1"] in tiles
    summary = client.get(f"/orgs/{ORG}/dashboard/2024-25-Q1/summary")
    assert summary.status_code == 200 and "Performance summary: Quarter 1 2024-25" in summary.text
    assert client.get(f"/orgs/{ORG}/dashboard", params={"period": "2019-20-Q1"}).status_code == 404


def test_the_summary_prints_to_pdf(client: TestClient) -> None:
    _sign_in(client, "perf")
    answer = client.get(f"/orgs/{ORG}/dashboard/2024-25-Q1/summary.pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Performance summary: Quarter 1 2024-25" in text and "Contractor shortage" in text
    assert "Sign out" not in text  # printed without the navigation
    assert len(reader.pages) <= 2


def test_each_to_do_is_for_the_right_person_and_goes_when_done(
    client: TestClient, framework: Framework, engine: Engine
) -> None:
    housing = f"{CYCLE}/HOUSING"
    mine = {t.key: t for t in dashboard.todo(framework, "sm_housing", [ORG])}
    assert housing in mine and "Submit" in " ".join(mine[housing].steps).title()
    assert f"{CYCLE}/WASTE" not in mine  # another service's return

    def perf_may(key: str) -> tuple[str, ...]:
        found = {t.key: t for t in dashboard.todo(framework, "perf", [ORG])}
        return found[key].steps if key in found else ()

    offered_before = perf_may(housing)
    engine.fire(housing, "submit", "sm_housing")
    assert housing not in {t.key for t in dashboard.todo(framework, "sm_housing", [ORG])}
    assert perf_may(housing) != offered_before  # now theirs to accept or send back
    _sign_in(client, "perf")
    page = client.get("/todo")
    assert page.status_code == 200 and housing in page.text


def test_the_dashboard_marks_provisional_and_estimated_figures(
    framework: Framework, client: TestClient
) -> None:
    """Found in review: the dashboard showed a provisional figure as if it were final. A red
    measure's or a measure that went well's figure is tagged in text, as on the theme's page and
    the one-page summary, under the quarterly report's note naming the marked figures."""
    framework.performance.record_actual(CYCLE, "HOU-01", 41, quality="provisional", by="perf")
    framework.performance.record_actual(CYCLE, "PLA-01", 70, quality="estimated", by="perf")
    board = dashboard.build(framework, CYCLE)
    assert board.marked == ["HOU-01", "PLA-01"]
    concerns = {c.code: c for c in board.concerns}
    assert (concerns["HOU-01"].quality, concerns["WAS-01"].quality) == ("provisional", "")
    tag = '<strong class="govuk-tag govuk-tag--yellow">{}</strong>'
    note = quality_marks.note(["HOU-01", "PLA-01"])
    _sign_in(client, "perf")
    for path in (f"/orgs/{ORG}/dashboard", f"/orgs/{ORG}/dashboard/2024-25-Q1/summary"):
        page = client.get(path).text
        assert note in page, path
        red = page[page.index("HOU-01: ") :]
        assert tag.format("Provisional figure") in red[: red.index("</tr>")], path
        well = page[page.index('id="went-well"') :]
        assert tag.format("Estimated figure") in well[: well.index("</ul>")], path
        waste = page[page.index("WAS-01: ") :]
        assert "govuk-tag--yellow" not in waste[: waste.index("</tr>")], path
    theme = client.get(f"/orgs/{ORG}/dashboard/2024-25-Q1/themes/Homes").text
    row = theme[theme.index("HOU-01: ") :]
    assert tag.format("Provisional figure") in row[: row.index("</tr>")]
    for path in (f"/orgs/{ORG}/measures/HOU-01/history", f"/orgs/{ORG}/measures"):
        page = client.get(path).text  # the measure's page and the measures list tag it alike
        assert tag.format("Provisional figure") in page and ">provisional<" not in page, path
    assert quality_marks.note(["HOU-01"]) in theme  # the theme's own figures only


def test_page_headings_name_the_council_and_the_quarter_in_words(client: TestClient) -> None:
    """Found by a new user: headings said "TDC: audit trail" and "2024-25-Q1 at a glance"."""
    _sign_in(client, "perf")
    board = client.get(f"/orgs/{ORG}/dashboard").text
    assert '<option value="2024-25-Q1" selected>Quarter 1 2024-25</option>' in board
    meetings = client.get(f"/orgs/{ORG}/meetings").text
    assert '<h1 class="govuk-heading-l">Test District Council: committee meetings</h1>' in meetings
