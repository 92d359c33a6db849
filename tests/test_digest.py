"""The weekly e-mail of what a person needs to do (#17): opt-in, once a week from Monday 08:00,
the same list as ``/todo``, through the outbox and the worker's own channel.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, OutboxMessage
from pmf_engine.pmf import digest
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES


def _digests(engine: Engine) -> list[OutboxMessage]:
    """The weekly digests in the outbox (the worker's own digests of due steps are kind
    ``digest`` too: one Notify template serves both)."""
    with engine.store.read() as s:
        weekly = select(OutboxMessage).where(
            OutboxMessage.kind == "digest", OutboxMessage.subject.like("What you need to do this week%")
        )
        return list(s.scalars(weekly))


def test_the_weekly_digest_goes_once_a_week_to_those_who_asked(engine: Engine, clock: ManualClock) -> None:
    framework = Framework(engine, SHIPPED_POLICIES)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    job = digest.WeeklyDigest(framework)
    clock.set(datetime(2024, 7, 8, 7, 30, tzinfo=LONDON))  # a Monday, before 08:00
    assert job(clock.now()) == 0  # nobody asked
    digest.subscribe(framework, "sm_housing", True, by="sm_housing")
    assert digest.subscribed(framework, "sm_housing") and not digest.subscribed(framework, "perf")
    assert job(clock.now()) == 0  # not before 08:00
    clock.set(datetime(2024, 7, 8, 8, 0, tzinfo=LONDON))
    assert job(clock.now()) == 1
    assert job(clock.now()) == 0  # the same week: queued once, however many ticks
    (message,) = _digests(engine)
    assert message.recipient == "sm_housing"
    assert f"{CYCLE}/HOUSING" in message.body and f"{CYCLE}/WASTE" not in message.body
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")  # nothing left for them to do
    clock.set(datetime(2024, 7, 15, 9, 0, tzinfo=LONDON))  # next Monday
    assert job(clock.now()) == 0  # an empty list is not sent
    digest.subscribe(framework, "perf", True, by="perf")
    assert job(clock.now()) == 1
    digest.subscribe(framework, "perf", False, by="perf")
    clock.set(datetime(2024, 7, 22, 9, 0, tzinfo=LONDON))
    assert job(clock.now()) == 0
    with engine.store.read() as s:
        events = dict(
            s.execute(
                select(AuditEntry.event, func.count())
                .where(AuditEntry.event.like("digest.%"))
                .group_by(AuditEntry.event)
            ).all()
        )
    assert events == {"digest.subscribed": 2, "digest.unsubscribed": 1}


def test_the_worker_sends_the_digest_through_its_channel(engine: Engine, clock: ManualClock) -> None:
    framework = Framework(engine, SHIPPED_POLICIES)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    digest.subscribe(framework, "sm_waste", True, by="sm_waste")
    clock.set(datetime(2024, 7, 9, 10, 0, tzinfo=LONDON))  # Tuesday: the week's digest not yet sent
    channel = LogChannel()
    worker = make_worker(
        engine.store, engine.catalog, clock, channel=channel, jobs=[digest.WeeklyDigest(framework)]
    )
    worker.tick()
    found = _digests(engine)
    assert [m.status for m in found] == ["sent"], [(m.status, m.last_error) for m in found]
    sent = found[0]
    assert sent.recipient == "sm_waste" and sent.subject.startswith("What you need to do this week")
    worker.tick()
    assert len(_digests(engine)) == 1
