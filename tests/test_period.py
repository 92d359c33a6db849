"""Financial-year quarters."""

from __future__ import annotations

from datetime import date

import pytest

from pmf_engine.core.period import Period


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024-25-Q1", date(2024, 4, 1), date(2024, 6, 30)),
        ("2024-25-Q3", date(2024, 10, 1), date(2024, 12, 31)),
        ("2024-25-Q4", date(2025, 1, 1), date(2025, 3, 31)),
        ("2099-00-Q2", date(2099, 7, 1), date(2099, 9, 30)),
    ],
)
def test_quarter_bounds(text: str, start: date, end: date) -> None:
    period = Period.parse(text)
    assert (period.start, period.end, str(period)) == (start, end, text)


@pytest.mark.parametrize("text", ["2024-Q1", "2024-26-Q1", "2024-25-Q5", "24-25-Q1", ""])
def test_bad_periods_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def test_next_and_previous_cross_the_year() -> None:
    q4 = Period.parse("2024-25-Q4")
    assert str(q4.next()) == "2025-26-Q1" and q4.next().previous() == q4


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 12, 2), "2026-27-Q3"),
        (date(2027, 3, 31), "2026-27-Q4"),
        (date(2027, 4, 1), "2027-28-Q1"),
        (date(2026, 6, 30), "2026-27-Q1"),
        (date(2026, 7, 1), "2026-27-Q2"),
        (date(2027, 1, 1), "2026-27-Q4"),
    ],
)
def test_the_quarter_a_day_falls_in(day: date, expected: str) -> None:
    period = Period.containing(day)
    assert str(period) == expected and period.start <= day <= period.end
