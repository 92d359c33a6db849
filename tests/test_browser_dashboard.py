"""The dashboard in Chromium: from the quarter at a glance to one figure and back, at 1280 px
and 375 px, with axe-core (WCAG 2.2 AA) on every page state and a screenshot of each.

It shares ``tests/test_browser.py``'s server and browser fixtures (a server of its own in this
module) and its ``Visit`` helper.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pmf_engine.core.engine import Engine
from tests.conftest import ORG, services
from tests.test_browser import CYCLE, Visit, browser, server

pytestmark = pytest.mark.slow
__all__ = ["browser", "server"]  # the fixtures, used by name


def test_the_dashboard_drills_down_to_a_figure_and_back(server: tuple[str, Engine], browser: Any) -> None:
    base, engine = server
    performance = services(engine).performance
    for code, value in {"HOU-01": 41, "PLA-01": 70, "WAS-01": 30, "COR-01": 1.8}.items():
        flag = "provisional" if code == "HOU-01" else ""  # its tag and note are axe-checked too
        performance.record_actual(
            CYCLE, code, value, narrative=f"{code} this quarter", quality=flag, by="perf"
        )
    performance.add_exception_report(
        CYCLE,
        "HOU-01",
        reason="Contractor shortage",
        remedial_action="Second contractor",
        owner="sm_housing",
        recovery_date="2024-12-31",
        by="sm_housing",
    )
    seen: dict[str, list[str]] = {}
    for width in (1280, 375):
        visit = Visit(browser, base)
        visit.page.set_viewport_size({"width": width, "height": 900})
        visit.sign_in("perf")
        visit.go(f"/orgs/{ORG}/dashboard", f"dashboard-{width}")
        assert "Contractor shortage" in visit.page.inner_text("main")
        assert "Provisional figure" in visit.page.inner_text("main")
        visit.page.click("a:has-text('Homes')")
        visit.page.wait_for_url("**/themes/Homes")
        visit.check(f"dashboard-theme-{width}")
        visit.page.click("a:has-text('HOU-01')")
        visit.page.wait_for_url("**/measures/HOU-01/history**")
        visit.check(f"dashboard-measure-{width}")
        assert "HOU-01 this quarter" in visit.page.inner_text("table")
        visit.page.click("a:has-text('Back to the dashboard')")
        visit.page.wait_for_url("**/dashboard?period=*")
        assert "at a glance" in visit.page.inner_text("h1")
        visit.go(f"/orgs/{ORG}/dashboard/2024-25-Q1/summary", f"dashboard-summary-{width}")
        visit.go("/todo", f"todo-{width}")
        if width == 375:  # nothing wider than the screen: tables scroll inside their own box
            overflow = visit.page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, "the page scrolls sideways at 375 px"
        seen |= visit.violations
        visit.close()
    assert seen == {}, json.dumps(seen, indent=1)
