"""Cadences: workflows per quarter, financial year, month or ad hoc piece of work, several of them
for one organisation and period side by side, each keyed by its workflow's ``key`` word."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import AlreadyExists, DefinitionError, InvalidInput
from pmf_engine.core.period import AdHoc, FinancialYear, Period, parse_period
from pmf_engine.core.store import Store
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.registry import framework_registry
from tests.conftest import (
    ORG,
    POLICIES,
    SERVICES,
    SHIPPED_POLICIES,
    WORKFLOWS,
    lenient_catalog,
    services,
    settle_returns,
)
from tests.test_web import sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "cadences"

PLAN = """\
name: yearly_plan
version: "1"
period: year
initial: self_evaluation
states:
  self_evaluation: {label: Self-evaluation, deadline: entered + 15 working days}
  action_plan: {label: SMART action plan}
  agreed: {label: Agreed, terminal: true}
transitions:
  - {trigger: evaluate, source: self_evaluation, dest: action_plan, roles: [service_manager]}
  - {trigger: agree, source: action_plan, dest: agreed, roles: [performance_officer]}
"""

ROUND = """\
name: planning_round
version: "1"
period: year
key: planning
initial: planning
start_roles: [performance_officer]
states:
  planning: {label: Business planning, deadline: period_end + 5 working days}
  closed: {label: Closed, terminal: true}
children:
  - {workflow: yearly_plan, spawn_on: planning, settled: [agreed], join: [close]}
transitions:
  - {trigger: close, source: planning, dest: closed, roles: [performance_officer]}
"""

REVIEW = """\
name: one_off_review
version: "1"
period: adhoc
key: review
initial: reviewing
start_roles: [performance_officer]
states:
  reviewing: {label: Reviewing, deadline: period_end - 2 working days}
  done: {label: Done, terminal: true}
transitions:
  - {trigger: finish, source: reviewing, dest: done, roles: [performance_officer]}
"""

MONTHLY = """\
name: monthly_dashboard
version: "1"
period: month
key: monthly
initial: collecting
start_roles: [performance_officer]
states:
  collecting: {label: Collecting, deadline: period_end + 5 working days}
  published: {label: Published, terminal: true}
transitions:
  - {trigger: publish, source: collecting, dest: published, roles: [performance_officer]}
"""


def _catalog(tmp_path: Path) -> Catalog:
    folder = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, folder)
    for name, text in [
        ("yearly_plan", PLAN),
        ("planning_round", ROUND),
        ("one_off_review", REVIEW),
        ("monthly_dashboard", MONTHLY),
    ]:
        (folder / f"{name}.yaml").write_text(text)
    (tmp_path / "policies").mkdir()
    for policy in POLICIES.glob("*.yaml"):
        text = policy.read_text()
        if policy.name == "framework.yaml":  # a plan holds no figures
            text = text.replace(
                "    service_return: [requested, returned]",
                "    service_return: [requested, returned]\n    yearly_plan: []",
            )
        (tmp_path / "policies" / policy.name).write_text(text)
    return lenient_catalog(folder, tmp_path / "policies")


def test_periods_of_every_kind() -> None:
    assert parse_period("2025-26-Q4") == Period(2025, 4)
    assert parse_period("2025-26") == FinancialYear(2025)
    assert (parse_period("2025-26").start, parse_period("2025-26").end) == (
        date(2025, 4, 1),
        date(2026, 3, 31),
    )
    assert parse_period("2025-26-M01").start == date(2025, 4, 1)
    assert parse_period("2025-26-M12").end == date(2026, 3, 31)
    assert parse_period("2025-26-M11").end == date(2026, 2, 28)
    assert parse_period("2026-03-14") == AdHoc(date(2026, 3, 14))
    assert [str(parse_period(t)) for t in ("2025-26-Q1", "2025-26", "2025-26-M07", "2026-03-14")] == [
        "2025-26-Q1",
        "2025-26",
        "2025-26-M07",
        "2026-03-14",
    ]
    with pytest.raises(ValueError, match=r"this workflow runs per quarter, e\.g\. 2025-26-Q1"):
        parse_period("2025-26", "quarter")
    with pytest.raises(ValueError, match="M13 is not a month"):
        parse_period("2025-26-M13")
    with pytest.raises(ValueError, match="not a financial year"):
        parse_period("2025-27")


def test_a_quarterly_cycle_and_the_years_planning_round_run_together(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    cycle = engine.start_cycle(ORG, "2024-25-Q4", by="perf")  # the one quarterly workflow
    with pytest.raises(InvalidInput, match="name the workflow to start"):  # two yearly workflows
        engine.start_cycle(ORG, "2024-25", by="perf")
    plan = engine.start_cycle(ORG, "2024-25", by="perf", workflow="planning_round")
    assert (cycle.key, plan.key) == (f"{ORG}/2024-25-Q4", f"{ORG}/planning-2024-25")
    assert plan.workflow.startswith("planning_round") and plan.period == "2024-25"
    assert sorted(c.key for c in plan.children) == [f"{ORG}/planning-2024-25/{s}" for s in sorted(SERVICES)]
    assert plan.deadline is not None and plan.deadline.due_at is not None
    assert plan.deadline.due_at.date() == date(2025, 4, 7), "31 March 2025 + 5 working days"

    settle_returns(engine, cycle.key)
    engine.fire(cycle.key, "close_data_request", "perf")
    for service in SERVICES:
        engine.fire(f"{plan.key}/{service}", "evaluate", f"sm_{service.lower()}")
    assert engine.status(plan.key).state == "planning"
    assert engine.status(cycle.key).state == "service_review"
    for service in SERVICES:
        engine.fire(f"{plan.key}/{service}", "agree", "perf")
    engine.fire(plan.key, "close", "perf")
    assert engine.status(plan.key).state == "closed"
    assert engine.status(cycle.key).state == "service_review", "each moves on its own"
    assert [c.key for c in engine.cycles(ORG)] == [f"{ORG}/2024-25-Q4", f"{ORG}/planning-2024-25"]
    with pytest.raises(AlreadyExists):
        engine.start_cycle(ORG, "2024-25", by="perf", workflow="planning_round")
    performance = services(engine).performance
    performance.import_measures(
        ORG, Path(__file__).parent / "fixtures" / "measures" / "measures.csv", by="perf"
    )
    with pytest.raises(InvalidInput, match="covers 2024-25, not a quarter"):
        performance.status(plan.key)
    with pytest.raises(InvalidInput, match="covers 2024-25, not a quarter"):
        performance.record_actual(plan.key, "HOU-01", 20, by="perf")


def test_cycle_start_checks_the_period_kind(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    with pytest.raises(InvalidInput, match=r"runs per year, e\.g\. 2025-26"):
        engine.start_cycle(ORG, "2024-25-Q1", by="perf", workflow="planning_round")
    with pytest.raises(InvalidInput, match=r"startable: monthly_dashboard \(per month\), one_off_review"):
        engine.start_cycle(ORG, "next week", by="perf")


def test_monthly_and_ad_hoc_workflows(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    month = engine.start_cycle(ORG, "2024-25-M03", by="perf")
    assert month.key == f"{ORG}/monthly-2024-25-M03"
    assert month.deadline is not None and month.deadline.due_at is not None
    assert month.deadline.due_at.date() == date(2024, 7, 5), "30 June + 5 working days"
    review = engine.start_cycle(ORG, "2024-09-30", by="perf")
    assert review.key == f"{ORG}/review-2024-09-30"
    assert review.deadline is not None and review.deadline.due_at is not None
    assert review.deadline.due_at.date() == date(2024, 9, 26), "its own due date less 2 working days"
    assert engine.fire(review.key, "finish", "perf").to_state == "done"


def test_two_workflows_that_would_share_keys_are_refused() -> None:
    with pytest.raises(DefinitionError) as refused:
        Catalog.load(
            [*sorted(WORKFLOWS.glob("*.yaml")), FIXTURES / "key_collision.yaml"],
            POLICIES / "roles.yaml",
            registry=framework_registry(SHIPPED_POLICIES),
        )
    (problem,) = refused.value.problems
    assert (problem.file, problem.line, problem.field) == (str(FIXTURES / "key_collision.yaml"), 2, "name")
    assert "their instances' keys would collide" in problem.message


def test_a_guard_or_effect_that_needs_a_quarter_is_refused_on_a_monthly_workflow() -> None:
    """Figures, RAG, exception reports and the committee report are per quarter: a monthly
    workflow (or its per-service child) naming a guard or effect that reads them is refused at
    load, each with its file, line and field, not when the cycle reaches it."""
    cycle, child = FIXTURES / "monthly_cycle.yaml", FIXTURES / "monthly_return.yaml"
    with pytest.raises(DefinitionError) as refused:
        Catalog.load(
            [*sorted(WORKFLOWS.glob("*.yaml")), cycle, child],
            POLICIES / "roles.yaml",
            registry=framework_registry(SHIPPED_POLICIES),
        )
    found = {(p.file, p.line, p.field): p.message for p in refused.value.problems}
    assert set(found) == {
        (str(cycle), 19, "transitions.0.guards.1"),
        (str(cycle), 24, "transitions.1.effects.0"),
        (str(child), 14, "transitions.0.guards.1"),
        (str(child), 14, "transitions.0.guards.2"),
    }
    message = found[(str(cycle), 19, "transitions.0.guards.1")]
    assert "'exception_reports_complete' works only in a workflow run per quarter" in message
    assert "'monthly_cycle' runs per month" in message
    assert "'freeze_report'" in found[(str(cycle), 24, "transitions.1.effects.0")]


def test_the_overview_lists_a_monthly_cycle_and_the_measures_page_says_figures_are_quarterly(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """``/orgs/ORG`` said "No cycles have started" while a monthly cycle ran: the overview lists
    every cycle, of any cadence (figures only for a quarter's); the measures page, quarterly,
    says there is no quarter's cycle yet."""
    engine = Engine(store, _catalog(tmp_path), clock)
    Accounts(store, clock).set_password("perf", "correct horse battery", by="test")
    month = engine.start_cycle(ORG, "2024-25-M03", by="perf")
    client = TestClient(
        create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="s", secure_cookies=False)),
        follow_redirects=False,
    )
    sign_in(client, "perf", "correct horse battery")
    glance = client.get(f"/orgs/{ORG}")
    assert glance.status_code == 200
    assert "No cycles have started" not in glance.text
    assert f'href="/instances/{month.key}"' in glance.text and "June 2024" in glance.text
    assert "figures and RAG are per quarter" in glance.text
    assert f"/instances/{month.key}/report" not in glance.text, "no committee report of a month"
    assert client.get(f"/instances/{month.key}").status_code == 200, "its own page, linked from there"
    measures = client.get(f"/orgs/{ORG}/measures")
    assert measures.status_code == 200
    assert "No quarter's cycle has started: figures and RAG are per quarter" in measures.text
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    both = client.get(f"/orgs/{ORG}").text
    assert f'href="/instances/{month.key}"' in both and f'href="/instances/{ORG}/2024-25-Q1"' in both
    assert "Measures: 0 green" in both
