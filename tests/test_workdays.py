"""Working days and sending hours: weekends, bank holidays per nation, the clock change."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmf_engine.core.clock import LONDON
from pmf_engine.core.escalation import SendingHours, sending_time
from pmf_engine.core.workdays import WorkingDays, local_instant


@pytest.mark.parametrize(
    ("subdivision", "start", "count", "expected"),
    [
        ("ENG", date(2024, 6, 30), 10, date(2024, 7, 12)),  # Sunday + 10
        ("ENG", date(2024, 8, 23), 1, date(2024, 8, 27)),  # over the August bank holiday (26th)
        ("SCT", date(2024, 8, 23), 1, date(2024, 8, 26)),  # Scotland works on the 26th...
        ("SCT", date(2024, 8, 2), 1, date(2024, 8, 6)),  # ...and rests on the 5th
        ("ENG", date(2024, 8, 14), -7, date(2024, 8, 5)),
        ("ENG", date(2024, 12, 24), 1, date(2024, 12, 27)),  # Christmas and Boxing Day
        ("NIR", date(2025, 3, 14), 1, date(2025, 3, 18)),  # St Patrick's Day
    ],
)
def test_add_working_days(subdivision: str, start: date, count: int, expected: date) -> None:
    assert WorkingDays(subdivision).add(start, count) == expected


def test_between_counts_working_days_after_start() -> None:
    days = WorkingDays("ENG")
    assert days.between(date(2024, 7, 12), date(2024, 7, 19)) == 5
    assert days.between(date(2024, 8, 23), date(2024, 8, 27)) == 1
    assert days.between(date(2024, 7, 19), date(2024, 7, 12)) == 0


def test_unknown_subdivision_refused() -> None:
    with pytest.raises(ValueError, match="unknown UK subdivision"):
        WorkingDays("XYZ")


def test_local_instant_follows_the_clock_change() -> None:
    assert local_instant(date(2024, 10, 25), time(17)) == datetime(2024, 10, 25, 16, tzinfo=UTC)  # BST
    assert local_instant(date(2024, 10, 28), time(17)) == datetime(2024, 10, 28, 17, tzinfo=UTC)  # GMT


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2024, 7, 12, 17, 0), datetime(2024, 7, 12, 17, 0)),  # inside
        (datetime(2024, 7, 12, 19, 0), datetime(2024, 7, 15, 8, 0)),  # Friday night -> Monday
        (datetime(2024, 7, 13, 11, 0), datetime(2024, 7, 15, 8, 0)),  # Saturday
        (datetime(2024, 7, 15, 6, 30), datetime(2024, 7, 15, 8, 0)),  # too early
        (datetime(2024, 8, 26, 9, 0), datetime(2024, 8, 27, 8, 0)),  # bank holiday
    ],
)
def test_sending_time_waits_for_the_window(when: datetime, expected: datetime) -> None:
    got = sending_time(when.replace(tzinfo=LONDON), WorkingDays("ENG"), SendingHours())
    assert got == expected.replace(tzinfo=LONDON)


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    span=st.integers(min_value=-30, max_value=1200),
    nation=st.sampled_from(["ENG", "WLS", "SCT", "NIR"]),
)
def test_between_matches_counting_day_by_day(start: date, span: int, nation: str) -> None:
    workdays = WorkingDays(nation)
    end = start + timedelta(days=span)
    assert workdays.between(start, end) == workdays.between_slowly(start, end)
