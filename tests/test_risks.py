"""The risk register: import all or nothing, the quarterly review inside the cycle, escalation
by the ladder of ``policies/risk.yaml``, the policy's own checks, and every change audited."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select

from pmf_engine.app.demo import ORG as _DEMO_ORG
from pmf_engine.app.demo import DemoQuarters, run_demo
from pmf_engine.app.wiring import framework_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock, SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, DefinitionError, InvalidInput, NotNow, PermissionDenied
from pmf_engine.core.store import AuditEntry, Store, sqlite_url
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.riskpolicy import assess
from tests.conftest import CYCLE, ORG, POLICIES, SHIPPED_POLICIES, WORKFLOWS, seed, services, settle_returns

FIXTURES_DIR = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"

HEADER = (
    "risk,title,register,service,owner,cause,effect,inherent_likelihood,inherent_impact,"
    "residual_likelihood,residual_impact,controls,actions,measures,projects\n"
)
RISKS = HEADER + (
    "R-01,Temporary accommodation costs,operational,HOUSING,sm_housing,Rising homelessness,"
    "Overspend,5,4,4,4,Weekly placement panel,Lease more homes,HOU-01,P-01\n"
    "R-02,Cyber attack,corporate,,perf,Phishing,Systems down,4,5,4,5,MFA;backups,Penetration test,,\n"
    "R-03,Recycling contractor,operational,WASTE,sm_waste,Market,Missed rounds,3,3,2,3,Contract,,WAS-01,\n"
    "R-04,Planning appeals,operational,PLANNING,sm_planning,Staffing,Costs,3,3,2,2,,,,\n"
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
    """The test council with its measures, projects and four risks, and the Q1 cycle open."""
    del cycle
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES_DIR / "measures" / "measures.csv", by="perf")
    framework.projects.import_projects(ORG, FIXTURES_DIR / "projects" / "projects.csv", by="perf")
    path = tmp_path / "risks.csv"
    path.write_text(RISKS, encoding="utf-8")
    assert framework.risks.import_risks(ORG, path, by="perf") == (4, 0)
    return framework


def _register(framework: Framework, cycle: str = CYCLE) -> dict[str, object]:
    return {v.code: v for v in framework.risks.for_cycle(cycle)}


def test_imported_risks_keep_their_links_and_are_placed_on_the_ladder(framework: Framework) -> None:
    """Score 16 on the operational register goes from the service to the Leadership Team; 20 on
    the corporate one to Cabinet and the Audit Committee; 6 is within appetite."""
    views = {v.code: v for v in framework.risks.for_cycle(CYCLE)}
    housing, cyber, waste, planning = (views[c] for c in ("R-01", "R-02", "R-03", "R-04"))
    assert housing.measures == ["HOU-01"] and housing.projects == ["P-01"] and housing.service == "HOUSING"
    assert (housing.score, housing.level, housing.escalated) == (16, "leadership", True)
    assert housing.reasons == ["residual score 16 is 15 or more (Leadership Team)"]
    assert (cyber.score, cyber.level, cyber.escalated) == (20, "cabinet", True)
    assert cyber.service is None and cyber.band == "Very high"
    assert (waste.score, waste.level, waste.escalated, waste.accepted) == (6, "service", False, True)
    assert planning.accepted and planning.band == "Low"


def test_a_file_with_any_bad_row_imports_nothing(framework: Framework, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "R-01,Changed title,operational,HOUSING,x,,,5,4,4,4,,,,\n"
        "R-09,No service,operational,,x,,,3,3,2,2,,,,\n"
        "R-10,Worse after controls,corporate,,x,,,2,2,3,3,,,,\n"
        "R-11,Off the scale,corporate,,x,,,6,4,1,1,,,,\n"
        "R-12,=HYPERLINK(1),mystery,,x,,,1,1,1,1,,,NOPE-1,\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as raised:
        framework.risks.import_risks(ORG, bad, by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert {(3, "service"), (4, "residual_impact"), (5, "inherent_likelihood"), (6, "title")} <= found
    assert all(p.file == str(bad) for p in raised.value.problems)
    assert framework.risks.register(ORG)[0].title == "Temporary accommodation costs"  # nothing changed


def test_unknown_codes_are_named_and_nothing_is_imported(framework: Framework, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "R-20,New,operational,NOWHERE,x,,,2,2,1,1,,,HOU-01;NOPE-1,P-99\n", encoding="utf-8"
    )
    with pytest.raises(DataFileError) as raised:
        framework.risks.import_risks(ORG, bad, by="perf")
    messages = {(p.line, p.field, p.message) for p in raised.value.problems}
    assert (2, "service", "unknown service 'NOWHERE'") in messages
    assert (2, "measures", "unknown measure(s): NOPE-1") in messages
    assert (2, "projects", "unknown project(s): P-99") in messages
    assert "R-20" not in {v.code for v in framework.risks.register(ORG)}


def test_risks_import_from_excel_and_update_by_code(framework: Framework, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.strip().split(","))
    sheet.append(
        ["R-03", "Recycling contractor fails", "operational", "WASTE", "sm_waste", "", "", 4, 4, 3, 3]
    )
    sheet.append(["R-05", "Election staffing", "corporate", "", "perf", "", "", 2, 3, 2, 2])
    path = tmp_path / "risks.xlsx"
    book.save(path)
    assert framework.risks.import_risks(ORG, path, by="perf") == (1, 1)
    views = {v.code: v for v in framework.risks.register(ORG)}
    assert views["R-03"].title == "Recycling contractor fails" and views["R-03"].score == 9
    assert views["R-03"].measures == []  # the file gives its links: none now


def test_a_review_in_the_cycle_rescores_and_is_audited(framework: Framework, engine: Engine) -> None:
    view = framework.risks.review(CYCLE, "R-03", 4, 4, note="Contractor in financial trouble", by="sm_waste")
    assert (view.score, view.previous_score, view.reviewed_by) == (16, 6, "sm_waste")
    assert view.level == "leadership" and view.escalated
    with engine.store.read() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.event == "risk.reviewed")).one()
        imported = s.scalars(select(AuditEntry).where(AuditEntry.event == "risks.imported")).one()
    assert entry.instance == CYCLE and entry.actor == "sm_waste"
    data = json.loads(entry.data)
    assert (data["risk"], data["score"], data["previous_score"]) == ("R-03", 16, 6)
    assert data["note"] == "Contractor in financial trouble"
    assert json.loads(imported.data)["added"] == ["R-01", "R-02", "R-03", "R-04"]


def test_only_reviewers_of_the_risks_service_may_review_it(framework: Framework) -> None:
    with pytest.raises(PermissionDenied):
        framework.risks.review(CYCLE, "R-03", 2, 2, note="Not mine", by="sm_housing")
    with pytest.raises(PermissionDenied):
        framework.risks.review(CYCLE, "R-02", 2, 2, note="Corporate", by="sm_housing")
    with pytest.raises(PermissionDenied):
        framework.risks.review(CYCLE, "R-02", 2, 2, note="Not a reviewer", by="lead")
    framework.risks.review(CYCLE, "R-02", 3, 5, note="MFA rolled out", by="perf")


def test_a_review_needs_a_note_and_points_on_the_scale(framework: Framework) -> None:
    with pytest.raises(InvalidInput, match="needs a note"):
        framework.risks.review(CYCLE, "R-01", 3, 3, note="  ", by="perf")
    with pytest.raises(InvalidInput, match="scale of 1 to 5"):
        framework.risks.review(CYCLE, "R-01", 6, 3, note="x", by="perf")


def test_the_review_is_open_only_in_the_states_the_policy_lists(framework: Framework, engine: Engine) -> None:
    """Shipped: data request and service review. Once CMT has it, the review is closed."""
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    framework.risks.review(CYCLE, "R-01", 3, 4, note="Service review", by="perf")  # service_review: open
    engine.fire(CYCLE, "complete_service_review", "perf")
    with pytest.raises(NotNow, match=r"the cycle is at Data request or Service review \(it is at "):
        framework.risks.review(CYCLE, "R-01", 3, 3, note="Too late", by="perf")


def test_the_review_may_follow_the_services_return_instead(engine: Engine, tmp_path: Path) -> None:
    """A council that reviews risks with the return lists the return's states: a service's risk
    is reviewed while its own return is open, whatever the cycle's state."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in POLICIES.glob("*.yaml"):
        (policies / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    risk = policies / "risk.yaml"
    risk.write_text(
        risk.read_text().replace(
            "quarterly_cycle: [data_request, service_review]", "service_return: [requested]"
        ),
        encoding="utf-8",
    )
    loaded = load_policies(policies)
    framework_catalog(WORKFLOWS, policies, loaded)
    framework = Framework(engine, loaded)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    framework.performance.import_measures(ORG, FIXTURES_DIR / "measures" / "measures.csv", by="perf")
    framework.projects.import_projects(ORG, FIXTURES_DIR / "projects" / "projects.csv", by="perf")
    (tmp_path / "r.csv").write_text(RISKS, encoding="utf-8")
    framework.risks.import_risks(ORG, tmp_path / "r.csv", by="perf")
    framework.risks.review(CYCLE, "R-01", 3, 3, note="With the return", by="sm_housing")
    settle_returns(engine)
    with pytest.raises(NotNow, match=r"the HOUSING return is at Requested \(it is at Accepted\)"):
        framework.risks.review(CYCLE, "R-01", 3, 2, note="After acceptance", by="sm_housing")
    with pytest.raises(NotNow):  # a corporate risk has no return: never open under this policy
        framework.risks.review(CYCLE, "R-02", 3, 2, note="No service", by="perf")


def test_a_score_worse_two_quarters_running_goes_one_level_up(framework: Framework, engine: Engine) -> None:
    """R-04 (score 4, within appetite) reviewed up to 9 in Q1 and 12 in Q2: below 15, but worse
    at two reviews running, so it goes from the service to the Leadership Team."""
    framework.risks.review(CYCLE, "R-04", 3, 3, note="Appeals rising", by="sm_planning")
    assert not _register(framework)["R-04"].escalated  # type: ignore[attr-defined]
    settle_returns(engine)
    q2 = f"{ORG}/2024-25-Q2"
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    view = framework.risks.review(q2, "R-04", 3, 4, note="Two appeals lost", by="sm_planning")
    assert (view.score, view.worsening, view.level, view.escalated) == (12, True, "leadership", True)
    assert view.reasons == ["worse at each of the last 2 quarterly reviews"]
    assert not _register(framework)["R-04"].worsening  # type: ignore[attr-defined]  # as Q1 stood
    steady = framework.risks.review(q2, "R-04", 3, 3, note="Second look: steady", by="sm_planning")
    assert steady.previous_score == 12 and not steady.worsening  # the newest review of a quarter counts


def test_assess_accepts_below_appetite_and_never_escalates_it() -> None:
    policy = SHIPPED_POLICIES.risk
    low = assess(policy, "operational", 6, [True, True])
    assert low.accepted and not low.escalated and low.level == "service"
    assert assess(policy, "operational", 20, []).level == "cabinet"
    assert assess(policy, "corporate", 16, []).level == "leadership"
    assert not assess(policy, "corporate", 16, []).escalated  # corporate risks live there
    assert assess(policy, "corporate", 16, [False, True, True]).level == "cabinet"


def test_the_risk_policy_names_real_roles_committees_and_states(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in POLICIES.glob("*.yaml"):
        (policies / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    risk = policies / "risk.yaml"
    risk.write_text(
        risk.read_text()
        .replace(
            "roles: [leadership_team]\n    bodies: [leadership]",
            "roles: [leadership_tem]\n    bodies: [leadrship]",
        )
        .replace("any_risk: [performance_officer]", "any_risk: [service_manager]")
        .replace("[data_request, service_review]", "[data_request, service_reviw]"),
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as raised:
        framework_catalog(WORKFLOWS, policies, load_policies(policies))
    problems = {(p.field, p.message.split(";")[0]) for p in raised.value.problems}
    assert ("levels.leadership.roles.0", "unknown role 'leadership_tem'") in problems
    assert ("levels.leadership.bodies.0", "unknown committee 'leadrship'") in problems
    assert ("review.any_risk.0", "role 'service_manager' is not held organisation-wide") in problems
    assert ("review.open_in.quarterly_cycle.1", "'quarterly_cycle' has no state 'service_reviw'") in problems
    assert all(p.file == str(risk) and p.line for p in raised.value.problems)


def test_a_ladder_that_does_not_rise_is_refused_with_its_line(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in POLICIES.glob("*.yaml"):
        (policies / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    risk = policies / "risk.yaml"
    risk.write_text(
        risk.read_text().replace("from: 15", "from: 25").replace("home: leadership", "home: board"),
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as raised:
        load_policies(policies)
    problems = {(p.field, p.line) for p in raised.value.problems}
    line = risk.read_text().splitlines().index("    from: 20") + 1
    assert ("levels.cabinet.from", line) in problems
    assert any(field == "registers.corporate.home" for field, _ in problems)
    assert all(p.file == str(risk) for p in raised.value.problems)


def test_a_frozen_report_takes_no_more_reviews(framework: Framework, engine: Engine) -> None:
    settle_returns(engine)
    for trigger, who in (
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
    ):
        engine.fire(CYCLE, trigger, who)
    engine.fire(CYCLE, "sign_off", "lead")
    with pytest.raises(NotNow, match="frozen"):
        framework.risks.review(CYCLE, "R-01", 1, 1, note="After sign-off", by="perf")


def test_the_cli_imports_lists_and_reviews_risks(tmp_path: Path, catalog: Catalog) -> None:
    """``pmf risks import`` (with the ``risks.manage`` permission), ``list --escalated`` and
    ``review``; a bad file prints each problem with its line and imports nothing."""
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def pmf(*args: str) -> Result:
        return runner.invoke(
            main, ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args]
        )

    assert runner.invoke(main, ["--db", db, "db", "upgrade", "--rehearsal"]).exit_code == 0
    store = Store(db)
    seed(Engine(store, catalog, SystemClock()))
    store.dispose()
    for kind, path in (("measures", "measures/measures.csv"), ("projects", "projects/projects.csv")):
        assert pmf(kind, "import", ORG, str(FIXTURES_DIR / path), "--as", "perf").exit_code == 0
    risks = tmp_path / "risks.csv"
    risks.write_text(RISKS, encoding="utf-8")
    assert pmf("risks", "import", ORG, str(risks), "--as", "sm_housing").exit_code == 1  # no permission
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "R-09,x,operational,,x,,,3,3,2,2,,,,\n", encoding="utf-8")
    refused = pmf("risks", "import", ORG, str(bad), "--as", "perf")
    assert refused.exit_code == 1 and f"{bad}:2: [service]" in refused.stderr
    assert (
        pmf("risks", "import", ORG, str(risks), "--as", "perf").stdout.strip() == "4 risk(s) added, 0 updated"
    )
    escalated = pmf("risks", "list", ORG, "--escalated").stdout
    assert "R-01" in escalated and "R-02" in escalated and "R-03" not in escalated
    assert "ESCALATED to Leadership Team" in escalated
    assert pmf("cycle", "start", "--org", ORG, "--period", "2024-25-Q1", "--as", "perf").exit_code == 0
    args = ("risks", "review", CYCLE, "R-03", "--likelihood", "4", "--impact", "4")
    reviewed = pmf(*args, "--note", "Contractor in trouble", "--as", "sm_waste")
    assert (
        reviewed.exit_code == 0 and "4x4=16" in reviewed.stdout and "reviewed by sm_waste" in reviewed.stdout
    )
    assert pmf(*args, "--note", "x", "--as", "sm_housing").exit_code == 1
    assert pmf("risks", "review", CYCLE, "R-03", "--likelihood", "9", "--impact", "1", "--note", "x",
               "--as", "perf").exit_code == 2  # fmt: skip


def test_the_report_has_the_register_with_an_accessible_heat_map(framework: Framework) -> None:
    """The SVG is an image with a name and a description, each cell says its count and band in
    words, and a table gives the same data; the escalated risks are listed with why."""
    framework.risks.review(CYCLE, "R-03", 4, 4, note="Contractor <b>trouble</b>", by="sm_waste")
    page = report.html(report.gather(framework, CYCLE))
    section = page[page.index('id="risks"') : page.index('id="restatements"')]
    svg = section[section.index("<svg") : section.index("</svg>")]
    assert 'role="img"' in svg and 'aria-label="Risk heat map: residual scores"' in svg
    assert "<title" in svg and 'aria-describedby="risk-heat-map-desc"' in svg
    assert "2 at likelihood 4, impact 4" in svg  # R-01 and R-03 in one cell, said in words
    assert ">2 risks<" in svg and ">16 High<" in svg and ">20 Very high<" in svg
    assert "<td>R-01, R-03</td>" in section  # the table: the same cell
    assert "Contractor &lt;b&gt;trouble&lt;/b&gt; (sm_waste, from 6)" in section
    assert "Escalated: Cabinet and the Audit Committee" in section
    assert "Accepted (within appetite)" in section


def test_the_register_is_frozen_with_the_report(framework: Framework, engine: Engine) -> None:
    settle_returns(engine)
    for trigger, who in TO_SIGN_OFF:
        engine.fire(CYCLE, trigger, who)
    frozen = report.gather(framework, CYCLE)
    assert frozen.frozen is not None and frozen.content.risks is not None
    assert [r.code for r in frozen.content.risks.escalated] == ["R-02", "R-01"]
    report.verify_frozen(framework.performance, CYCLE)


def test_the_risks_page_shows_the_heat_map_its_table_and_the_escalated(
    framework: Framework, engine: Engine
) -> None:
    Accounts(engine.store, engine.clock).set_password("auditor", PASSWORD, by="test")
    client = TestClient(create_app(framework, WebSettings(secret_key="t", secure_cookies=False)))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    signed = client.post(
        "/sign-in",
        data={"username": "auditor", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    framework.risks.review(CYCLE, "R-04", 3, 3, note="Appeals <rising>", by="perf")
    page = client.get(f"/orgs/{ORG}/risks")
    assert page.status_code == 200
    assert 'role="img"' in page.text and 'aria-describedby="risk-heat-map-desc"' in page.text
    assert "Heat map data" in page.text and '<td class="govuk-table__cell">R-01</td>' in page.text
    escalated = page.text[page.text.index('id="escalated"') : page.text.index('id="register"')]
    assert "R-01: Temporary accommodation costs" in escalated and "R-03" not in escalated
    assert "Appeals &lt;rising&gt; (perf)" in page.text
    before = client.get(f"/orgs/{ORG}/risks?period=2023-24-Q4")
    assert before.status_code == 200 and "Appeals" not in before.text  # as that quarter stood
    assert client.get(f"/orgs/{ORG}/risks?period=soon").status_code == 422  # a period that is no quarter


def test_the_demo_council_has_a_believable_register(catalog: Catalog, tmp_path: Path) -> None:
    """Twelve risks of the register's file reviewed in both quarters: R-01 and R-02 escalated in
    the story quarter, and R-03 too in the later one, for rising two quarters running; the frozen
    report shows them. Beside them, the three operational risks the service plans raised are
    entries of the register too, each reviewed with its service's return: Leisure's (4 x 4 = 16)
    escalated to the Leadership Team by the same ladder."""
    now = datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)
    db = tmp_path / "pmf-demo.db"
    assert run_demo(db, catalog, SHIPPED_POLICIES, lambda _line: None, now=now)
    store = Store(sqlite_url(db))
    try:
        framework = Framework(Engine(store, catalog, ManualClock(now)), SHIPPED_POLICIES)
        quarters = DemoQuarters.at(now)
        story = {v.code: v for v in framework.risks.register(_DEMO_ORG, str(quarters.story))}
        later = {v.code: v for v in framework.risks.register(_DEMO_ORG, str(quarters.open))}
        planned = {c: v for c, v in later.items() if v.plan}
        story = {c: v for c, v in story.items() if not v.plan}
        assert len(story) == 12 and all(v.reviewed_by for v in story.values())
        assert sorted(c for c, v in story.items() if v.escalated) == ["R-01", "R-02"]
        assert sorted(c for c, v in later.items() if v.escalated and not v.plan) == ["R-01", "R-02", "R-03"]
        year = planned and next(iter(planned.values())).plan.rsplit("plans-", 1)[1].split("/")[0]
        assert sorted(planned) == [f"{s}-{year}-R1" for s in ("HOUSING", "LEISURE", "WASTE")]
        assert all(v.register == "operational" and v.service and v.reviewed_by for v in planned.values())
        assert [c for c, v in planned.items() if v.escalated] == [f"LEISURE-{year}-R1"]
        assert planned[f"LEISURE-{year}-R1"].level_label == "Leadership Team"
        assert later["R-03"].worsening and later["R-03"].level == "cabinet"
        frozen = report.gather(framework, f"{_DEMO_ORG}/{quarters.story}")
        assert frozen.frozen is not None and frozen.content.risks is not None
        assert [h.narrative != "" for h in frozen.content.headlines] == [True, True, True]
    finally:
        store.dispose()


def test_an_escalated_risk_is_on_the_to_do_list_of_whoever_owns_its_level(framework: Framework) -> None:
    """Found in review: the ladder's roles were only validated, so a risk escalated to the
    Leadership Team reached nobody. Now it is on the to-do list (and so in the weekly digest) of
    each holder of its level's roles, linked to the register; not on a service manager's."""
    from pmf_engine.pmf import dashboard, digest

    lead = {t.key: t for t in dashboard.todo(framework, "lead", [ORG]) if t.kind == "risk"}
    assert set(lead) == {f"{ORG}/R-01", f"{ORG}/R-02"}  # 16 and 20; R-03 and R-04 are within appetite
    assert lead[f"{ORG}/R-01"].href == f"/orgs/{ORG}/risks"
    assert "escalated to the Leadership Team" in lead[f"{ORG}/R-01"].what
    assert "Review the risk" in lead[f"{ORG}/R-02"].doing
    assert not [t for t in dashboard.todo(framework, "sm_housing", [ORG]) if t.kind == "risk"]
    assert "review the risk: it is escalated to your level" in digest.body("Lead", list(lead.values()))


def test_the_workbook_has_the_register_and_the_themes(framework: Framework, tmp_path: Path) -> None:
    """Found in review: the XLSX report lacked the risk register and the themes' headlines."""
    path = tmp_path / "report.xlsx"
    report.xlsx(report.gather(framework, CYCLE), path)
    book = openpyxl.load_workbook(path)
    risks = {r[0]: r for r in book["Risks"].iter_rows(min_row=2, values_only=True)}
    assert set(risks) == {"R-01", "R-02", "R-03", "R-04"}
    assert (risks["R-01"][8], risks["R-01"][10], risks["R-01"][11]) == (16, "Leadership Team", "yes")
    header = next(book["Themes"].iter_rows(max_row=1, values_only=True))
    assert header[:4] == ("Theme", "Headline", "Written by", "Green") and header[-1] == "Key projects"
    assert book["Themes"].max_row > 1


def _web(framework: Framework, engine: Engine, user: str) -> tuple[TestClient, str]:
    """A client signed in as ``user`` (a password set for them) and the session's CSRF token."""
    Accounts(engine.store, engine.clock).set_password(user, PASSWORD, by="test")
    client = TestClient(
        create_app(framework, WebSettings(secret_key="t", secure_cookies=False)), follow_redirects=False
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    data = {"username": user, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/sign-in", data=data).status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/orgs/{ORG}").text)
    assert found is not None
    return client, found.group(1)


def _review_forms(page: str) -> set[str]:
    return set(re.findall(rf'action="/orgs/{ORG}/risks/([^/"]+)/reviews"', page))


def test_the_risks_page_offers_a_review_form_only_where_the_cli_would_take_one(
    framework: Framework, engine: Engine
) -> None:
    """The performance officer reviews any risk, a service manager only their service's, the
    auditor none; once the cycle has left the states ``review.open_in`` lists, nobody."""
    assert framework.risks.reviewable(CYCLE, "perf") == {"R-01", "R-02", "R-03", "R-04"}
    assert framework.risks.reviewable(CYCLE, "sm_waste") == {"R-03"}
    assert framework.risks.reviewable(CYCLE, "auditor") == set()
    for user, forms in (
        ("perf", {"R-01", "R-02", "R-03", "R-04"}),
        ("sm_waste", {"R-03"}),
        ("auditor", set()),
    ):
        client, _ = _web(framework, engine, user)
        page = client.get(f"/orgs/{ORG}/risks").text
        assert _review_forms(page) == forms, user
        assert ("Review the risks for Quarter 1 2024-25" in page) == bool(forms), user
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    assert framework.risks.reviewable(CYCLE, "perf") == set()
    client, token = _web(framework, engine, "perf")
    assert _review_forms(client.get(f"/orgs/{ORG}/risks").text) == set()
    late = client.post(
        f"/orgs/{ORG}/risks/R-01/reviews",
        data={"csrf_token": token, "period": "2024-25-Q1", "likelihood": "2", "impact": "2", "note": "Late"},
    )
    assert late.status_code == 409 and "There is a problem" in late.text
    assert "may be reviewed only while" in late.text
    assert _register(framework)["R-01"].reviewed_by == ""  # type: ignore[attr-defined]


def test_a_review_posted_from_the_risks_page_is_recorded_audited_and_shown(
    framework: Framework, engine: Engine
) -> None:
    """An empty form: each field's error in the summary, nothing written; a complete one: the
    review (audited, as the CLI's), then back to the register with its new score and direction."""
    client, token = _web(framework, engine, "perf")
    form = f"/orgs/{ORG}/risks/R-01/reviews"
    empty = client.post(form, data={"csrf_token": token, "period": "2024-25-Q1"})
    assert empty.status_code == 400 and "There is a problem" in empty.text
    for field in ("likelihood", "impact", "note"):
        assert f'href="#review-R-01-{field}"' in empty.text, field
    off_scale = client.post(
        form,
        data={"csrf_token": token, "period": "2024-25-Q1", "likelihood": "9", "impact": "3", "note": "x"},
    )
    assert off_scale.status_code == 400 and 'href="#review-R-01-likelihood"' in off_scale.text
    assert _register(framework)["R-01"].reviewed_by == ""  # type: ignore[attr-defined]
    done = client.post(
        form,
        data={"csrf_token": token, "period": "2024-25-Q1", "likelihood": "3", "impact": "3",
              "note": "Placement panel <working>"},
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == f"/orgs/{ORG}/risks?period=2024-25-Q1&reviewed=R-01#register"
    page = client.get(done.headers["location"]).text
    assert "Review of R-01 recorded" in page and "3 x 3 = 9" in page
    assert "Placement panel &lt;working&gt; (perf)" in page and "Lower than 16" in page
    with engine.store.read() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.event == "risk.reviewed")).one()
    assert (entry.actor, entry.instance, json.loads(entry.data)["score"]) == ("perf", CYCLE, 9)
    assert (
        client.post(
            f"/orgs/{ORG}/risks/R-09/reviews",
            data={"csrf_token": token, "period": "2024-25-Q1", "likelihood": "1", "impact": "1", "note": "x"},
        ).status_code
        == 404
    )
    assert (
        client.post(
            form,
            data={"csrf_token": token, "period": "2023-24-Q4", "likelihood": "1", "impact": "1", "note": "x"},
        ).status_code
        == 404
    )  # no cycle of that quarter
    other, other_token = _web(framework, engine, "sm_waste")
    refused = other.post(
        form, data={"csrf_token": other_token, "period": "2024-25-Q1", "likelihood": "1", "impact": "1",
                    "note": "Not mine"},
    )  # fmt: skip
    assert refused.status_code == 403 and "There is a problem" in refused.text
    assert _register(framework)["R-01"].review_note == "Placement panel <working>"  # type: ignore[attr-defined]


def test_a_review_out_of_its_states_is_refused_in_the_workflows_own_words(
    framework: Framework, engine: Engine
) -> None:
    """Issue #15's review: the refusal named raw states (``data_request``, ``cmt_review``); the
    domain, the CLI and the page now say the workflow's labels, and the state the cycle is at."""
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    wf = engine.catalog.workflow("quarterly_cycle")
    state, _ = engine.peek(CYCLE)
    open_in = framework.policies.risk.review.open_in["quarterly_cycle"]
    raw = {*open_in, state}
    labels = [wf.state_label(s) for s in (*open_in, state)]
    assert all(label not in raw for label in labels)  # the labels differ from the names
    with pytest.raises(NotNow) as raised:
        framework.risks.review(CYCLE, "R-01", 2, 2, note="Late", by="perf")
    said = str(raised.value)
    assert all(label.lower() in said.lower() for label in labels), said
    assert not any(re.search(rf"\b{name}\b", said) for name in raw), said

    url = engine.store.engine.url.render_as_string(hide_password=False)
    cli = CliRunner().invoke(
        main, ["--db", url, "risks", "review", CYCLE, "R-01", "--likelihood", "2", "--impact", "2",
               "--note", "Late", "--as", "perf"],
    )  # fmt: skip
    assert cli.exit_code == 1
    assert all(label.lower() in cli.stderr.lower() for label in labels), cli.stderr
    assert not any(re.search(rf"\b{name}\b", cli.stderr) for name in raw), cli.stderr

    client, token = _web(framework, engine, "perf")
    page = client.post(
        f"/orgs/{ORG}/risks/R-01/reviews",
        data={"csrf_token": token, "period": "2024-25-Q1", "likelihood": "2", "impact": "2", "note": "Late"},
    )
    assert page.status_code == 409
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert all(label.lower() in text.lower() for label in labels), text
    assert not any(re.search(rf"\b{name}\b", text) for name in raw)
    assert _register(framework)["R-01"].reviewed_by == ""  # type: ignore[attr-defined]
