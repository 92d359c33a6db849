"""Injected time: every component asks a ``Clock``, so a test can run a quarter in milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    """Where every component gets the time: the system clock in production, a ``ManualClock`` in tests."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock: the only place that reads the system time."""

    def now(self) -> datetime:
        """The system's current instant, aware and in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests, the demo and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        """The instant last set or advanced to: it never moves by itself."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (a naive one read as London wall time), backwards as well as forwards."""
        self._now = as_utc(instant)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock on by ``delta``; return the new instant."""
        self._now += delta
        return self._now


def as_utc(instant: datetime) -> datetime:
    """Normalise to aware UTC; a naive value is read as Europe/London wall time."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=LONDON)
    return instant.astimezone(UTC)


def london(instant: datetime) -> datetime:
    """The instant as people in the council read it."""
    return as_utc(instant).astimezone(LONDON)
