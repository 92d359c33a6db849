"""Working days: weekends and UK bank holidays skipped, per nation (the ``holidays`` package).

People's dates and times are Europe/London; a deadline is computed on the local calendar and
only then turned into UTC, so one that crosses the October or March clock change still lands
on the intended local time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from pmf_engine.core.clock import LONDON, as_utc, london

SUBDIVISIONS = ("ENG", "WLS", "SCT", "NIR")


@lru_cache(maxsize=8)
def _bank_holidays(subdivision: str) -> holidays.HolidayBase:
    if subdivision not in SUBDIVISIONS:
        raise ValueError(f"unknown UK subdivision {subdivision!r}; use one of {', '.join(SUBDIVISIONS)}")
    return holidays.country_holidays("GB", subdiv=subdivision)


@lru_cache(maxsize=512)
def _holidays_of(subdivision: str, year: int) -> frozenset[date]:
    calendar = _bank_holidays(subdivision)
    calendar.get(date(year, 1, 1))  # the holidays package fills in a year on first lookup
    return frozenset(day for day in calendar if day.year == year)


def _weekdays_through(day: date) -> int:
    """Monday to Friday days from 1 January of year 1 (a Monday) up to and including ``day``."""
    weeks, rest = divmod(day.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def working_days_late(due_at: datetime, now: datetime, subdivision: str) -> int:
    """How many working days ``now`` is past ``due_at`` (London dates): 0 before it, at least 1
    once it has passed (late on the day itself is late)."""
    if now <= due_at:
        return 0
    return max(1, WorkingDays(subdivision).between(london(due_at).date(), london(now).date()))


class WorkingDays:
    """Working-day arithmetic for one nation of the UK."""

    def __init__(self, subdivision: str = "ENG") -> None:
        self.subdivision = subdivision
        self._holidays = _bank_holidays(subdivision)

    def is_working_day(self, day: date) -> bool:
        """True unless ``day`` is a Saturday, a Sunday or a bank holiday in this nation."""
        return day.weekday() < 5 and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        """The name of the bank holiday on ``day`` (``None`` if none), to say why a day is skipped."""
        name = self._holidays.get(day)
        return str(name) if name else None

    def add(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (before it when negative)."""
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start), in
        constant time per year spanned: weekdays by arithmetic, less the bank holidays that
        fall on one."""
        if end <= start:
            return 0
        weekdays = _weekdays_through(end) - _weekdays_through(start)
        holidays_off = sum(
            1
            for year in range(start.year, end.year + 1)
            for day in _holidays_of(self.subdivision, year)
            if start < day <= end and day.weekday() < 5
        )
        return weekdays - holidays_off

    def between_slowly(self, start: date, end: date) -> int:
        """``between`` one day at a time: the definition the fast one is tested against."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def local_instant(day: date, at: time) -> datetime:
    """``day`` at wall-clock ``at`` in London, as UTC."""
    return as_utc(datetime.combine(day, at, tzinfo=LONDON))
