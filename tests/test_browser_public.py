"""The public pages of published figures and the calendar subscription page in Chromium, with
axe-core (WCAG 2.2 AA) on each and a screenshot, at 1280 px and 375 px. The server here
publishes a quarter once it leaves its data request (``open_data.published_in``), so a quarter
can be published without running it to Scrutiny. Shares ``tests/test_browser.py``'s browser
fixture and its ``Visit`` helper."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.policy import OpenDataPolicy
from tests.conftest import ORG, SHIPPED_POLICIES, seed, settle_returns
from tests.test_annual_report import CYCLE_Q4, build_year, mark_q4, sign_off_q4
from tests.test_browser import CYCLE, PASSWORD, Visit, browser

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, used by name


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[str]:
    """A council whose Q1 is published, served by uvicorn on 127.0.0.1."""
    store = Store(sqlite_url(tmp_path_factory.mktemp("public") / "web.db"), rehearsal=True)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)
    policies = dataclasses.replace(
        SHIPPED_POLICIES,
        framework=SHIPPED_POLICIES.framework.model_copy(
            update={"open_data": OpenDataPolicy(published_in={"quarterly_cycle": ("service_review",)})}
        ),
    )
    framework = Framework(engine, policies)
    framework.performance.import_measures(
        ORG, Path(__file__).parent / "fixtures" / "measures" / "measures.csv", by="perf"
    )
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    for code, value in {"HOU-01": 41, "PLA-01": 70, "WAS-01": 30, "COR-01": 1.8}.items():
        flag = "provisional" if code == "HOU-01" else ""  # its tag and note are axe-checked too
        framework.performance.record_actual(
            CYCLE, code, value, narrative="Not for the public", quality=flag, by="perf"
        )
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    Accounts(engine.store, engine.clock).set_password("sm_housing", PASSWORD, by="test")
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
    store.dispose()


def test_the_public_pages_pass_axe_without_sign_in(published: str, browser: Any) -> None:
    seen: dict[str, list[str]] = {}
    for width in (1280, 375):
        visit = Visit(browser, published)
        visit.page.set_viewport_size({"width": width, "height": 900})
        visit.go(f"/open/{ORG}", f"open-index-{width}")
        visit.page.click("a:has-text('Quarter 1 2024-25')")
        visit.page.wait_for_url(f"**/open/{ORG}/2024-25-Q1")
        visit.check(f"open-quarter-{width}")
        main = visit.page.inner_text("main")
        assert "HOU-01" in main and "Not for the public" not in main
        assert "Provisional figure" in main and "They may change when the service validates them." in main
        assert visit.page.locator("svg[role='img']").count() >= 8
        if width == 375:
            overflow = visit.page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, "the page scrolls sideways at 375 px"
        seen |= visit.violations
        visit.close()
    assert seen == {}, json.dumps(seen, indent=1)


def test_the_calendar_subscription_page_passes_axe(published: str, browser: Any) -> None:
    visit = Visit(browser, published)
    visit.page.goto(published + "/sign-in")
    visit.page.fill("#username", "sm_housing")
    visit.page.fill("#password", PASSWORD)
    visit.page.click("button:has-text('Sign in')")
    visit.page.wait_for_load_state()
    visit.go("/todo/calendar", "calendar-none")
    visit.page.click("button:has-text('Make a calendar address')")
    visit.page.wait_for_load_state()
    visit.check("calendar-made")
    address = visit.page.input_value("#address")
    assert "/calendar/pmfcal_" in address
    feed = visit.page.request.get(address)
    assert feed.ok and "BEGIN:VCALENDAR" in feed.text()
    visit.page.click("button:has-text('Stop my calendar address')")
    visit.page.wait_for_load_state()
    visit.check("calendar-stopped")
    assert visit.page.request.get(address).status == 404
    visit.close()
    assert visit.violations == {}, json.dumps(visit.violations, indent=1)


@pytest.fixture(scope="module")
def annual(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[str]:
    """A council whose 2024-25 annual report is frozen and its Q4 approved, served by uvicorn."""
    folder = tmp_path_factory.mktemp("annual")
    store = Store(sqlite_url(folder / "web.db"), rehearsal=True)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)
    framework = build_year(engine, folder)
    mark_q4(framework)  # a provisional and an estimated figure: their tags are axe-checked too
    sign_off_q4(framework)
    engine.fire(CYCLE_Q4, "approve", "clerk", data={"minute_reference": "CAB/9"})
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
    store.dispose()


def test_the_public_annual_report_passes_axe_without_sign_in(annual: str, browser: Any) -> None:
    seen: dict[str, list[str]] = {}
    for width in (1280, 375):
        visit = Visit(browser, annual)
        visit.page.set_viewport_size({"width": width, "height": 900})
        visit.go(f"/open/{ORG}", f"open-index-annual-{width}")
        visit.page.click("a:has-text('Annual performance report 2024-25')")
        visit.page.wait_for_url(f"**/open/{ORG}/annual/2024-25")
        visit.check(f"open-annual-{width}")
        main = visit.page.inner_text("main")
        assert "HOU-01" in main and "SECRET" not in main
        assert "Provisional figure" in main and "They may change when the service validates them." in main
        seen |= visit.violations
        visit.close()
    assert seen == {}, json.dumps(seen, indent=1)
