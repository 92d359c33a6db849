"""Administration of a running council: taking a role away, a leaver handing over their work,
cancelling or deleting a meeting, cancelling a cycle, and the committee names a meeting may
have. Every change is atomic and audited."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.definition import CANCELLED
from pmf_engine.core.directory import Grant
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import (
    InvalidInput,
    NotFound,
    NotNow,
    PermissionDenied,
    TransitionNotAllowed,
)
from pmf_engine.core.store import Actor, AuditEntry, Deadline, Instance, Meeting, OutboxMessage, Step
from tests.conftest import CYCLE, ORG, SERVICES, services, settle_returns


def at(when: str) -> datetime:
    return datetime.fromisoformat(when).replace(tzinfo=LONDON)


def _events(engine: Engine, event: str) -> list[AuditEntry]:
    with engine.store.read() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.event == event).order_by(AuditEntry.seq)))


def _held(engine: Engine, username: str) -> set[tuple[str, str, str | None]]:
    return {
        (a.role, a.organisation, a.service)
        for person, held in engine.directory.actors()
        if person.username == username
        for a in held
    }


def _verified(engine: Engine) -> None:
    with engine.store.read() as s:
        assert audit.verify(s).ok


# -- roles and leavers ----------------------------------------------------------------------


def test_revoke_takes_a_role_away_audited(engine: Engine) -> None:
    """The role goes, the audit log says who took it and why; revoking a role not held is
    ``NotFound`` and writes nothing."""
    engine.directory.revoke("both", "performance_officer", ORG, by="system", reason="moved to Housing only")
    assert _held(engine, "both") == {("service_manager", ORG, "HOUSING")}
    (entry,) = _events(engine, "role.revoked")
    assert (entry.actor, entry.reason, entry.organisation) == ("system", "moved to Housing only", ORG)
    assert '"username":"both"' in entry.data
    with pytest.raises(NotFound, match="both performance_officer@TDC"):
        engine.directory.revoke("both", "performance_officer", ORG, by="system")
    with pytest.raises(InvalidInput, match="name the service"):
        engine.directory.revoke("both", "service_manager", ORG, by="system")
    assert len(_events(engine, "role.revoked")) == 1
    with pytest.raises(PermissionDenied):  # the role no longer lets them act
        engine.start_cycle(ORG, "2024-25-Q1", by="both")


def test_a_leaver_hands_over_roles_reminders_and_actions(engine: Engine, clock: ManualClock) -> None:
    """Deactivating Housing's service manager with a handover: the successor holds the role,
    the reminders still to come go to them, the leaver's open Scrutiny action is theirs (a
    versioned change), and the leaver can no longer act; one transaction, each part audited."""
    engine.directory.add_actor("newhousing", "New Housing Manager", by="system")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with engine.store.read() as s:
        pending = [
            r for r in s.scalars(select(Step.recipients).where(Step.status == "pending")) if "sm_housing" in r
        ]
    assert pending, "Housing's return reminds its service manager"
    actions = services(engine).actions
    settle_returns(engine)
    for trigger, who in (("close_data_request", "perf"), ("complete_service_review", "perf")):
        engine.fire(CYCLE, trigger, who)
    engine.fire(CYCLE, "endorse", "cmt")
    engine.fire(CYCLE, "sign_off", "lead")
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/1"})
    action = actions.add(CYCLE, "Explain the voids", assignee="sm_housing", due="2024-10-31", by="scrutiny")
    version_before = engine.peek(action.key)[1]

    with pytest.raises(NotNow, match=r"assignee of open work \(TDC/2024-25-Q1/SA-1\)"):
        engine.directory.deactivate("sm_housing", by="system")
    with engine.store.read() as s:
        assert s.scalar(select(Actor.active).where(Actor.username == "sm_housing")), "nothing changed"

    done = engine.directory.deactivate("sm_housing", by="system", handover="newhousing", reason="left")
    assert (done.roles_revoked, done.roles_given, done.reassigned) == (1, 1, (action.key,))
    assert done.steps_redirected >= 1
    assert _held(engine, "newhousing") == {("service_manager", ORG, "HOUSING")}
    assert _held(engine, "sm_housing") == set()
    assert actions.get(action.key).assignee == "newhousing"
    assert engine.peek(action.key)[1] == version_before + 1
    with engine.store.read() as s:
        recipients = list(s.scalars(select(Step.recipients).where(Step.status == "pending")))
        assert not any("sm_housing" in r for r in recipients)
        assert any("newhousing" in r for r in recipients)
        assert not s.scalar(select(Actor.active).where(Actor.username == "sm_housing"))
    assert [e.instance for e in _events(engine, "instance.reassigned")] == [action.key]
    (entry,) = _events(engine, "actor.deactivated")
    assert '"handover":"newhousing"' in entry.data and entry.reason == "left"
    with pytest.raises(NotNow, match="deactivated already"):
        engine.directory.deactivate("sm_housing", by="system", handover="newhousing")
    with pytest.raises(InvalidInput, match="someone else"):
        engine.directory.deactivate("perf", by="system", handover="perf")

    # The reminders of the action now go to the successor, not the leaver.
    worker = make_worker(engine.store, engine.catalog, clock, worker_id="w1")
    day = at("2024-10-20 00:00")
    while day < at("2024-11-10 00:00"):
        clock.set(day + timedelta(hours=9))
        worker.tick(LogChannel())
        day += timedelta(days=1)
    with engine.store.read() as s:
        sent = {who for (who,) in s.execute(select(OutboxMessage.recipient))}
    assert "newhousing" in sent and "sm_housing" not in sent
    _verified(engine)


def test_the_last_administrator_cannot_be_taken_away(engine: Engine) -> None:
    """Revoking or deactivating the one holder of people.manage would leave nobody able to grant
    a role again: refused, nothing changed; with a handover (or a second one) it is allowed."""
    engine.directory.add_actor("admin", "Admin", grants=[Grant("administrator", ORG)], by="system")
    with pytest.raises(NotNow, match=r"nobody would be left holding people\.manage in TDC"):
        engine.directory.revoke("admin", "administrator", ORG, by="system")
    with pytest.raises(NotNow, match="nobody would be left"):
        engine.directory.deactivate("admin", by="system")
    assert _held(engine, "admin") == {("administrator", ORG, None)}
    assert _events(engine, "role.revoked") == []
    engine.directory.deactivate("admin", by="system", handover="perf")
    assert ("administrator", ORG, None) in _held(engine, "perf")


def test_deactivating_to_a_deactivated_or_unknown_actor_is_refused(engine: Engine) -> None:
    engine.directory.deactivate("perf2", by="system")
    with pytest.raises(InvalidInput, match="deactivated"):
        engine.directory.deactivate("sm_waste", by="system", handover="perf2")
    with pytest.raises(NotFound):
        engine.directory.deactivate("sm_waste", by="system", handover="nobody")
    assert _held(engine, "sm_waste") == {("service_manager", ORG, "WASTE")}


# -- cancelling a cycle ---------------------------------------------------------------------


def test_a_cancelled_cycle_stops_chasing_and_refuses_every_trigger(
    engine: Engine, clock: ManualClock
) -> None:
    """The cycle and its open returns go to Cancelled, each audited with the reason; their
    deadlines are closed, no reminder is sent afterwards, and nothing fires from there."""
    framework = services(engine)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    with pytest.raises(InvalidInput, match="needs a reason"):
        framework.cancellation.cancel(CYCLE, by="system", reason="  ")
    with pytest.raises(NotNow, match="part of a cycle"):
        framework.cancellation.cancel(f"{CYCLE}/WASTE", by="system", reason="x")

    # A reminder fired in the evening waits in the outbox for the morning's sending hours.
    worker = make_worker(engine.store, engine.catalog, clock, worker_id="w1")
    clock.set(at("2024-07-05 20:00"))
    worker.tick(LogChannel())
    with engine.store.read() as s:
        waiting = s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
    assert waiting

    done = framework.cancellation.cancel(CYCLE, by="system", reason="started for the wrong quarter")
    assert done.instances == (CYCLE, f"{CYCLE}/PLANNING", f"{CYCLE}/WASTE")  # HOUSING had ended
    assert done.messages_withdrawn == waiting
    status = engine.status(CYCLE)
    assert (status.state, status.state_label, status.terminal, status.next_steps) == (
        CANCELLED,
        "Cancelled",
        True,
        (),
    )
    by_service = {c.service: (c.state, c.terminal) for c in status.children}
    assert by_service == {
        "HOUSING": ("accepted", True),
        "PLANNING": (CANCELLED, True),
        "WASTE": (CANCELLED, True),
    }
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Deadline).where(Deadline.closed_at.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(Step).where(Step.status == "pending")) == 0
        context = s.scalar(select(Instance.context).where(Instance.key == CYCLE))
    assert context is not None and context["cancelled"]["from"] == "data_request"
    cancelled = _events(engine, "cancelled")
    assert [e.instance for e in cancelled] == list(done.instances)
    assert {e.reason for e in cancelled} == {"started for the wrong quarter"}
    with pytest.raises(TransitionNotAllowed):
        engine.fire(f"{CYCLE}/WASTE", "submit", "sm_waste")
    with pytest.raises(TransitionNotAllowed):
        engine.fire(CYCLE, "close_data_request", "perf")
    with pytest.raises(NotNow, match="has ended"):
        framework.cancellation.cancel(CYCLE, by="system", reason="again")

    for days in range(1, 40, 2):
        clock.set(at("2024-07-05 09:00") + timedelta(days=days))
        worker.tick(LogChannel())
    with engine.store.read() as s:
        statuses = set(s.scalars(select(OutboxMessage.status)))
    assert statuses == {"cancelled"}, "nothing sent after the cancellation"
    _verified(engine)


def test_cancelling_with_a_stale_version_changes_nothing(engine: Engine) -> None:
    from pmf_engine.core.errors import ConcurrencyConflict

    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with pytest.raises(ConcurrencyConflict):
        services(engine).cancellation.cancel(CYCLE, by="system", reason="x", expected_version=99)
    assert engine.status(CYCLE).state == "data_request"


# -- meetings ---------------------------------------------------------------------------------


def _to_cmt_review(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")


@pytest.mark.parametrize("cancelled", [True, False], ids=["cancel", "delete"])
def test_a_withdrawn_meeting_moves_its_deadlines_to_the_next(engine: Engine, cancelled: bool) -> None:
    """CMT's July meeting is cancelled (or was entered by mistake): the CMT review deadline
    moves to its August meeting, the cycle forgets the pin, and the meeting's details stay in
    the audit log."""
    calendar = services(engine).calendar
    first = calendar.add(ORG, "cmt", at("2024-07-23 10:00"), by="perf")
    calendar.add(ORG, "cmt", at("2024-08-20 10:00"), by="perf")
    _to_cmt_review(engine)
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None and deadline.due_at is not None
    assert deadline.due_at.astimezone(LONDON).date().isoformat() == "2024-07-24"
    with pytest.raises(InvalidInput, match="needs a reason"):
        calendar.withdraw(ORG, str(first.id), by="perf", cancelled=True)

    count = calendar.withdraw(
        ORG, first.uid, by="perf", reason="no quorum" if cancelled else None, cancelled=cancelled
    )
    assert count == 1
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None and deadline.due_at is not None
    assert deadline.due_at.astimezone(LONDON).date().isoformat() == "2024-08-21"
    with engine.store.read() as s:
        assert s.get(Meeting, first.id) is None
        context = s.scalar(select(Instance.context).where(Instance.key == CYCLE))
    assert context is not None and first.id not in context.get("meetings", {}).values()
    (entry,) = _events(engine, "meeting.cancelled" if cancelled else "meeting.deleted")
    assert '"starts_at":"2024-07-23T09:00:00.000000Z"' in entry.data and CYCLE in entry.data
    with pytest.raises(NotFound):
        calendar.withdraw(ORG, str(first.id), by="perf", reason="x")
    _verified(engine)


def test_a_misspelt_committee_is_refused_with_a_suggestion(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``cabnet`` is not one of ``calendar.bodies``: refused by name, with the nearest, in a
    single add and in a file (which then imports nothing)."""
    calendar = services(engine).calendar
    with pytest.raises(InvalidInput, match=r"did you mean 'cabinet'\? the committees are cabinet, cmt"):
        calendar.add(ORG, "cabnet", at("2024-09-11 18:00"), by="perf")
    path = tmp_path / "meetings.csv"
    path.write_text("body,starts\ncabinet,2024-09-11 18:00\ncabnet,2024-10-11 18:00\n")
    from pmf_engine.core.errors import DataFileError

    with pytest.raises(DataFileError) as refused:
        calendar.import_file(ORG, path, by="perf")
    (problem,) = refused.value.problems
    assert (problem.line, problem.field) == (3, "row 3") and "did you mean 'cabinet'" in problem.message
    assert calendar.list(ORG) == []


def test_services_listed_in_order(engine: Engine) -> None:
    assert [s.code for s in engine.directory.services(ORG)] == sorted(SERVICES)
    ((org, service_count, people),) = engine.directory.organisations()
    assert (org.code, service_count, people) == (ORG, 3, 13)
    with pytest.raises(NotFound):
        engine.directory.services("NOPE")
