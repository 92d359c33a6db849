"""The risk register's page in Chromium at 1280 px and 375 px, with axe-core (WCAG 2.2 AA):
the heat map is an image with a name and a description, the same data is a table, and nothing
scrolls sideways on a phone. Shares ``tests/test_browser.py``'s fixtures and ``Visit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pmf_engine.core.engine import Engine
from tests.conftest import ORG, services
from tests.test_browser import CYCLE, Visit, browser, server
from tests.test_risks import FIXTURES_DIR, RISKS

pytestmark = pytest.mark.slow
__all__ = ["browser", "server"]  # the fixtures, used by name


def test_the_risks_page_is_accessible_at_both_widths(
    server: tuple[str, Engine], browser: Any, tmp_path: Path
) -> None:
    base, engine = server
    framework = services(engine)
    framework.projects.import_projects(ORG, FIXTURES_DIR / "projects" / "projects.csv", by="perf")
    path = tmp_path / "risks.csv"
    path.write_text(RISKS, encoding="utf-8")
    framework.risks.import_risks(ORG, path, by="perf")
    framework.risks.review(CYCLE, "R-03", 4, 4, note="Contractor in trouble", by="perf")
    seen: dict[str, list[str]] = {}
    for width in (1280, 375):
        visit = Visit(browser, base)
        visit.page.set_viewport_size({"width": width, "height": 900})
        visit.sign_in("perf")
        visit.go(f"/orgs/{ORG}/risks", f"risks-{width}")
        assert visit.page.get_attribute("svg[role=img]", "aria-label") == "Risk heat map: residual scores"
        assert "R-01" in visit.page.inner_text("#escalated + table")
        if width == 375:
            overflow = visit.page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, "the page scrolls sideways at 375 px"
        seen |= visit.violations
        visit.close()
    assert seen == {}, json.dumps(seen, indent=1)


def test_the_review_and_headline_forms_are_accessible(
    server: tuple[str, Engine], browser: Any, tmp_path: Path
) -> None:
    """A review form opened, sent empty (the error summary, each error beside its radios), then
    completed (the success banner, the register's direction); the theme's headline form likewise;
    axe-core finds nothing on any of these pages, at 1280 px and 375 px."""
    base, engine = server
    framework = services(engine)
    if not framework.risks.register(ORG):
        framework.projects.import_projects(ORG, FIXTURES_DIR / "projects" / "projects.csv", by="perf")
        path = tmp_path / "risks.csv"
        path.write_text(RISKS, encoding="utf-8")
        framework.risks.import_risks(ORG, path, by="perf")
    seen: dict[str, list[str]] = {}
    for width in (1280, 375):
        visit = Visit(browser, base)
        visit.page.set_viewport_size({"width": width, "height": 900})
        visit.sign_in("perf")
        visit.go(f"/orgs/{ORG}/risks", f"risks-review-{width}")
        visit.page.click("summary:has-text('Review R-04')")
        visit.page.click("button:has-text('Record the review of R-04')")
        assert "Select the likelihood" in visit.page.inner_text(".govuk-error-summary")
        assert visit.page.is_visible("#review-R-04-likelihood-error")  # its form opened again
        visit.check(f"risks-review-errors-{width}")
        visit.page.check("#review-R-04-likelihood-3")
        visit.page.check("#review-R-04-impact-2")
        visit.page.fill("#review-R-04-note", f"Appeals steady ({width})")
        visit.page.click("button:has-text('Record the review of R-04')")
        assert "Review of R-04 recorded" in visit.page.inner_text(".govuk-notification-banner")
        visit.check(f"risks-reviewed-{width}")
        visit.go(f"/orgs/{ORG}/dashboard/2024-25-Q1/themes/Homes", f"theme-headline-{width}")
        visit.page.fill("#headline-narrative", "")
        visit.page.click("button:has-text('Save the headline')")
        assert "Enter the theme's headline" in visit.page.inner_text(".govuk-error-summary")
        visit.check(f"theme-headline-errors-{width}")
        visit.page.fill("#headline-narrative", f"Homes first ({width})")
        visit.page.click("button:has-text('Save the headline')")
        assert "Headline saved" in visit.page.inner_text(".govuk-notification-banner")
        visit.check(f"theme-headline-saved-{width}")
        if width == 375:
            overflow = visit.page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, "the page scrolls sideways at 375 px"
        seen |= visit.violations
        visit.close()
    assert seen == {}, json.dumps(seen, indent=1)
