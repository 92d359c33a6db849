"""The target lifecycle's forms on a measure's page and the annual report in Chromium, at 1280 px
and 375 px, with axe-core (WCAG 2.2 AA) on every page state: a form sent incomplete, a target
proposed, agreed at the performance team's stage, and the annual report (and its public version).

It shares ``tests/test_browser.py``'s server and browser fixtures and its ``Visit`` helper.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from tests.conftest import ORG, services
from tests.test_browser import PASSWORD, Visit, browser, server

pytestmark = pytest.mark.slow
__all__ = ["browser", "server"]  # the fixtures, used by name
PAGE = f"/orgs/{ORG}/measures/HOU-01/history"


def test_target_forms_and_the_annual_report_in_the_browser(server: tuple[str, Engine], browser: Any) -> None:
    base, engine = server
    Accounts(engine.store, engine.clock).set_password("perf2", PASSWORD, by="test")
    seen: dict[str, list[str]] = {}
    proposer = Visit(browser, base)
    proposer.sign_in("perf")
    proposer.go(PAGE, "targets-measure")
    proposer.page.click("button:has-text('Propose')")  # nothing typed
    proposer.page.wait_for_load_state()
    assert proposer.page.title().startswith("Error: ")
    assert "Enter why this target" in proposer.page.inner_text("#target-reason-error")
    proposer.check("targets-incomplete")
    proposer.page.fill("#target-year", "2024-25")
    proposer.page.fill("#target-value", "26")
    proposer.page.fill("#target-reason", "Voids team fully staffed from April")
    proposer.page.click("button:has-text('Propose')")
    proposer.page.wait_for_url(f"**{PAGE}**")
    assert "Awaits Performance team" in proposer.page.inner_text("#targets ~ div table")
    proposer.check("targets-proposed")
    seen |= proposer.violations
    proposer.close()
    for width in (1280, 375):
        decider = Visit(browser, base)
        decider.page.set_viewport_size({"width": width, "height": 900})
        decider.sign_in("perf2")
        decider.go(PAGE, f"targets-to-decide-{width}")
        if width == 1280:
            (target,) = services(engine).targets.list(ORG)
            decider.page.fill(f"#decision-{target.id}-reason", "Realistic against similar councils")
            decider.page.click("button[value='agree']")
            decider.page.wait_for_url(f"**{PAGE}**")
            assert "Awaits Leadership Team" in decider.page.inner_text("#targets ~ div table")
            decider.check("targets-agreed-once")
        decider.go(f"/orgs/{ORG}/annual-report/2024-25", f"annual-report-{width}")
        assert "What went well" in decider.page.inner_text("main")
        decider.go(f"/orgs/{ORG}/annual-report/2024-25?public=yes", f"annual-report-public-{width}")
        seen |= decider.violations
        decider.close()
    assert seen == {}, json.dumps(seen, indent=1)
