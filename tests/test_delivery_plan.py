"""The delivery plan: measures linked to projects, key projects, and a headline per Council Plan
theme (narrative, RAG counts, key projects) before the projects in the report and on the
dashboard's theme view; frozen with the report at sign-off, every headline audited."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import dashboard, report
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, POLICIES, WORKFLOWS, services, settle_returns

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"
PROJECTS = (
    "project,title,theme,priority,service,owner,milestone,due,completed,measures,key\n"
    "P-01,New leisure centre,Homes,Regeneration,HOUSING,sm_housing,Planning consent,2024-05-31,,HOU-01,yes\n"
    "P-01,,,,,,Doors open,2025-09-30,,,\n"
    "P-02,Food waste collections,Environment,Recycling,WASTE,sm_waste,Caddies,2024-09-30,,WAS-01;COR-01,\n"
    "P-03,Empty homes grants,Homes,Empty homes,HOUSING,sm_housing,Scheme open,2024-09-30,,,no\n"
)

TO_SIGN_OFF = (
    ("close_data_request", "perf"),
    ("complete_service_review", "perf"),
    ("endorse", "cmt"),
    ("sign_off", "lead"),
)
"""The cycle's steps from the data request to the Leadership Team's sign-off (which freezes the report)."""


@pytest.fixture
def framework(engine: Engine, cycle: str, tmp_path: Path) -> Framework:
    del cycle
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    path = tmp_path / "projects.csv"
    path.write_text(PROJECTS, encoding="utf-8")
    assert framework.projects.import_projects(ORG, path, by="perf") == (3, 0)
    framework.performance.record_actual(CYCLE, "HOU-01", 35, narrative="Voids backlog", by="perf")
    framework.performance.record_actual(CYCLE, "PLA-01", 70, by="perf")
    return framework


def test_projects_carry_the_measures_they_move_and_whether_they_are_key(framework: Framework) -> None:
    status = {p.code: p for p in framework.projects.status(CYCLE)}
    assert status["P-01"].measures == ["HOU-01"] and status["P-01"].key
    assert status["P-02"].measures == ["COR-01", "WAS-01"] and not status["P-02"].key
    assert status["P-03"].measures == [] and not status["P-03"].key


def test_a_file_without_the_measures_column_leaves_the_links_alone(framework: Framework) -> None:
    framework.projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf")
    assert {p.code: p.measures for p in framework.projects.status(CYCLE)}["P-01"] == ["HOU-01"]


def test_an_unknown_measure_imports_nothing(framework: Framework, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        PROJECTS.replace("WAS-01;COR-01", "WAS-01;NOPE-9").replace("New leisure", "Old"), encoding="utf-8"
    )
    with pytest.raises(DataFileError) as raised:
        framework.projects.import_projects(ORG, bad, by="perf")
    (problem,) = raised.value.problems
    assert (problem.file, problem.field) == (str(bad), "measures") and "P-02" in problem.message
    assert "NOPE-9" in problem.message
    assert {p.code: p.title for p in framework.projects.status(CYCLE)}["P-01"] == "New leisure centre"


def test_a_theme_headline_has_its_narrative_counts_and_key_projects(
    framework: Framework, engine: Engine
) -> None:
    framework.delivery.write_headline(
        CYCLE, "Homes", "Re-let times rose; the leisure centre is on site.", by="perf"
    )
    framework.delivery.write_headline(CYCLE, "Homes", "Re-let times rose after the heating works.", by="perf")
    data = report.gather(framework, CYCLE)
    headlines = {h.theme: h for h in data.content.headlines}
    homes = headlines["Homes"]
    assert homes.narrative == "Re-let times rose after the heating works." and homes.written_by == "perf"
    assert homes.counts["red"] == 1 and homes.measures == 1
    assert [p.code for p in homes.key_projects] == ["P-01"]  # marked key: P-03 is not named
    assert [p.code for p in headlines["Environment"].key_projects] == ["P-02"]  # none marked: all
    assert headlines["Growth"].counts["green"] == 1 and headlines["Growth"].narrative == ""
    with engine.store.read() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.event == "theme.headline")).all()
    assert len(entries) == 2 and entries[0].instance == CYCLE
    assert json.loads(entries[1].data)["narrative"] == "Re-let times rose after the heating works."


def test_only_an_organisation_wide_reporter_writes_headlines_of_known_themes(framework: Framework) -> None:
    with pytest.raises(PermissionDenied):
        framework.delivery.write_headline(CYCLE, "Homes", "Mine", by="sm_housing")
    with pytest.raises(NotFound, match="known: Council, Environment, Growth, Homes"):
        framework.delivery.write_headline(CYCLE, "Nowhere", "x", by="perf")
    with pytest.raises(InvalidInput):
        framework.delivery.write_headline(CYCLE, "Homes", "  ", by="perf")


def test_the_headlines_come_before_the_projects_in_the_report(framework: Framework) -> None:
    framework.delivery.write_headline(CYCLE, "Homes", "HEADLINE-OF-HOMES", by="perf")
    page = report.html(report.gather(framework, CYCLE))
    assert page.index('id="delivery-plan"') < page.index('id="projects"')
    assert page.index("HEADLINE-OF-HOMES") < page.index('id="projects"')
    assert "P-01: New leisure centre: on track" not in page  # not reported yet
    assert "Measures: COR-01, WAS-01" in page and "(moves HOU-01)" in page


def test_the_headline_is_frozen_with_the_report(framework: Framework, engine: Engine) -> None:
    framework.delivery.write_headline(CYCLE, "Homes", "As signed off", by="perf")
    framework.performance.add_exception_report(
        CYCLE, "HOU-01", reason="r", remedial_action="a", owner="perf", recovery_date="2025-03-31", by="perf"
    )
    settle_returns(engine)
    for trigger, who in TO_SIGN_OFF:
        engine.fire(CYCLE, trigger, who)
    with pytest.raises(NotNow, match="frozen"):
        framework.delivery.write_headline(CYCLE, "Homes", "After", by="perf")
    frozen = report.gather(framework, CYCLE)
    assert frozen.frozen is not None
    assert {h.theme: h.narrative for h in frozen.content.headlines}["Homes"] == "As signed off"
    report.verify_frozen(framework.performance, CYCLE)


def test_the_dashboard_theme_view_has_the_headline(framework: Framework) -> None:
    framework.delivery.write_headline(CYCLE, "Homes", "Homes are the priority", by="perf")
    board = dashboard.build(framework, CYCLE, compare=False)
    headline = board.headline("Homes")
    assert headline is not None and headline.narrative == "Homes are the priority"
    assert [p.code for p in headline.key_projects] == ["P-01"]
    assert board.headline("Nowhere") is None


def test_the_cli_writes_and_lists_headlines(framework: Framework, store_url: str) -> None:
    """``pmf themes headline`` and ``pmf themes list`` on the same database."""
    del framework
    if not store_url.startswith("sqlite"):
        pytest.skip("the CLI leaves its connection pool to the process's exit: closed here by no one")
    runner = CliRunner()
    args = ["--db", store_url, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES)]
    written = runner.invoke(
        main, [*args, "themes", "headline", CYCLE, "Homes", "--narrative", "Homes first", "--as", "perf"]
    )
    assert written.exit_code == 0, written.output
    refused = runner.invoke(
        main, [*args, "themes", "headline", CYCLE, "Homes", "--narrative", "x", "--as", "sm_housing"]
    )
    assert refused.exit_code == 1
    listed = runner.invoke(main, [*args, "themes", "list", CYCLE]).stdout
    assert "Homes: 1 red" in listed and "Homes first" in listed
    assert "key project P-01: New leisure centre: missing (moves HOU-01)" in listed


def test_the_theme_page_takes_the_headline_until_sign_off(framework: Framework, engine: Engine) -> None:
    """The theme view offers the headline form to an organisation-wide reporter (the CLI's rule):
    an empty one is shown again with its error, nothing written; a written one is audited and
    shown; a service manager gets no form and is refused; after sign-off nobody may."""
    client, token = _web(engine, "perf")
    page = f"/orgs/{ORG}/dashboard/2024-25-Q1/themes/Homes"
    shown = client.get(page).text
    assert f'action="{page}/headline"' in shown and 'id="headline-narrative"' in shown
    empty = client.post(f"{page}/headline", data={"csrf_token": token, "narrative": "  "})
    assert empty.status_code == 400 and 'href="#headline-narrative"' in empty.text
    assert not _headlines(engine)
    saved = client.post(f"{page}/headline", data={"csrf_token": token, "narrative": "Homes <first>"})
    assert saved.status_code == 303 and saved.headers["location"] == f"{page}?saved=headline#theme-headline"
    after = client.get(saved.headers["location"]).text
    assert "Headline saved" in after and "Homes &lt;first&gt;" in after
    assert [(e.actor, json.loads(e.data)["narrative"]) for e in _headlines(engine)] == [
        ("perf", "Homes <first>")
    ]
    assert (
        client.post(
            f"/orgs/{ORG}/dashboard/2024-25-Q1/themes/Nowhere/headline",
            data={"csrf_token": token, "narrative": "x"},
        ).status_code
        == 404
    )
    manager, manager_token = _web(engine, "sm_housing")
    assert f'action="{page}/headline"' not in manager.get(page).text
    refused = manager.post(f"{page}/headline", data={"csrf_token": manager_token, "narrative": "Mine"})
    assert refused.status_code == 403 and "There is a problem" in refused.text
    framework.performance.add_exception_report(
        CYCLE, "HOU-01", reason="r", remedial_action="a", owner="perf", recovery_date="2025-03-31", by="perf"
    )
    settle_returns(engine)
    for trigger, who in TO_SIGN_OFF:
        engine.fire(CYCLE, trigger, who)
    assert f'action="{page}/headline"' not in client.get(page).text
    frozen = client.post(f"{page}/headline", data={"csrf_token": token, "narrative": "After"})
    assert frozen.status_code == 409 and "frozen" in frozen.text
    assert len(_headlines(engine)) == 1


def _headlines(engine: Engine) -> list[AuditEntry]:
    with engine.store.read() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.event == "theme.headline")))


def _web(engine: Engine, user: str) -> tuple[TestClient, str]:
    """A client signed in as ``user`` and the session's CSRF token."""
    Accounts(engine.store, engine.clock).set_password(user, PASSWORD, by="test")
    client = TestClient(
        create_app(services(engine), WebSettings(secret_key="t", secure_cookies=False)),
        follow_redirects=False,
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    data = {"username": user, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/sign-in", data=data).status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/orgs/{ORG}").text)
    assert found is not None
    return client, found.group(1)
