"""Two worker processes sweeping one database: every step fired once, no message twice."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import func, select

from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, OutboxMessage, Step
from tests.workerproc import sweep_until_done

pytestmark = pytest.mark.slow  # two processes, 1,000 steps: about 5 s each

SERVICES = 199  # with the cycle itself: 200 instances x 5 steps = 1,000 due steps


def test_two_worker_processes_fire_1000_steps_exactly_once(engine: Engine, clock: ManualClock) -> None:
    engine.directory.add_organisation("RACE", "Race Council")
    engine.directory.add_actor("race_perf", "Perf")
    engine.directory.grant("race_perf", "performance_officer", "RACE")
    engine.directory.add_actor("race_sm", "Manager")
    for i in range(SERVICES):
        engine.directory.add_service("RACE", f"S{i:03d}", f"Service {i}")
        engine.directory.grant("race_sm", "service_manager", "RACE", service=f"S{i:03d}")
    engine.directory.add_actor("race_cmt", "CMT")
    engine.directory.grant("race_cmt", "cmt_member", "RACE")
    engine.start_cycle("RACE", "2024-25-Q1", by="race_perf")
    with engine.store.read() as s:
        total = s.scalar(select(func.count()).select_from(Step).where(Step.organisation_id == _org(engine)))
    assert total == 1000

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    now = "2024-09-01T12:00:00+00:00"  # every step is due
    procs = [
        context.Process(target=sweep_until_done, args=(engine.store.url, f"p{i}", now, start, 25))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    with engine.store.read() as s:
        statuses = Counter(s.scalars(select(Step.status).where(Step.organisation_id == _org(engine))).all())
        by_worker = Counter(
            s.scalars(select(Step.claimed_by).where(Step.organisation_id == _org(engine))).all()
        )
        fired_entries = list(
            s.scalars(
                select(AuditEntry.data).where(
                    AuditEntry.organisation == "RACE",
                    AuditEntry.event.in_(("reminder.fired", "escalation.fired")),
                )
            )
        )
        messages = list(s.scalars(select(OutboxMessage).where(OutboxMessage.organisation_id == _org(engine))))
        recipients = {
            step_id: set(r)
            for step_id, r in s.execute(
                select(Step.id, Step.recipients).where(Step.organisation_id == _org(engine))
            )
        }
    assert statuses == {"fired": 1000}
    assert set(by_worker) <= {"p0", "p1"}
    if engine.store.dialect == "postgresql":
        # SKIP LOCKED lets both take rows at once. (SQLite's lock has no fairness: one busy
        # writer can starve the other, which changes speed, never the exactly-once count.)
        assert set(by_worker) == {"p0", "p1"}, by_worker
    assert len(fired_entries) == 1000
    assert len({_step_of(d) for d in fired_entries}) == 1000
    delivered = Counter((step_id, m.recipient) for m in messages for step_id in m.step_ids)
    expected = {(step_id, who) for step_id, people in recipients.items() for who in people}
    assert set(delivered) == expected and max(delivered.values()) == 1, "every (step, recipient) exactly once"


def _org(engine: Engine) -> int:
    from pmf_engine.core.store import Organisation

    with engine.store.read() as s:
        return int(s.execute(select(Organisation.id).where(Organisation.code == "RACE")).scalar_one())


def _step_of(data: str) -> int:
    import json

    return int(json.loads(data)["step"])
