"""Performance data through a whole cycle on SQLite and PostgreSQL: annual targets and RAG
bases, projects, the report frozen at sign-off and restatements, and Scrutiny actions chased
until closed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, GuardFailed, NotFound, PermissionDenied, PmfError
from pmf_engine.core.store import AuditEntry, OutboxMessage, Store
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import ReportSnapshot
from pmf_engine.pmf.performance import Performance
from pmf_engine.pmf.rag import MeasureRule, RagPolicy
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services, settle_returns

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def perf(engine: Engine) -> Performance:
    performance = services(engine).performance
    performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    return performance


def to_signoff(engine: Engine, cycle: str = CYCLE) -> None:
    settle_returns(engine, cycle)
    engine.fire(cycle, "close_data_request", "perf")
    engine.fire(cycle, "complete_service_review", "perf")
    engine.fire(cycle, "endorse", "cmt")


# -- annual targets and bases ---------------------------------------------------------------


def test_annual_targets_profile_and_ytd_basis(store: Store, catalog: Catalog, clock: ManualClock) -> None:
    policy = RagPolicy(measures={"NEW-01": MeasureRule(basis="ytd"), "SAT-01": MeasureRule(basis="forecast")})
    engine = Engine(store, catalog, clock)
    perf = Framework(engine, replace(SHIPPED_POLICIES, rag=policy)).performance
    assert perf.import_measures(ORG, FIXTURES / "measures" / "annual.csv", by="perf") == (2, 0)
    for quarter, homes in (("Q1", 15), ("Q2", 25)):
        engine.start_cycle(ORG, f"2024-25-{quarter}", by="perf")
        perf.record_actual(f"{ORG}/2024-25-{quarter}", "NEW-01", homes, by="sm_housing")
    perf.record_actual(f"{ORG}/2024-25-Q2", "SAT-01", 71, forecast=78, by="perf")
    status = {m.code: m for m in perf.status(f"{ORG}/2024-25-Q2")}
    new = status["NEW-01"]
    assert (new.actual, new.target) == (25, 40)  # Q2 alone: 20% of 200
    assert (new.compared, new.compared_target, new.rag.status) == (40, 60, "red")  # 15 + 25 against 10% + 20%
    assert new.rag.rule.startswith("year to date (Q1-Q2, sum)")
    sat = status["SAT-01"]
    assert (sat.compared, sat.compared_target, sat.rag.status) == (78, 80, "amber")  # forecast within 5%
    assert "year-end forecast" in sat.rag.rule


def test_profile_and_aggregation_are_checked(engine: Engine) -> None:
    with pytest.raises(DataFileError) as raised:
        services(engine).performance.import_measures(ORG, FIXTURES / "measures" / "badprofile.csv", by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert {(2, "profile"), (3, "aggregation"), (2, "annual target 2024")} <= found


# -- projects -------------------------------------------------------------------------------


def test_projects_import_status_and_exception_before_signoff(perf: Performance, engine: Engine) -> None:
    projects = services(engine).projects
    assert projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf") == (2, 0)
    assert projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf") == (0, 2)
    listed = {p.code: milestones for p, _, milestones in projects.projects(ORG)}
    assert [m.title for m in listed["P-01"]] == ["Planning consent", "Contractor appointed", "Doors open"]
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with pytest.raises(PermissionDenied):
        projects.update(CYCLE, "P-02", "on_track", by="sm_housing")  # not their service
    with pytest.raises(PmfError, match="needs a narrative"):
        projects.update(CYCLE, "P-02", "off_track", by="sm_waste")
    projects.update(CYCLE, "P-02", "off_track", narrative="Supplier failed", by="sm_waste")
    projects.update(CYCLE, "P-01", "at_risk", narrative="Tender late", by="sm_housing")
    status = {p.code: p for p in projects.status(CYCLE)}
    assert status["P-02"].status == "off_track"
    overdue = [m.title for m in status["P-01"].milestones if m.overdue]
    assert overdue == ["Contractor appointed"]  # due in June, not completed; consent was done
    to_signoff(engine)
    with pytest.raises(GuardFailed) as refused:
        engine.fire(CYCLE, "sign_off", "lead")
    assert "project P-02" in refused.value.reason and "WAS-01" not in refused.value.reason
    perf.add_exception_report(
        CYCLE,
        "P-02",
        project=True,
        reason="Supplier failed",
        remedial_action="New supplier",
        owner="sm_waste",
        recovery_date="2024-12-31",
        by="sm_waste",
    )
    assert engine.fire(CYCLE, "sign_off", "lead").to_state == "cabinet_approval"
    assert [code for code, _ in perf.exception_reports(CYCLE)] == ["project P-02"]


def test_bad_projects_file_lists_every_problem(engine: Engine) -> None:
    with pytest.raises(DataFileError) as raised:
        services(engine).projects.import_projects(ORG, FIXTURES / "projects" / "bad.csv", by="perf")
    found = {(p.line, p.field) for p in raised.value.problems}
    assert {(1, "colour"), (2, "due"), (3, "title"), (4, "project"), (5, "project")} <= found
    assert services(engine).projects.projects(ORG) == []


# -- what was reported stays reported -------------------------------------------------------


def test_report_frozen_at_signoff_then_restated(
    perf: Performance, engine: Engine, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "PLA-01", 70, by="sm_planning")
    perf.record_actual(CYCLE, "WAS-01", 53, by="sm_waste")
    to_signoff(engine)
    assert report.gather(services(engine), CYCLE).frozen is None
    engine.fire(CYCLE, "sign_off", "lead")
    frozen = report.gather(services(engine), CYCLE)
    assert frozen.frozen is not None and frozen.frozen.by == "lead"
    assert report.verify_frozen(perf, CYCLE) == frozen.frozen.sha256
    with engine.store.read() as s:
        logged = s.scalar(select(AuditEntry.data).where(AuditEntry.event == "report.frozen"))
    assert logged is not None and json.loads(logged)["sha256"] == frozen.frozen.sha256

    with pytest.raises(PmfError, match="restatement"):
        perf.record_actual(CYCLE, "WAS-01", 49, by="perf")
    with pytest.raises(PmfError, match="needs a reason"):
        perf.restate(CYCLE, "WAS-01", 49, reason=" ", by="perf")
    clock.advance(timedelta(days=20))
    perf.restate(CYCLE, "WAS-01", 49, reason="Contractor tonnage corrected", by="perf")

    again = report.gather(services(engine), CYCLE)
    was = next(m for m in again.content.measures if m.code == "WAS-01")
    assert (was.actual, was.rag.status) == (53, "green"), "the frozen report still says what it said"
    assert report.html(again) == report.html(frozen), "rebuilt from the snapshot, byte for byte"
    assert next(m for m in perf.status(CYCLE) if m.code == "WAS-01").restated

    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    later = report.gather(services(engine), f"{ORG}/2024-25-Q2")
    assert [(r.code, r.period, r.previous, r.value) for r in later.restatements] == [
        ("WAS-01", "2024-25-Q1", 53, 49)
    ]
    assert "Contractor tonnage corrected" in report.html(later)


def test_frozen_report_cannot_be_edited_in_the_database(perf: Performance, engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    to_signoff(engine)
    engine.fire(CYCLE, "sign_off", "lead")
    with pytest.raises(DBAPIError, match="append-only"), engine.store.engine.begin() as conn:
        conn.execute(text("UPDATE report_snapshots SET content = '{}'"))
    with engine.store.read() as s:
        assert s.scalar(select(ReportSnapshot.content)) != "{}"
    assert report.verify_frozen(perf, CYCLE)


def test_a_refused_signoff_freezes_nothing(perf: Performance, engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    perf.record_actual(CYCLE, "WAS-01", 30, narrative="Strike", by="sm_waste")
    to_signoff(engine)
    with pytest.raises(GuardFailed):
        engine.fire(CYCLE, "sign_off", "lead")
    with engine.store.read() as s:
        assert s.scalar(select(ReportSnapshot.id)) is None
    with pytest.raises(PmfError, match="not been frozen"):
        report.verify_frozen(perf, CYCLE)


# -- Scrutiny actions -----------------------------------------------------------------------


def at(when: str) -> datetime:
    return datetime.fromisoformat(when).replace(tzinfo=LONDON)


def test_scrutiny_actions_raised_chased_and_closed(
    perf: Performance, engine: Engine, clock: ManualClock
) -> None:
    actions = services(engine).actions
    clock.set(at("2024-07-01 09:00"))
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with pytest.raises(PmfError, match="raised at Scrutiny"):
        actions.add(CYCLE, "Explain the voids", assignee="sm_housing", due="2024-10-31", by="scrutiny")
    to_signoff(engine)
    engine.fire(CYCLE, "sign_off", "lead")
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/7"})
    clock.set(at("2024-09-24 19:00"))
    with pytest.raises(PermissionDenied):
        actions.add(CYCLE, "Explain", assignee="sm_housing", due="2024-10-31", by="sm_waste")
    with pytest.raises(NotFound):
        actions.add(CYCLE, "Explain", assignee="sm_housing", due="2024-10-31", by="scrutiny", link="NOPE")
    with pytest.raises(PmfError, match="in the past"):
        actions.add(CYCLE, "Explain", assignee="sm_housing", due="2024-09-01", by="scrutiny")
    first = actions.add(
        CYCLE, "Report on re-let times", assignee="sm_housing", due="2024-10-15", by="scrutiny", link="HOU-01"
    )
    second = actions.add(
        CYCLE, "Brief members on recycling", assignee="sm_waste", due="2024-12-02", by="scrutiny"
    )
    assert (first.key, second.key) == (f"{CYCLE}/SA-1", f"{CYCLE}/SA-2")
    assert (first.state, first.link, first.raised_by) == ("open", "HOU-01", "scrutiny")
    engine.fire(CYCLE, "conclude", "scrutiny")

    worker = make_worker(engine.store, engine.catalog, clock, worker_id="w1")
    day = at("2024-09-25 00:00")
    while day < at("2024-10-25 00:00"):
        for hour in (9, 15):
            clock.set(day + timedelta(hours=hour))
            worker.tick(LogChannel())
        day += timedelta(days=1)
    with engine.store.read() as s:
        sent = s.execute(select(OutboxMessage.recipient, OutboxMessage.subject)).all()
    to_housing = [subject for who, subject in sent if who == "sm_housing"]
    assert len(to_housing) >= 3 and all("SA-1" in s for s in to_housing), "reminded, then chased"
    assert any(who == "scrutiny" for who, _ in sent), "the scrutiny officer hears it is late"
    assert not any(who == "sm_waste" for who, _ in sent), "SA-2 is not due yet"
    assert actions.get(first.key).overdue

    with pytest.raises(GuardFailed):
        actions.close(first.key, note="", by="scrutiny")
    with pytest.raises(PermissionDenied):
        actions.close(first.key, note="Done", by="sm_housing")  # the assignee reports; Scrutiny closes
    closed = actions.close(first.key, note="Report taken at the October meeting", by="scrutiny")
    assert (closed.state, closed.note, closed.closed_by, closed.overdue) == (
        "closed",
        "Report taken at the October meeting",
        "scrutiny",
        False,
    )
    assert [a.key for a in actions.list_for(ORG, state="open")] == [second.key]
    html = report.html(report.gather(services(engine), CYCLE))
    assert "Report taken at the October meeting" in html and "Brief members on recycling" in html
    with engine.store.read() as s:
        events = list(s.scalars(select(AuditEntry.event).where(AuditEntry.instance == first.key)))
    assert events[0] == "child.started" and "fired" in events and "escalation.fired" in events
