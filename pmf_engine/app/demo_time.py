"""The demo's time: the quarters it is built around (from the time it is now), the working days
after a quarter's end its steps are placed on, and when its worker next has something to do.

The last is the earliest reminder step or outbox message that a sweep or a delivery round could
claim: the demo's simulated clock runs the worker's wake-ups only from then on, since a wake-up
before it finds nothing to do (the demo's worker has no jobs of its own), so quiet months
between cycles cost nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from pmf_engine.core.clock import LONDON, as_utc, london
from pmf_engine.core.period import Period
from pmf_engine.core.store import OutboxMessage, Step, Store
from pmf_engine.core.workdays import WorkingDays


@dataclass(frozen=True)
class DemoQuarters:
    """The quarters the demo is built around, computed from the time it is now."""

    now: datetime
    story: Period
    """Run end to end and closed: the quarter before ``open``."""
    open: Period
    """The quarter that ended most recently: its cycle is open, at the stage it would be now."""

    @classmethod
    def at(cls, now: datetime) -> DemoQuarters:
        """The quarters of a demo built at ``now``."""
        ended = Period.containing(london(now).date()).previous()
        return cls(now, ended.previous(), ended)

    @property
    def following(self) -> Period:
        """The quarter running now, whose cycle the performance team starts once it ends."""
        return self.open.next()


def day_zero(period: Period, workdays: WorkingDays) -> date:
    """The first working day after ``period`` ends: day 0 of its cycle's working days."""
    return workdays.next_working_day(period.end + timedelta(days=1))


def on(period: Period, workdays: WorkingDays, day: int, hour: int, minute: int = 0) -> datetime:
    """London wall time ``hour:minute`` on working day ``day`` after ``period`` ends."""
    when = workdays.add(day_zero(period, workdays), day)
    return datetime.combine(when, time(hour, minute), tzinfo=LONDON)


_CLAIMABLE_STEPS = ("pending", "claimed")
_CLAIMABLE_MESSAGES = ("pending", "sending")
"""The statuses a claim takes rows in (``worker._STEP_QUEUE``, ``outbox._QUEUE``): free, or taken
with a lease that may run out."""


def next_due(store: Store) -> datetime | None:
    """The earliest time a step or message falls due (UTC), or ``None`` when none is waiting."""
    with store.read() as s:
        step = s.scalar(select(func.min(Step.due_at)).where(Step.status.in_(_CLAIMABLE_STEPS)))
        message = s.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status.in_(_CLAIMABLE_MESSAGES)
            )
        )
    found = [as_utc(t) for t in (step, message) if t is not None]
    return min(found) if found else None
