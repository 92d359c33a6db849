"""The ModernGov sync in a real browser (Chromium, axe-core WCAG 2.2 AA): the calendar page with
its "Sync with ModernGov" button and each meeting's papers, and the cycle page's committee
meetings of the stages, against a ModernGov site on 127.0.0.1 whose meetings are in the coming
weeks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.moderngov.policy import read_moderngov
from tests.conftest import ORG, SHIPPED_POLICIES, seed, settle_returns
from tests.moderngov_server import FIXTURES, moderngov_site
from tests.test_browser import PASSWORD, Visit, browser

__all__ = ["browser"]  # the fixture, imported to be used here
pytestmark = pytest.mark.slow

CYCLE = f"{ORG}/2024-25-Q1"
BODIES = frozenset(SHIPPED_POLICIES.framework.calendar.bodies)
COMING = {  # committee id -> (title, [(meeting id, days from today, time)])
    134: ("Cabinet", [(4001, 30, "6.00 pm"), (4002, 90, "6.00 pm")]),
    140: ("Overview and Scrutiny Committee", [(4101, 45, "7.00 pm")]),
    150: ("Corporate Management Team", [(4201, 7, "10.00 am"), (4202, 35, "10.00 am")]),
    151: ("Leadership Team", [(4301, 14, "2.00 pm")]),
}


def _coming_weeks(folder: Path) -> None:
    """The meetings of ``COMING``, dated from today, as ``GetMeetings`` gives them."""
    today = london(SystemClock().now()).date()
    for committee, (title, meetings) in COMING.items():
        rows = "".join(
            f"<meeting><meetingid>{mid}</meetingid><meetingdate>{today + timedelta(days=days):%d/%m/%Y}"
            f"</meetingdate><meetingstatus>Confirmed</meetingstatus><meetingtime>{at}</meetingtime>"
            "<iswebcast>False</iswebcast></meeting>"
            for mid, days, at in meetings
        )
        (folder / f"meetings_{committee}.xml").write_text(
            f"<getmeetings><committee><committeeid>{committee}</committeeid><committeetitle>{title}"
            f"</committeetitle><committeemeetings>{rows}</committeemeetings></committee></getmeetings>"
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("moderngov")
    store = Store(sqlite_url(folder / "web.db"), rehearsal=True)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)
    Accounts(engine.store, engine.clock).set_password("perf", PASSWORD, by="test")
    with moderngov_site() as site:
        (folder / "scenario").mkdir()
        _coming_weeks(folder / "scenario")
        site.scenario = str(folder / "scenario")  # an absolute folder replaces the fixtures' own
        policy = folder / "moderngov.yaml"
        policy.write_text((FIXTURES / "moderngov.yaml").read_text().replace("BASE", site.base_url))
        framework = Framework(engine, replace(SHIPPED_POLICIES, moderngov=read_moderngov(policy, BODIES)))
        framework.moderngov.sync(ORG, by="perf")
        engine.start_cycle(ORG, "2024-25-Q1", by="perf")
        settle_returns(engine)
        for trigger in ("close_data_request", "complete_service_review"):
            engine.fire(CYCLE, trigger, "perf")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = create_app(framework, WebSettings(secret_key="browser-test", secure_cookies=False))
        uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not uv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert uv.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
        uv.should_exit = True
        thread.join(timeout=10)


def test_the_calendar_and_cycle_pages_with_moderngov(server: str, browser: Any) -> None:
    visit = Visit(browser, server)
    visit.sign_in("perf")
    visit.go(f"/orgs/{ORG}/meetings", "moderngov-meetings")
    assert visit.page.locator("a:has-text('Papers on ModernGov')").count() == 6
    visit.page.click("button:has-text('Sync with ModernGov')")
    visit.page.wait_for_load_state()
    assert "Synchronised with ModernGov: 0 meetings" in visit.page.inner_text(".govuk-notification-banner")
    visit.check("moderngov-synced")
    visit.go(f"/instances/{CYCLE}", "moderngov-cycle")
    stages = visit.page.inner_text("#stage-meetings")
    assert (
        "Portfolio Holder and CMT review" in stages and "Agenda item: Quarterly Performance Report" in stages
    )
    visit.close()
    assert visit.violations == {}, visit.violations
