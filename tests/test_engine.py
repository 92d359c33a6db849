"""The engine on SQLite and a real PostgreSQL: whole cycles, ways back, refusals, atomicity."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pmf_engine.core import audit
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import (
    ConcurrencyConflict,
    GuardFailed,
    NotFound,
    PermissionDenied,
    PmfError,
    TransitionNotAllowed,
    UnknownTrigger,
)
from pmf_engine.core.store import AuditEntry, Instance
from tests.conftest import ORG, SERVICES, settle_returns


def audit_count(engine: Engine) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_start_spawns_one_return_per_service(engine: Engine, cycle: str) -> None:
    status = engine.status(cycle)
    assert status.state == "data_request"
    assert [c.service for c in status.children] == sorted(SERVICES)
    assert {c.state for c in status.children} == {"requested"}
    assert status.workflow.startswith("quarterly_cycle@")


def test_whole_cycle_end_to_end(engine: Engine, cycle: str, clock: ManualClock) -> None:
    settle_returns(engine)
    path = [
        ("close_data_request", "perf", {}, "service_review"),
        ("complete_service_review", "perf", {}, "cmt_review"),
        ("endorse", "holder", {}, "leadership_signoff"),
        ("sign_off", "lead", {}, "cabinet_approval"),
        ("approve", "clerk", {"minute_reference": "CAB/1"}, "scrutiny"),
        ("conclude", "scrutiny", {}, "closed"),
    ]
    for trigger, actor, data, expected in path:
        clock.advance(timedelta(days=3))
        fired = engine.fire(cycle, trigger, actor, data=data)
        assert fired.to_state == expected
    status = engine.status(cycle)
    assert status.terminal and status.next_steps == ()
    with engine.store.read() as s:
        fired_triggers = [
            e.trigger for e in audit.trail(s, cycle) if e.event == "fired" and e.instance == cycle
        ]
        assert fired_triggers == [p[0] for p in path]
        assert audit.verify(s).ok


@pytest.mark.parametrize(
    ("setup", "trigger", "actor", "extra", "back_to"),
    [
        (
            ["close_data_request", "complete_service_review"],
            "return_to_services",
            "cmt",
            {},
            "service_review",
        ),
        (
            ["close_data_request", "complete_service_review", "endorse"],
            "return_to_cmt",
            "lead",
            {},
            "cmt_review",
        ),
        (
            ["close_data_request", "complete_service_review", "endorse", "sign_off"],
            "defer",
            "clerk",
            {"next_meeting": "2024-10-09"},
            "cabinet_approval",
        ),
        (
            ["close_data_request", "complete_service_review", "endorse", "sign_off", "approve"],
            "refer_back",
            "scrutiny",
            {},
            "cabinet_approval",
        ),
    ],
)
def test_each_way_back(
    engine: Engine,
    cycle: str,
    setup: list[str],
    trigger: str,
    actor: str,
    extra: dict[str, str],
    back_to: str,
) -> None:
    settle_returns(engine)
    by = {
        "close_data_request": "perf",
        "complete_service_review": "perf",
        "endorse": "cmt",
        "sign_off": "lead",
        "approve": "clerk",
    }
    for step in setup:
        engine.fire(cycle, step, by[step], data={"minute_reference": "CAB/9"} if step == "approve" else None)
    fired = engine.fire(cycle, trigger, actor, reason="needs more work", data=extra)
    assert fired.to_state == back_to
    status = engine.status(cycle)
    assert status.state == back_to
    if trigger == "defer":
        with engine.store.read() as s:
            inst = s.scalar(select(Instance).where(Instance.key == cycle))
            assert inst is not None and inst.context["next_meeting"] == "2024-10-09"


def test_return_for_correction_and_resubmit(engine: Engine, cycle: str) -> None:
    ret = f"{cycle}/HOUSING"
    engine.fire(ret, "submit", "sm_housing")
    engine.fire(ret, "return_for_correction", "perf", reason="figures missing")
    assert engine.status(ret).state == "returned"
    engine.fire(ret, "submit", "sm_housing")
    assert engine.fire(ret, "accept", "perf").to_state == "accepted"


def test_join_guard_holds_until_every_return_is_settled(engine: Engine, cycle: str) -> None:
    engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{cycle}/HOUSING", "accept", "perf")
    engine.fire(f"{cycle}/PLANNING", "waive", "perf", reason="service restructured")
    with pytest.raises(GuardFailed) as refused:
        engine.fire(cycle, "close_data_request", "perf")
    assert refused.value.guard == "children_settled"
    assert "WASTE (Requested)" in refused.value.why and "HOUSING" not in refused.value.why  # by its label
    engine.fire(f"{cycle}/WASTE", "submit", "sm_waste")
    engine.fire(f"{cycle}/WASTE", "accept", "perf")
    assert engine.fire(cycle, "close_data_request", "perf").to_state == "service_review"


def test_unknown_trigger_names_the_known_ones(engine: Engine, cycle: str) -> None:
    with pytest.raises(UnknownTrigger) as refused:
        engine.fire(cycle, "publish", "perf")
    assert "close_data_request" in refused.value.known


def test_not_allowed_lists_what_is_allowed(engine: Engine, cycle: str) -> None:
    with pytest.raises(TransitionNotAllowed) as refused:
        engine.fire(cycle, "sign_off", "lead")
    assert refused.value.allowed == ("close_data_request",)
    assert "allowed: close_data_request" in str(refused.value)


def test_wrong_role_refused_with_rule(engine: Engine, cycle: str) -> None:
    engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")
    with pytest.raises(PermissionDenied) as refused:
        engine.fire(f"{cycle}/HOUSING", "accept", "sm_housing")
    assert "needs one of performance_officer" in refused.value.rule


def test_service_scope_refused(engine: Engine, cycle: str) -> None:
    with pytest.raises(PermissionDenied) as refused:
        engine.fire(f"{cycle}/PLANNING", "submit", "sm_housing")
    assert refused.value.rule.startswith("scope:")
    assert "PLANNING" in refused.value.rule


def test_submitter_cannot_accept_own_return(engine: Engine, cycle: str) -> None:
    engine.fire(f"{cycle}/HOUSING", "submit", "both")
    with pytest.raises(PermissionDenied) as refused:
        engine.fire(f"{cycle}/HOUSING", "accept", "both")
    assert "return_maker_checker" in refused.value.rule
    assert engine.fire(f"{cycle}/HOUSING", "accept", "perf").to_state == "accepted"


def test_signoff_giver_cannot_record_cabinet_approval(engine: Engine, cycle: str) -> None:
    settle_returns(engine)
    for trigger, actor in [
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
    ]:
        engine.fire(cycle, trigger, actor)
    engine.fire(cycle, "sign_off", "lead_clerk")
    with pytest.raises(PermissionDenied) as refused:
        engine.fire(cycle, "approve", "lead_clerk", data={"minute_reference": "CAB/2"})
    assert "signoff_not_approval" in refused.value.rule
    assert engine.fire(cycle, "approve", "clerk", data={"minute_reference": "CAB/2"}).to_state == "scrutiny"


def test_read_only_and_unknown_actors_refused(engine: Engine, cycle: str) -> None:
    with pytest.raises(PermissionDenied):
        engine.fire(f"{cycle}/HOUSING", "submit", "auditor")
    with pytest.raises(PermissionDenied) as refused:
        engine.fire(f"{cycle}/HOUSING", "submit", "mallory")
    assert refused.value.rule == "no such actor"


def test_reason_and_fields_required(engine: Engine, cycle: str) -> None:
    engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")
    with pytest.raises(GuardFailed) as no_reason:
        engine.fire(f"{cycle}/HOUSING", "return_for_correction", "perf", reason="   ")
    assert no_reason.value.guard == "reason"
    settle = [("PLANNING", "sm_planning"), ("WASTE", "sm_waste")]
    engine.fire(f"{cycle}/HOUSING", "accept", "perf")
    for svc, who in settle:
        engine.fire(f"{cycle}/{svc}", "submit", who)
        engine.fire(f"{cycle}/{svc}", "accept", "perf")
    for trigger, actor in [
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
        ("sign_off", "lead"),
    ]:
        engine.fire(cycle, trigger, actor)
    with pytest.raises(GuardFailed) as no_field:
        engine.fire(cycle, "defer", "clerk", reason="agenda full")
    assert no_field.value.guard == "fields" and "next_meeting" in no_field.value.why


def test_refusal_is_audited_and_changes_nothing(engine: Engine, cycle: str) -> None:
    before = engine.status(f"{cycle}/HOUSING")
    with pytest.raises(PermissionDenied):
        engine.fire(f"{cycle}/HOUSING", "submit", "sm_planning", reason="trying")
    after = engine.status(f"{cycle}/HOUSING")
    assert (after.state, after.version) == (before.state, before.version)
    with engine.store.read() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        assert (last.event, last.actor, last.trigger, last.instance) == (
            "refused",
            "sm_planning",
            "submit",
            f"{cycle}/HOUSING",
        )
        assert "scope" in last.data and last.reason == "trying"
        assert audit.verify(s).ok


def test_stale_version_conflict_writes_nothing(engine: Engine, cycle: str) -> None:
    ret = f"{cycle}/HOUSING"
    seen = engine.status(ret).version
    engine.fire(ret, "submit", "sm_housing", expected_version=seen)
    entries = audit_count(engine)
    with pytest.raises(ConcurrencyConflict) as conflict:
        engine.fire(ret, "waive", "perf", reason="x", expected_version=seen)
    assert (conflict.value.expected, conflict.value.actual) == (seen, seen + 1)
    assert audit_count(engine) == entries
    assert engine.status(ret).state == "submitted"


def test_two_sessions_race_on_one_version_one_wins(engine: Engine, cycle: str) -> None:
    """Both read version N, then fire at once: exactly one wins, the loser writes nothing."""
    ret = f"{cycle}/HOUSING"
    engine.fire(ret, "submit", "sm_housing")
    seen = engine.status(ret).version
    entries = audit_count(engine)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(trigger: str, reason: str | None) -> None:
        barrier.wait()
        try:
            engine.fire(ret, trigger, "perf", reason=reason, expected_version=seen)
            outcomes.append(trigger)
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=attempt, args=("accept", None)),
        threading.Thread(target=attempt, args=("return_for_correction", "late figures")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("conflict") == 1
    winner = next(o for o in outcomes if o != "conflict")
    assert engine.status(ret).version == seen + 1
    # the winner's entry; an accept also records that it was accepted unsigned (no head of service)
    assert audit_count(engine) == entries + (2 if winner == "accept" else 1)
    with engine.store.read() as s:
        last = s.scalars(
            select(AuditEntry).where(AuditEntry.event == "fired").order_by(AuditEntry.seq.desc()).limit(1)
        ).one()
        assert last.trigger == winner


def test_failure_after_state_change_rolls_everything_back(
    engine: Engine, cycle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ret = f"{cycle}/HOUSING"
    entries = audit_count(engine)

    def broken_append(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        engine.fire(ret, "submit", "sm_housing")
    monkeypatch.undo()
    status = engine.status(ret)
    assert (status.state, status.version) == ("requested", 1)
    assert audit_count(engine) == entries


def test_start_cycle_rules(engine: Engine) -> None:
    with pytest.raises(PermissionDenied):
        engine.start_cycle(ORG, "2024-25-Q2", by="sm_housing")
    with pytest.raises(ValueError, match="not a period"):
        engine.start_cycle(ORG, "2024-Q2", by="perf", workflow="quarterly_cycle")
    with pytest.raises(ValueError, match="name the workflow to start"):  # a quarter's and a year's
        engine.start_cycle(ORG, "2024-Q2", by="perf")
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    with pytest.raises(PmfError, match="already exists"):
        engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    with pytest.raises(NotFound):
        engine.fire("TDC/2030-31-Q1", "close_data_request", "perf")


def test_organisations_are_isolated(engine: Engine, cycle: str) -> None:
    """A role in one council gives nothing in another sharing the deployment."""
    engine.directory.add_organisation("OTH", "Other Council")
    engine.directory.add_service("OTH", "HOUSING", "Housing")
    engine.directory.add_actor("other_perf", "Other")
    engine.directory.grant("other_perf", "performance_officer", "OTH")
    with pytest.raises(PermissionDenied):
        engine.fire(f"{cycle}/HOUSING", "waive", "other_perf", reason="not mine")
    engine.start_cycle("OTH", "2024-25-Q1", by="other_perf")
    with engine.store.read() as s:
        report = audit.verify(s)
    assert report.ok and {ORG, "OTH", audit.SYSTEM_CHAIN} <= set(report.chains)


@pytest.mark.parametrize(
    ("kind", "value"), [("org", "A/B"), ("org", ""), ("service", "has space"), ("actor", "a/b")]
)
def test_codes_that_would_break_keys_are_refused(engine: Engine, kind: str, value: str) -> None:
    add = {
        "org": lambda: engine.directory.add_organisation(value, "X"),
        "service": lambda: engine.directory.add_service(ORG, value, "X"),
        "actor": lambda: engine.directory.add_actor(value, "X"),
    }[kind]
    with pytest.raises(PmfError, match="must be letters"):
        add()


def test_unknown_bank_holiday_nation_refused(engine: Engine) -> None:
    with pytest.raises(PmfError, match="subdivision 'XX'"):
        engine.directory.add_organisation("NEW", "New Council", subdivision="XX")
