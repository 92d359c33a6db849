"""A council's own words: a framework whose stages, roles and actions are called differently
(an "executive" instead of Cabinet, sign-off by a Directors Board, Audit Committee
recommendations keyed ``AR``) shows its members those words, never the shipped ones.

The copy renames the shipped states, roles and actions workflow, and rewrites every label,
title and description with the council's words; the quarter is then driven to its close and
every text a member reads is checked: the report (draft and frozen, HTML and XLSX), the
dashboard and its summary, the actions list and menu, a cycle's and an action's page, the audit
trail (as shown), the refusal of an action raised too early, the calendar feed and the to-do list.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from fastapi.testclient import TestClient

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotNow
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import create_app
from pmf_engine.interfaces.web.serve import WebSettings
from pmf_engine.pmf import report
from pmf_engine.pmf.calendar_feed import events_for
from pmf_engine.pmf.framework import Framework, load_policies
from tests.conftest import POLICIES, WORKFLOWS, allow_unsigned, lenient_catalog

FIXTURES = Path(__file__).parent / "fixtures"
ORG = "TDC"
CYCLE = f"{ORG}/2024-25-Q1"
PASSWORD = "correct horse battery"
NAMES = {
    "leadership_signoff": "directors_board",
    "scrutiny": "audit_committee_review",
    "scrutiny_action": "ac_recommendation",
    "scrutiny_officer": "audit_clerk",
    "leadership_team": "directors",
    "cabinet_approval": "executive_decision",
    "cabinet_clerk": "executive_clerk",
    "cmt_review": "board_review",
    "SA": "AR",
}
"""The council's names for the shipped ones (``SA``: the actions' key prefix)."""
WORDS = [
    ("Scrutiny action", "Audit Committee recommendation"),
    ("Scrutiny officer", "Audit Committee clerk"),
    ("Scrutiny consideration", "Audit Committee review"),
    ("Scrutiny", "Audit Committee"),
    ("Leadership Team", "Directors Board"),
    ("Leadership", "Directors Board"),
    ("Cabinet", "Executive"),
    ("Portfolio Holder", "Executive Member"),
    ("Corporate Management Team", "Management Board"),
    ("CMT", "Management Board"),
]
"""The council's words for the shipped ones, in labels, titles and descriptions."""
WORD_KEYS = {"label", "description", "title", "stage"}
KEPT = {"deadline", "version", "calendar"}
"""Keys whose values are rules or committees of the calendar, not names."""
SHIPPED = ["Scrutiny", "Leadership Team", "Cabinet", "Portfolio Holder", "CMT"]
"""The shipped words no member of this council should read."""


def council_words(text: str) -> str:
    for old, new in WORDS:
        text = text.replace(old, new)
    return text


def council(data: Any, *, words: bool = False) -> Any:
    """``data`` with the council's names, and its words where ``words``."""
    if isinstance(data, dict):
        return {
            council(k): (v if k in KEPT else council(v, words=words or k in WORD_KEYS))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [council(item, words=words) for item in data]
    if isinstance(data, str):
        return council_words(data) if words else NAMES.get(data, data)
    return data


def council_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped workflows and policies in the council's names and words, in ``tmp_path``."""
    folders = tmp_path / "workflows", tmp_path / "policies"
    for source, target in zip((WORKFLOWS, POLICIES), folders, strict=True):
        target.mkdir(parents=True)
        for path in source.glob("*.yaml"):
            data = council(yaml.safe_load(path.read_text()))
            (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return folders


PEOPLE = [
    ("perf", "performance_officer", None),
    ("sm_housing", "service_manager", "HOUSING"),
    ("sm_waste", "service_manager", "WASTE"),
    ("board", "cmt_member", None),
    ("dir", "directors", None),
    ("clerk", "executive_clerk", None),
    ("acl", "audit_clerk", None),
]


def shipped_in(text: str) -> list[str]:
    return [word for word in SHIPPED if re.search(rf"\b{word}\b", text)]


@pytest.fixture
def framework(tmp_path: Path) -> Framework:
    workflows, policies = council_copy(tmp_path / "council")
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(sqlite_url(tmp_path / "pmf.db"), rehearsal=True)
    engine = Engine(store, lenient_catalog(workflows, policies), clock)
    directory = engine.directory
    directory.add_organisation(ORG, "Test District Council")
    for code in ("HOUSING", "WASTE"):
        directory.add_service(ORG, code, code.title())
    accounts = Accounts(store, clock)
    for username, role, service in PEOPLE:
        directory.add_actor(username, username.title())
        accounts.set_password(username, PASSWORD, by="test")
        directory.grant(username, role, ORG, service=service)
    yield Framework(engine, allow_unsigned(load_policies(policies)))
    store.dispose()


def signed_in(framework: Framework, user: str) -> TestClient:
    web = TestClient(create_app(framework, WebSettings(secret_key="k", secure_cookies=False)))
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/sign-in").text)
    assert token is not None
    signed = web.post(
        "/sign-in",
        data={"username": user, "password": PASSWORD, "csrf_token": token[1], "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    return web


def shown(html: str) -> str:
    """The text of a page as it is shown: tags stripped and spaces folded, without what is
    folded away in ``<details>`` (the audit trail keeps the stored names there)."""
    html = re.sub(r"<details.*?</details>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def page(web: TestClient, path: str) -> str:
    found = web.get(path)
    assert found.status_code == 200, (path, found.text[:300])
    return found.text


def test_a_council_reads_its_own_words_not_the_shipped_ones(framework: Framework, tmp_path: Path) -> None:
    engine, actions = framework.engine, framework.actions
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    measures = tmp_path / "measures.csv"
    lines = (FIXTURES / "measures" / "measures.csv").read_text().splitlines()
    measures.write_text("\n".join([lines[0], *(line for line in lines if line.startswith("HOU-01,"))]) + "\n")
    framework.performance.import_measures(ORG, measures, by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 27, narrative="n", by="sm_housing")
    with pytest.raises(NotNow) as unfrozen:
        report.verify_frozen(framework.performance, CYCLE)
    assert "frozen at Directors Board sign-off" in str(unfrozen.value)
    draft = report.html(report.gather(framework, CYCLE))
    assert "Directors Board sign-off" in draft, "the draft notice names the stage that freezes it"
    web = signed_in(framework, "perf")
    live = page(web, f"/orgs/{ORG}/dashboard"), page(web, f"/orgs/{ORG}/dashboard/2024-25-Q1/summary")
    assert "until Directors Board sign-off" in live[0]
    for service, who in (("HOUSING", "sm_housing"), ("WASTE", "sm_waste")):
        engine.fire(f"{CYCLE}/{service}", "submit", who)
        engine.fire(f"{CYCLE}/{service}", "accept", "perf")
    for trigger, who in (("close_data_request", "perf"), ("complete_service_review", "perf")):
        engine.fire(CYCLE, trigger, who)
    engine.fire(CYCLE, "endorse", "board")
    engine.fire(CYCLE, "sign_off", "dir")
    with pytest.raises(NotNow) as late:
        framework.performance.record_actual(CYCLE, "HOU-01", 29, narrative="n", by="sm_housing")
    assert "frozen at Directors Board sign-off" in str(late.value), "a frozen figure's refusal"
    with pytest.raises(NotNow) as early:
        actions.add(CYCLE, "Explain recycling", assignee="sm_waste", due="2024-12-01", by="acl")
    assert "Audit Committee review" in str(early.value), "the state that takes actions, by its label"
    assert "Executive approval" in str(early.value), "the state the cycle is at, by its label"
    assert not re.search(r"\b(audit_committee_review|executive_decision)\b", str(early.value))
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "EX/1"})
    action = actions.add(CYCLE, "Explain recycling", assignee="sm_waste", due="2024-12-01", by="acl")
    assert action.key == f"{CYCLE}/AR-1"

    data = report.gather(framework, CYCLE)
    frozen = report.html(data)
    assert "frozen at Directors Board sign-off" in frozen
    assert "Audit Committee recommendations" in frozen
    book_path = tmp_path / "report.xlsx"
    report.xlsx(data, book_path)
    sheets = openpyxl.load_workbook(book_path).sheetnames
    assert "Audit Committee recommendations" in sheets

    clerk = signed_in(framework, "acl")
    listed = page(clerk, f"/orgs/{ORG}/actions")
    assert "<title>" in listed and "Audit Committee recommendations" in listed.split("</title>")[0]
    cycle_page = page(clerk, f"/instances/{CYCLE}")
    assert "Raise an Audit Committee recommendation" in cycle_page
    web = signed_in(framework, "perf")
    board = page(web, f"/orgs/{ORG}/dashboard"), page(web, f"/orgs/{ORG}/dashboard/2024-25-Q1/summary")
    assert "frozen at Directors Board sign-off" in board[0] and "Directors Board sign-off" in board[1]
    todo = page(signed_in(framework, "sm_waste"), "/todo")
    assert "Complete this Audit Committee recommendation" in todo
    feed = [f"{e.summary}\n{e.description}" for e in events_for(framework, "sm_waste")]
    assert any("Audit Committee recommendation" in text for text in feed)
    actions.close(action.key, note="Explained at the October meeting", by="acl")
    action_page = page(clerk, f"/instances/{action.key}")
    assert "by acl (Audit Committee clerk)" in action_page, "the role by its label in roles.yaml"
    trail = shown(page(web, f"/orgs/{ORG}/audit"))
    cycle_wf = engine.catalog.workflows["quarterly_cycle"]
    sign_off = next(t for t in cycle_wf.transitions if t.trigger == "sign_off")
    moved = cycle_wf.state_label("directors_board"), cycle_wf.state_label("executive_decision")
    assert f"{sign_off.shown_label}: {moved[0]} to {moved[1]}" in trail, "a step by the council's labels"
    assert "Directors Board sign-off to Executive approval" in trail
    assert "directors_board" not in trail and "executive_decision" not in trail

    texts = {
        "draft report": draft,
        "live dashboard": live[0],
        "live summary": live[1],
        "refusal": str(early.value),
        "refusals of the frozen report": f"{unfrozen.value}\n{late.value}",
        "frozen report": frozen,
        "sheets": " ".join(sheets),
        "actions page": listed,
        "cycle page": cycle_page,
        "action page": action_page,
        "audit trail": trail,
        "dashboard": board[0],
        "summary": board[1],
        "to-do": todo,
        "feed": "\n".join(feed),
    }
    assert {name: shipped_in(text) for name, text in texts.items() if shipped_in(text)} == {}


def test_the_actions_plural_is_the_policys_when_given_and_fits_a_sheet_name(tmp_path: Path) -> None:
    """``actions.plural`` names the actions together; the XLSX sheet takes it without the
    characters Excel refuses, cut to 31 characters."""
    workflows, policies = council_copy(tmp_path / "council")
    source = policies / "framework.yaml"
    data = yaml.safe_load(source.read_text())
    data["actions"]["plural"] = "Recommendations: Audit/Risk [committee of the whole council]"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(sqlite_url(tmp_path / "pmf.db"), rehearsal=True)
    engine = Engine(store, lenient_catalog(workflows, policies), clock)
    framework = Framework(engine, allow_unsigned(load_policies(policies)))
    engine.directory.add_organisation(ORG, "Test District Council")
    engine.directory.add_service(ORG, "HOUSING", "Housing")
    engine.directory.add_actor("perf", "Perf")
    engine.directory.grant("perf", "performance_officer", ORG)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    data = report.gather(framework, CYCLE)
    assert framework.words.action == "Audit Committee recommendation", "one: the workflow's title"
    assert data.actions_title == "Recommendations: Audit/Risk [committee of the whole council]"
    assert f"No {data.actions_title}" in report.html(data)
    report.xlsx(data, tmp_path / "report.xlsx")
    sheets = openpyxl.load_workbook(tmp_path / "report.xlsx").sheetnames
    assert "Recommendations  Audit Risk  co" in sheets
    store.dispose()


def test_a_closed_returns_refusal_names_its_state_by_the_councils_label(tmp_path: Path) -> None:
    """A figure, its evidence or a sign-off, refused once the service's return is closed, says
    the return's state (and the states a sign-off waits for) by its label in the workflow it
    runs (``Signed off by the performance team``), never by its name (``accepted``); so does
    the assurance page's list of returns."""
    workflows, policies = council_copy(tmp_path / "council")
    source = workflows / "service_return.yaml"
    data = yaml.safe_load(source.read_text())
    data["states"]["accepted"]["label"] = "Signed off by the performance team"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(sqlite_url(tmp_path / "pmf.db"), rehearsal=True)
    engine = Engine(store, lenient_catalog(workflows, policies), clock)
    framework = Framework(engine, allow_unsigned(load_policies(policies)))
    engine.directory.add_organisation(ORG, "Test District Council")
    engine.directory.add_service(ORG, "HOUSING", "Housing")
    for username, role, service in PEOPLE[:2]:
        engine.directory.add_actor(username, username.title())
        Accounts(store, clock).set_password(username, PASSWORD, by="test")
        engine.directory.grant(username, role, ORG, service=service)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    measures = tmp_path / "measures.csv"
    lines = (FIXTURES / "measures" / "measures.csv").read_text().splitlines()
    measures.write_text("\n".join([lines[0], *(line for line in lines if line.startswith("HOU-01,"))]) + "\n")
    framework.performance.import_measures(ORG, measures, by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 27, narrative="n", by="sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    with pytest.raises(NotNow) as figure:
        framework.performance.record_actual(CYCLE, "HOU-01", 28, narrative="n", by="sm_housing")
    with pytest.raises(NotNow) as evidence:
        framework.evidence.attach(CYCLE, "HOU-01", "late.pdf", b"%PDF-1.4\n%%EOF\n", by="sm_housing")
    engine.directory.add_actor("hos", "Head of Housing")
    engine.directory.grant("hos", "head_of_service", ORG, service="HOUSING")
    with pytest.raises(NotNow) as signing:
        framework.sign_offs.sign_off(f"{CYCLE}/HOUSING", by="hos")
    for refused in (figure, evidence, signing):
        said = str(refused.value)
        assert "HOUSING return is Signed off by the performance team" in said, said
        assert not re.search(r"\b(accepted|submitted)\b", said), said
    assert "it is signed off when Submitted" in str(signing.value), "the signing states by their labels"
    assurance = page(signed_in(framework, "perf"), f"/orgs/{ORG}/assurance?cycle={CYCLE}")
    returns = shown(assurance.split('id="returns"', 1)[1].split("</table>", 1)[0])
    assert "HOUSING Signed off by the performance team" in returns, returns
    store.dispose()
