"""Deadlines, reminders and escalations on SQLite and PostgreSQL, on an injected clock:
a quarter simulated day by day, meetings moved, workers down for an hour and for days,
leases that run out."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.clock import LONDON, ManualClock, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, Instance, OutboxMessage, Step
from pmf_engine.core.worker import Worker
from pmf_engine.pmf.meetings import CommitteeCalendar
from tests.conftest import CYCLE, ORG, settle_returns

MEETINGS = [
    ("cmt", "2024-07-23 10:00"),
    ("leadership", "2024-08-05 10:00"),
    ("cabinet", "2024-08-14 18:00"),
    ("cabinet", "2024-09-11 18:00"),
    ("scrutiny", "2024-09-24 19:00"),
    ("cmt", "2024-10-22 10:00"),
    ("leadership", "2024-11-04 10:00"),
    ("cabinet", "2024-11-13 18:00"),
    ("scrutiny", "2024-11-26 19:00"),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.fixture
def calendar(engine: Engine) -> CommitteeCalendar:
    cal = CommitteeCalendar(engine)
    for body, when in MEETINGS:
        cal.add(ORG, body, at(when))
    return cal


@pytest.fixture
def worker(engine: Engine, clock: ManualClock) -> Worker:
    return make_worker(engine.store, engine.catalog, clock, worker_id="w1", batch=50)


def _instance_id(engine: Engine, key: str) -> int:
    with engine.store.read() as s:
        return int(s.execute(select(Instance.id).where(Instance.key == key)).scalar_one())


def steps(engine: Engine, status: str | None = None) -> list[Step]:
    with engine.store.read() as s:
        query = select(Step).order_by(Step.id)
        if status:
            query = query.where(Step.status == status)
        return list(s.scalars(query))


def count(engine: Engine, model: type, *where: object) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_entering_a_state_writes_its_deadline_and_steps(
    engine: Engine, calendar: CommitteeCalendar, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    status = engine.status(CYCLE)
    assert status.deadline is not None
    assert status.deadline.due_at == at("2024-07-12 17:00")
    housing = engine.status(f"{CYCLE}/HOUSING")
    assert housing.deadline is not None and housing.deadline.next_step == (
        "reminder",
        1,
        at("2024-07-05 08:00"),
    )
    mine = [s for s in steps(engine) if s.instance_id == _instance_id(engine, f"{CYCLE}/HOUSING")]
    assert [(s.kind, s.rung) for s in mine] == [
        ("reminder", 1),
        ("reminder", 2),
        ("escalation", 1),
        ("escalation", 2),
        ("escalation", 3),
    ]
    assert mine[0].recipients == ["both", "sm_housing"]  # whoever may submit HOUSING's return
    assert mine[3].recipients == ["both", "cmt", "perf", "perf2"]  # performance officers and CMT


def test_leaving_a_state_cancels_its_steps(engine: Engine, calendar: CommitteeCalendar) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    housing = _instance_id(engine, f"{CYCLE}/HOUSING")
    by_status = Counter((s.status) for s in steps(engine) if s.instance_id == housing)
    assert by_status == {"cancelled": 5, "pending": 4}  # 'submitted' has one reminder, three escalations


def test_a_quarter_on_the_clock(
    engine: Engine, calendar: CommitteeCalendar, worker: Worker, clock: ManualClock
) -> None:
    """Q1 2024-25 run day by day: reminders before each stage, an escalation when a return is
    late, nothing sent outside sending hours or on the August bank holiday."""
    clock.set(at("2024-07-01 09:00"))
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    plan = {
        "2024-07-10": [("HOUSING", "submit", "sm_housing"), ("PLANNING", "submit", "sm_planning")],
        "2024-07-11": [("HOUSING", "accept", "perf"), ("PLANNING", "accept", "perf")],
        "2024-07-18": [
            ("WASTE", "submit", "sm_waste"),
            ("WASTE", "accept", "perf"),
            (None, "close_data_request", "perf"),
        ],
        "2024-07-19": [(None, "complete_service_review", "perf")],
        "2024-07-22": [(None, "endorse", "cmt")],
        "2024-08-02": [(None, "sign_off", "lead")],
        "2024-08-14": [(None, "approve", "clerk")],
    }
    day = at("2024-07-01 00:00")
    while day < at("2024-09-01 00:00"):
        for hour in range(0, 24, 3):
            clock.set(day + timedelta(hours=hour))
            if hour == 12:
                for service, trigger, actor in plan.get(day.date().isoformat(), []):
                    key = f"{CYCLE}/{service}" if service else CYCLE
                    data = {"minute_reference": "CAB/1"} if trigger == "approve" else None
                    engine.fire(key, trigger, actor, data=data)
            worker.tick(LogChannel())
        day += timedelta(days=1)

    with engine.store.read() as s:
        sent_at = list(s.scalars(select(OutboxMessage.sent_at)))
    assert sent_at and all(sent_at), "every message was delivered"
    for when in sent_at:
        assert when is not None
        local = london(when)
        assert local.weekday() < 5 and 8 <= local.hour < 18, local
        assert local.date().isoformat() != "2024-08-26", "not on the bank holiday"
    with engine.store.read() as s:
        fired = list(
            s.scalars(select(AuditEntry).where(AuditEntry.event.in_(("reminder.fired", "escalation.fired"))))
        )
    waste = [e for e in fired if e.event == "escalation.fired" and e.instance == f"{CYCLE}/WASTE"]
    assert len(waste) == 2  # due 12 July, in on the 18th: escalated on the day and 3 working days later
    housing = [e for e in fired if e.instance == f"{CYCLE}/HOUSING"]
    assert [e.event for e in housing] == ["reminder.fired"]  # submitted on the 10th: only the 5-day reminder
    assert engine.status(CYCLE).state == "scrutiny"
    scrutiny = engine.status(CYCLE).deadline
    assert scrutiny is not None and scrutiny.due_at == at("2024-09-26 17:00")  # meeting + 2 working days


def test_late_working_days_and_rung_in_status(
    engine: Engine, calendar: CommitteeCalendar, worker: Worker, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    clock.set(at("2024-07-19 12:00"))  # a week after the 12 July deadline
    worker.sweep()
    housing = engine.status(f"{CYCLE}/HOUSING")
    assert housing.deadline is not None
    assert housing.deadline.late_working_days == 5
    assert housing.deadline.escalation_rung == 3


def test_moving_a_meeting_moves_its_deadlines(
    engine: Engine, calendar: CommitteeCalendar, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    for trigger in ("close_data_request", "complete_service_review"):
        engine.fire(CYCLE, trigger, "perf")
    before = engine.status(CYCLE).deadline
    assert before is not None and before.due_at == at("2024-07-24 17:00")  # cmt (23 July) + 1 working day
    cmt = next(m for m in calendar.list(ORG, "cmt"))
    recomputed = calendar.move(ORG, str(cmt.id), at("2024-07-30 10:00"), by="perf", reason="room clash")
    assert recomputed == 1
    after = engine.status(CYCLE).deadline
    assert after is not None and after.due_at == at("2024-07-31 17:00")
    assert after.next_step is not None and after.next_step[2] >= at("2024-07-24 08:00")
    with engine.store.read() as s:
        events = [e.event for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2))]
    assert events == ["deadline.recomputed", "meeting.moved"]


@pytest.mark.parametrize("downtime", [timedelta(hours=1), timedelta(days=3)])
def test_worker_downtime_fires_each_step_once_folded(
    engine: Engine, calendar: CommitteeCalendar, worker: Worker, clock: ManualClock, downtime: timedelta
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    clock.set(at("2024-07-12 16:30"))  # due: both reminders of every instance
    worker.sweep()
    before_messages = count(engine, OutboxMessage)
    fired_before = len(steps(engine, "fired"))
    clock.set(at("2024-07-12 17:00") + downtime)  # the worker was away while escalations fell due
    result = worker.sweep()
    due = [s for s in steps(engine) if s.due_at <= clock.now()]
    assert all(s.status == "fired" for s in due)
    assert result.fired == len(due) - fired_before > 0
    new = count(engine, OutboxMessage) - before_messages
    recipients = {r for s in due if s.fired_at == clock.now() for r in s.recipients}
    assert new == len(recipients), "one folded message per recipient"
    assert worker.sweep().fired == 0, "nothing fires twice"
    now = clock.now()
    with engine.store.read() as s:
        query = select(OutboxMessage).where(OutboxMessage.kind == "digest", OutboxMessage.created_at == now)
        digests = list(s.scalars(query))
    assert digests and all(("late" in m.body or "overdue by" in m.body) for m in digests)


def test_expired_lease_is_taken_over_and_the_slow_worker_loses(
    engine: Engine, calendar: CommitteeCalendar, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    clock.set(at("2024-07-05 09:00"))
    slow = make_worker(engine.store, engine.catalog, clock, worker_id="slow")
    fast = make_worker(engine.store, engine.catalog, clock, worker_id="fast")
    claimed = slow.claim(clock.now())
    assert claimed and fast.claim(clock.now()) == []  # held by the lease
    clock.advance(timedelta(minutes=6))  # the lease (5 minutes) runs out: slow "crashed"
    taken = fast.claim(clock.now())
    assert taken == claimed
    assert fast.fire(taken, clock.now()).fired == len(claimed)
    late = slow.fire(claimed, clock.now())
    assert (late.fired, late.lost) == (0, len(claimed))
    assert count(engine, AuditEntry, AuditEntry.event == "reminder.fired") == len(claimed)


def test_tick_delivers_through_the_log_channel(
    engine: Engine, calendar: CommitteeCalendar, worker: Worker, clock: ManualClock
) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    clock.set(at("2024-07-05 09:00"))
    swept, delivered = worker.tick(LogChannel())
    assert swept.messages == delivered.sent > 0
    assert count(engine, OutboxMessage, OutboxMessage.status == "sent") == delivered.sent


def test_october_clock_change_keeps_local_deadlines(
    engine: Engine, calendar: CommitteeCalendar, worker: Worker, clock: ManualClock
) -> None:
    """Q2 runs into the end of British Summer Time (27 October 2024)."""
    clock.set(at("2024-10-01 09:00"))
    key = f"{ORG}/2024-25-Q2"
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    first = engine.status(key).deadline
    assert first is not None and first.due_at == at("2024-10-14 17:00")  # BST: 16:00 UTC
    clock.set(at("2024-10-24 10:00"))
    settle_returns(engine, key)
    engine.fire(key, "close_data_request", "perf")
    review = engine.status(key).deadline
    assert review is not None and review.due_at == at("2024-10-31 17:00")  # GMT: 17:00 UTC
    assert review.due_at.utcoffset() is not None
    assert review.due_at.astimezone(LONDON).hour == 17
    assert review.next_step == ("reminder", 2, at("2024-10-30 08:00"))  # the 5-day one fell before entry
    clock.set(at("2024-10-30 07:59"))
    assert worker.sweep().fired == 0
    clock.set(at("2024-10-30 08:00"))
    assert worker.sweep().fired == 1


def test_worker_command_runs_under_apscheduler_and_stops_on_sigterm(
    engine: Engine, calendar: CommitteeCalendar, clock: ManualClock, store_url: str
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import POLICIES, WORKFLOWS

    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    env = {**os.environ, "PMF_CHANNEL": "log", "PMF_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pmf_engine",
            "--db",
            store_url,
            "--workflows",
            str(WORKFLOWS),
            "--policies",
            str(POLICIES),
            "--now",
            "2024-07-05 09:00",
            "worker",
            "--interval",
            "0.5",
            "--id",
            "bg",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline and count(engine, OutboxMessage, OutboxMessage.status == "sent") == 0
        ):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert count(engine, OutboxMessage, OutboxMessage.status == "sent") > 0
    assert '"event": "worker.started"' in err and '"event": "message.sent"' in err
    assert {s.claimed_by for s in steps(engine, "fired")} == {"bg"}


def test_settle_heap_collects_the_start_ups_garbage_and_freezes_what_lives_on() -> None:
    """``pmf serve`` and ``pmf worker`` call ``settle_heap`` once started: garbage of the
    start-up (here a reference cycle) is collected, and what is alive is moved out of the
    collector's reach (``gc.freeze``), so a full collection no longer walks it mid-transition."""
    import gc
    import weakref

    from pmf_engine.app.wiring import settle_heap

    class Node:
        me: object = None

    gc.unfreeze()
    node = Node()
    node.me = node  # only the cycle collector frees it
    gone = weakref.ref(node)
    del node
    try:
        gc.disable()  # no collection between here and settle_heap
        assert gone() is not None and gc.get_freeze_count() == 0
        settle_heap()
        assert gone() is None
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        gc.enable()
