"""The web application in a real browser: Playwright driving Debian's Chromium against the app
served by uvicorn on 127.0.0.1. A service manager submits a return, the performance officer
accepts it, the cycle moves to Leadership sign-off, a forged request by the wrong role is
refused, the audit trail shows every step, and axe-core finds no WCAG 2.2 AA violation on any
page. Screenshots of every page land in ``artifacts/screenshots/``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import ORG, SHIPPED_POLICIES, seed, services

pytestmark = pytest.mark.slow  # Chromium, axe-core and Schemathesis: about 30 s

ROOT = Path(__file__).parent.parent
AXE = ROOT / ".cache" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
CYCLE = f"{ORG}/2024-25-Q1"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (scripts/test.sh installs it)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[tuple[str, Engine]]:
    store = Store(sqlite_url(tmp_path_factory.mktemp("web") / "web.db"), rehearsal=True)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing", "sm_planning", "sm_waste", "cmt", "lead", "auditor", "scrutiny"):
        accounts.set_password(user, PASSWORD, by="test")
    services(engine).performance.import_measures(
        ORG, Path(__file__).parent / "fixtures" / "measures" / "measures.csv", by="perf"
    )
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="browser-test", secure_cookies=True)
    )
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", engine
    uv.should_exit = True
    thread.join(timeout=10)
    store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        _missing("Debian's chromium")
    if not AXE.exists():
        _missing("axe-core (.cache/axe-core/axe.min.js)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Visit:
    """One signed-in browser session that screenshots and axe-checks every page it sees."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        # bypass_csp: the pages forbid scripts; axe is injected by the test, not served by the app
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        self.page = self.context.new_page()
        self.violations: dict[str, list[str]] = {}

    def check(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"
        )
        found = [f"{v['id']}: {v['help']} ({len(v['nodes'])} node(s))" for v in result["violations"]]
        if found:
            self.violations[name] = found

    def go(self, path: str, name: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, (
            f"{path}: {response.status if response else 'no response'}"
        )
        self.check(name)

    def sign_in(self, user: str) -> None:
        self.page.goto(self.base + "/sign-in")
        self.page.fill("#username", user)
        self.page.fill("#password", PASSWORD)
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(f"{self.base}/orgs/{ORG}/dashboard")  # the landing page

    def press(self, trigger: str) -> None:
        self.page.click(f"button[value='{trigger}']")
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()


def test_a_quarter_in_the_browser(server: tuple[str, Engine], browser: Any) -> None:
    base, engine = server
    seen: dict[str, list[str]] = {}

    anonymous = Visit(browser, base)
    anonymous.go("/sign-in", "sign-in")
    anonymous.page.click("button:has-text('Sign in')")  # nothing typed: the form's own errors
    assert anonymous.page.title().startswith("Error: Sign in")
    summary = anonymous.page.inner_text(".govuk-error-summary")
    assert "Enter your username" in summary and "Enter your password" in summary
    assert anonymous.page.evaluate("document.activeElement.id") == "error-summary", (
        "focused, without a script"
    )
    assert "Enter your password" in anonymous.page.inner_text("#password-error")
    anonymous.check("sign-in-empty")
    anonymous.page.click(".govuk-error-summary a[href='#password']")
    assert anonymous.page.evaluate("document.activeElement.id") == "password", "the link goes to the field"
    anonymous.page.fill("#username", "sm_housing")
    anonymous.page.fill("#password", "wrong password!")
    anonymous.page.click("button:has-text('Sign in')")
    assert "Enter a correct username and password" in anonymous.page.inner_text(".govuk-error-summary")
    anonymous.check("sign-in-error")
    seen |= anonymous.violations
    anonymous.close()

    housing = Visit(browser, base)
    housing.sign_in("sm_housing")
    cookie = next(c for c in housing.context.cookies() if c["name"] == "pmf_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    housing.check("organisation")
    housing.go(f"/instances/{CYCLE}/HOUSING", "return")
    housing.page.fill("#actual_HOU-01", "thirty")
    housing.page.click("button:has-text('Save figures')")
    assert "Enter actual for HOU-01 as a number" in housing.page.inner_text("#actual_HOU-01-error")
    housing.check("return-error")
    housing.page.fill("#actual_HOU-01", "29.5")
    housing.page.fill("#narrative_HOU-01", "Voids backlog clearing")
    housing.page.click("button:has-text('Save figures')")
    assert "1 figure saved" in housing.page.inner_text(".govuk-notification-banner")
    housing.page.click("button:has-text('Upload return')")  # no file chosen
    assert "Select the filled-in return" in housing.page.inner_text("#file-error")
    housing.check("upload-no-file")
    phone = housing.context.new_page()
    phone.set_viewport_size({"width": 375, "height": 800})
    for path, name in [
        (f"/instances/{CYCLE}/HOUSING", "return"),
        (f"/instances/{CYCLE}", "cycle"),
        (f"/orgs/{ORG}", "organisation"),
        (f"/orgs/{ORG}/measures", "measures"),
        (f"/orgs/{ORG}/audit", "audit"),
    ]:
        phone.goto(base + path)
        wide = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=str(SHOTS / f"{name}-375px.png"), full_page=True)
        assert wide <= 375, f"{path} scrolls sideways on a 375 px phone ({wide} px wide)"
    phone.close()
    housing.page.goto(f"{base}/instances/{CYCLE}/HOUSING")
    housing.press("submit")
    assert "Submitted" in housing.page.inner_text("h1")
    housing.check("return-submitted")
    # The wrong role, by a forged request: a service manager closing the whole data request.
    housing.page.goto(f"{base}/instances/{CYCLE}")
    token = housing.page.get_attribute("input[name=csrf_token]", "value")
    forged = housing.page.request.post(  # with the right version: it is no secret
        f"{base}/instances/{CYCLE}/fire",
        form={
            "csrf_token": token or "",
            "trigger": "close_data_request",
            "expected_version": engine.peek(CYCLE)[1],
        },
    )
    assert forged.status == 403 and "only a Performance officer may" in forged.text()
    seen |= housing.violations
    housing.close()

    # the other two services, by their own managers; recycling misses its target badly (red)
    services(engine).performance.record_actual(
        CYCLE, "WAS-01", 40, narrative="Contractor strike", by="sm_waste"
    )
    services(engine).performance.record_actual(
        CYCLE, "PLA-01", None, missing_reason="Uniform migration: figures in Q2", by="sm_planning"
    )
    for service in ("PLANNING", "WASTE"):
        engine.fire(f"{CYCLE}/{service}", "submit", f"sm_{service.lower()}")
    finance = SHOTS / "finance.csv"  # finance beside performance, on the measures page
    finance.write_text(
        "service,period,budget,forecast_outturn,note\nHOUSING,2024-25-Q1,1300000,1360000,Demand\n"
    )
    services(engine).finance.import_finance(ORG, finance, by="perf")

    perf = Visit(browser, base)
    perf.sign_in("perf")
    perf.go(f"/instances/{CYCLE}/HOUSING", "return-to-accept")
    perf.press("accept")
    assert "Accepted" in perf.page.inner_text("h1")
    for service in ("PLANNING", "WASTE"):
        perf.page.goto(f"{base}/instances/{CYCLE}/{service}")
        perf.press("accept")
    perf.go(f"/instances/{CYCLE}", "cycle")
    assert "Still open" not in perf.page.inner_text("main")
    perf.press("close_data_request")
    perf.press("complete_service_review")
    assert "Portfolio Holder and CMT review" in perf.page.inner_text("h1")
    perf.go(f"/orgs/{ORG}/measures", "measures")
    assert "Finance beside performance" in perf.page.inner_text("main")
    perf.go(f"/orgs/{ORG}/assurance", "assurance")
    assert "Figures by quality flag" in perf.page.inner_text("main")
    perf.go(f"/orgs/{ORG}/meetings", "meetings")
    perf.page.fill("#when", "2024-10-22 10:00")
    perf.page.click("button:has-text('Add the meeting')")
    assert "Meeting added" in perf.page.inner_text(".govuk-notification-banner")
    perf.check("meetings-added")
    seen |= perf.violations
    perf.close()

    cmt = Visit(browser, base)
    cmt.sign_in("cmt")
    cmt.go(f"/instances/{CYCLE}", "cycle-cmt")
    cmt.press("endorse")
    seen |= cmt.violations
    cmt.close()

    lead = Visit(browser, base)
    lead.sign_in("lead")
    lead.go(f"/instances/{CYCLE}", "cycle-leadership")
    lead.press("sign_off")
    assert "WAS-01" in lead.page.inner_text(".govuk-error-summary"), "no sign-off while red has no report"
    lead.check("sign-off-refused")

    perf = Visit(browser, base)
    perf.sign_in("perf")
    perf.go(f"/instances/{CYCLE}", "cycle-exception-report")
    perf.page.fill("#reason-WAS-01", "Contractor strike in May and June")
    perf.page.click("button:has-text('Save the exception report for WAS-01')")
    assert perf.page.title().startswith("Error: ")
    assert "Enter the expected recovery date" in perf.page.inner_text("#recovery-WAS-01-day-error")
    assert perf.page.input_value("#reason-WAS-01") == "Contractor strike in May and June", "what was typed"
    perf.check("exception-report-errors")
    perf.page.fill("#action-WAS-01", "Catch-up collections")
    perf.page.fill("#owner-WAS-01", "sm_waste")
    perf.page.fill("#recovery-WAS-01-day", "31")
    perf.page.fill("#recovery-WAS-01-month", "12")
    perf.page.fill("#recovery-WAS-01-year", "2024")
    perf.page.click("button:has-text('Save the exception report for WAS-01')")
    assert "Exception reports needed" not in perf.page.inner_text("main")
    seen |= perf.violations
    perf.close()

    lead.page.goto(f"{base}/instances/{CYCLE}")
    lead.press("sign_off")
    assert "Cabinet approval" in lead.page.inner_text("h1")
    lead.go(f"/instances/{CYCLE}/report", "report")
    assert "frozen at Leadership Team sign-off" in lead.page.inner_text("#frozen")
    seen |= lead.violations
    lead.close()

    with engine.store.write() as s:  # a long reason with no space to break at
        audit.append_many(
            s,
            [
                audit.AuditRecord(
                    event="note", organisation=ORG, instance=CYCLE, actor="auditor", reason="x" * 400
                )
            ],
            engine.clock.now(),
        )
    auditor = Visit(browser, base)
    auditor.sign_in("auditor")
    auditor.go(f"/orgs/{ORG}/audit?instance={CYCLE}", "audit")
    fits = auditor.page.evaluate(
        "() => [document.documentElement.scrollWidth,"
        " document.querySelector('table').getBoundingClientRect().right,"
        " document.querySelector('main').getBoundingClientRect().right]"
    )
    assert fits[0] <= 1280 and fits[1] <= fits[2] + 1, f"the audit page fits a 1280 px screen: {fits}"
    assert "Granted the role" in auditor.page.inner_text(
        "table"
    ) or "Recorded HOU-01" in auditor.page.inner_text("table")
    assert "done when asked" in auditor.page.inner_text("#verification"), "a view does not verify"
    auditor.page.click("#verify")  # the auditor asks: the whole chain is recomputed
    auditor.page.wait_for_url("**verify=1**")
    auditor.check("audit verified")
    assert "Chain verified" in auditor.page.inner_text("#verification")
    trail = auditor.page.inner_text("table")
    workflows = engine.catalog.workflows
    labels = {
        t.trigger: t.shown_label
        for name in ("quarterly_cycle", "service_return")
        for t in workflows[name].transitions
    }
    steps = ("submit", "accept", "close_data_request", "complete_service_review", "endorse", "sign_off")
    for step in steps:
        assert labels[step] in trail, f"{step} is shown by its label"
    assert "Refused: " in trail and "Report frozen" in trail
    auditor.page.click("summary:has-text('As recorded') >> nth=0")  # the entry as the log stores it
    auditor.check("audit as recorded")
    recorded = auditor.page.text_content("table") or ""
    for step in steps:
        assert re.search(rf"Trigger:\s*{step}(?![a-z_])", recorded), f"{step} kept as stored"
    assert re.search(r"Event:\s*refused(?![a-z_.])", recorded) and "report.frozen" in recorded
    with auditor.page.expect_download() as download:
        auditor.page.click("a:has-text('Download as CSV')")
    assert "close_data_request" in Path(download.value.path()).read_text()
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/1"})
    scrutiny = Visit(browser, base)
    scrutiny.sign_in("scrutiny")
    scrutiny.go(f"/instances/{CYCLE}", "cycle-scrutiny")
    scrutiny.page.fill("#action-what", "Report on the recycling recovery plan")
    scrutiny.page.fill("#action-assignee", "sm_waste")
    scrutiny.page.fill("#action-due-day", "31")
    scrutiny.page.fill("#action-due-month", "1")
    scrutiny.page.fill("#action-due-year", "2099")
    scrutiny.page.fill("#action-link", "WAS-01")
    scrutiny.page.click("button:has-text('Raise the action')")
    scrutiny.go(f"/orgs/{ORG}/actions", "actions")
    assert "Report on the recycling recovery plan" in scrutiny.page.inner_text("table")
    scrutiny.go(f"/instances/{CYCLE}/SA-1", "action")
    scrutiny.page.fill("#reason-close", "Plan reported to the committee")
    scrutiny.press("close")
    assert "Closed" in scrutiny.page.inner_text("h1")
    missing = scrutiny.page.goto(f"{base}/orgs/NOPE")
    assert missing is not None and missing.status == 404
    scrutiny.check("not-found")
    seen |= scrutiny.violations
    scrutiny.close()

    seen |= auditor.violations
    auditor.close()

    assert seen == {}, json.dumps(seen, indent=1)
    assert len(list(SHOTS.glob("*.png"))) >= 18


def test_service_plans_in_the_browser(server: tuple[str, Engine], browser: Any) -> None:
    """The plans' pages: the year started, a form with errors (its summary), the plan written
    and its self-evaluation submitted; axe-core finds nothing on any of them."""
    base, _engine = server
    perf = Visit(browser, base)
    perf.sign_in("perf")
    perf.go(f"/orgs/{ORG}/plans", "plans")
    perf.page.fill("#year", "2024-25")
    perf.page.click("button:has-text('Start the service plans')")
    assert "are started" in perf.page.inner_text(".govuk-notification-banner")
    perf.check("plans-started")
    perf.go(f"/orgs/{ORG}/plans/2024-25/HOUSING", "plan")
    perf.page.click("button:has-text('Add the action')")
    assert "There is a problem" in perf.page.inner_text(".govuk-error-summary")
    perf.check("plan-errors")
    perf.page.fill("#self-evaluation", "Voids falling; repairs backlog remains")
    perf.page.click("button:has-text('Save the plan')")
    assert "Plan saved" in perf.page.inner_text(".govuk-notification-banner")
    perf.check("plan-saved")
    assert perf.violations == {}, json.dumps(perf.violations, indent=1)
    perf.close()


def test_a_plans_actions_and_risks_change_and_are_withdrawn_in_the_browser(
    server: tuple[str, Engine], browser: Any
) -> None:
    """A plan's change form sent incomplete (its errors in the summary, its form opened again),
    then an action changed and a risk withdrawn with a reason (shown as withdrawn); axe-core
    finds nothing on any of these pages."""
    base, engine = server
    plans = services(engine).plans
    if not plans.list_for(ORG, "2025-26"):
        plans.start(ORG, "2025-26", by="perf")
    key = plans.plan_key(ORG, "2025-26", "WASTE")
    plans.add_action(key, "Cut missed bins by a third", owner="perf", due="2026-03-31", by="perf")
    plans.add_risk(key, "Depot lease ends", owner="perf", likelihood=4, impact=4, by="perf")
    perf = Visit(browser, base)
    perf.sign_in("perf")
    perf.go(f"/orgs/{ORG}/plans/2025-26/WASTE", "plan-changes")
    perf.page.click("summary:has-text('Change or withdraw action A1')")
    perf.page.fill("#action-A1-what", "")
    perf.page.click("button:has-text('Change action A1')")
    assert "Enter what is to be done" in perf.page.inner_text(".govuk-error-summary")
    assert perf.page.is_visible("#action-A1-what-error")
    perf.check("plan-change-errors")
    perf.page.fill("#action-A1-what", "Cut missed bins by half")
    perf.page.click("button:has-text('Change action A1')")
    assert "Action changed" in perf.page.inner_text(".govuk-notification-banner")
    perf.page.click("summary:has-text('Change or withdraw risk R1')")
    perf.page.fill("#risk-R1-reason", "Lease renewed for ten years")
    perf.page.click("button:has-text('Withdraw risk R1')")
    assert "Risk withdrawn" in perf.page.inner_text(".govuk-notification-banner")
    assert "Lease renewed for ten years" in perf.page.inner_text("#plan-risks")
    perf.check("plan-risk-withdrawn")
    assert perf.violations == {}, json.dumps(perf.violations, indent=1)
    perf.close()


def test_schemathesis_finds_no_server_error(server: tuple[str, Engine]) -> None:
    """Property-based requests generated from the running server's OpenAPI document: whatever
    they send, the API answers without a 5xx."""
    base, engine = server
    # The OpenAPI examples name the demo council (WDC/2024-25-Q1): give it a cycle here, so the
    # generated requests reach real data as well as the error paths.
    engine.directory.add_organisation("WDC", "Wexcombe District Council")
    engine.directory.add_service("WDC", "HOUSING", "Housing")
    engine.directory.grant("perf", "performance_officer", "WDC")
    engine.start_cycle("WDC", "2024-25-Q1", by="perf")
    services(engine).plans.start("WDC", "2024-25", by="perf")  # the plan routes: WDC/2024-25/HOUSING
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st is not None, "schemathesis is in the test extra"
    token = Accounts(engine.store, engine.clock).create_token("perf", "schemathesis", by="test")
    run = subprocess.run(
        [st, "run", f"{base}/api/v1/openapi.json", "--checks", "not_a_server_error",
         "--header", f"Authorization: Bearer {token}", "--max-examples", "25", "--request-timeout", "20"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower()
    assert "only 401/403" not in run.stdout, "the examples reach data the token may read"


def test_api_over_the_network_with_httpx(server: tuple[str, Engine]) -> None:
    """The API as a script uses it: httpx over TCP, a token, an idempotent retry."""
    base, engine = server
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    token = Accounts(engine.store, engine.clock).create_token("sm_planning", "nightly script", by="test")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20) as http:
        cycles = http.get(f"/api/v1/organisations/{ORG}/cycles").json()
        assert f"{ORG}/2024-25-Q2" in [c["key"] for c in cycles]
        recorded = http.post(
            f"/api/v1/instances/{ORG}/2024-25-Q2/PLANNING/actuals",
            json={"figures": [{"code": "PLA-01", "value": 140}]},
        )
        assert (
            recorded.status_code == 422 and "PLA-01 actual: 140 is out of range" in recorded.json()["detail"]
        )
        recorded = http.post(
            f"/api/v1/instances/{ORG}/2024-25-Q2/PLANNING/actuals",
            json={"figures": [{"code": "PLA-01", "value": 71, "narrative": "Above target"}]},
        )
        assert recorded.status_code == 200 and recorded.json() == {"recorded": 1}
        url = f"/api/v1/instances/{ORG}/2024-25-Q2/PLANNING/transitions"
        etag = http.get(f"/api/v1/instances/{ORG}/2024-25-Q2/PLANNING").headers["etag"]
        once = {"Idempotency-Key": "q2-planning", "If-Match": etag}
        first = http.post(url, json={"trigger": "submit"}, headers=once)
        retry = http.post(url, json={"trigger": "submit"}, headers=once)
        assert (first.status_code, retry.status_code) == (201, 201) and first.json() == retry.json()
        # no key: a second, real attempt, on the version the first one made
        again = http.post(url, json={"trigger": "submit"}, headers={"If-Match": first.headers["etag"]})
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert "submit" in again.json()["detail"]
