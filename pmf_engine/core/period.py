"""Reporting periods as councils write them, of four kinds (a workflow declares which it runs for).

- ``quarter``: ``2024-25-Q1`` is April to June 2024 (the financial year begins 1 April);
- ``year``: ``2024-25`` is the financial year, 1 April 2024 to 31 March 2025;
- ``month``: ``2024-25-M01`` is April 2024, ``M12`` is March 2025;
- ``adhoc``: a one-off piece of work named by the day it is due, ``2025-03-14``.

``Period`` stays the quarter (most of the framework's data is quarterly); ``parse_period``
reads any kind and returns a ``Quarter``/``FinancialYear``/``Month``/``AdHoc``, each with the
``start``, ``end`` and ``tag`` (``Q4``, ``M12``; a transition's ``periods`` condition names
these) that the engine needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import ClassVar, Literal, get_args

PeriodKind = Literal["quarter", "year", "month", "adhoc"]
PERIOD_KINDS: tuple[str, ...] = get_args(PeriodKind)

_QUARTER = re.compile(r"^(\d{4})-(\d{2})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})-M(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

EXAMPLES: dict[str, str] = {
    "quarter": "2025-26-Q1",
    "year": "2025-26",
    "month": "2025-26-M01",
    "adhoc": "2026-03-31 (the day it is due)",
}
TAGS: dict[str, tuple[str, ...]] = {
    "quarter": ("Q1", "Q2", "Q3", "Q4"),
    "month": tuple(f"M{m:02d}" for m in range(1, 13)),
    "year": (),
    "adhoc": (),
}
"""What a transition's ``periods`` condition may name, by period kind."""


def _financial_year(text: str, year: str, short_next: str) -> int:
    start = int(year)
    if (start + 1) % 100 != int(short_next):
        raise ValueError(f"{text!r}: {start}-{short_next} is not a financial year")
    return start


def _fy(start_year: int) -> str:
    return f"{start_year}-{(start_year + 1) % 100:02d}"


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A financial-year quarter; ``start_year`` is the year its financial year begins (2024 for 2024-25)."""

    start_year: int
    quarter: int
    kind: ClassVar[PeriodKind] = "quarter"

    @classmethod
    def parse(cls, text: str) -> Period:
        """The quarter written as ``2024-25-Q1``; ``ValueError`` if malformed or the years do not follow."""
        match = _QUARTER.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a period like 2024-25-Q1")
        return cls(_financial_year(text, match[1], match[2]), int(match[3]))

    @classmethod
    def containing(cls, day: date) -> Period:
        """The quarter ``day`` falls in (1 April to 30 June is Q1)."""
        start_year = day.year if day.month >= 4 else day.year - 1
        return cls(start_year, (day.month - 4) % 12 // 3 + 1)

    def __str__(self) -> str:
        return f"{_fy(self.start_year)}-Q{self.quarter}"

    @property
    def tag(self) -> str:
        """``Q1`` to ``Q4``."""
        return f"Q{self.quarter}"

    @property
    def start(self) -> date:
        """The first day of the quarter (Q1 starts 1 April)."""
        month = 4 + 3 * (self.quarter - 1)
        year = self.start_year + (month - 1) // 12
        return date(year, (month - 1) % 12 + 1, 1)

    @property
    def end(self) -> date:
        """The last day of the quarter (Q4 ends 31 March)."""
        return self.next().start - timedelta(days=1)

    def next(self) -> Period:
        """The quarter after this one (Q4 is followed by Q1 of the next financial year)."""
        return (
            Period(self.start_year + 1, 1) if self.quarter == 4 else Period(self.start_year, self.quarter + 1)
        )

    def previous(self) -> Period:
        """The quarter before this one (Q1 follows Q4 of the previous financial year)."""
        return (
            Period(self.start_year - 1, 4) if self.quarter == 1 else Period(self.start_year, self.quarter - 1)
        )


Quarter = Period


@dataclass(frozen=True, order=True, slots=True)
class FinancialYear:
    """A financial year, ``2025-26``: 1 April 2025 to 31 March 2026."""

    start_year: int
    kind: ClassVar[PeriodKind] = "year"
    tag: ClassVar[str] = ""

    def __str__(self) -> str:
        return _fy(self.start_year)

    @property
    def start(self) -> date:
        """1 April of ``start_year``."""
        return date(self.start_year, 4, 1)

    @property
    def end(self) -> date:
        """31 March of the year after."""
        return date(self.start_year + 1, 3, 31)


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A month of a financial year, ``2025-26-M01`` (April 2025) to ``2025-26-M12`` (March 2026)."""

    start_year: int
    month: int
    """1 for April, 12 for March: the financial year's numbering, as finance teams use it."""
    kind: ClassVar[PeriodKind] = "month"

    def __str__(self) -> str:
        return f"{_fy(self.start_year)}-M{self.month:02d}"

    @property
    def tag(self) -> str:
        """``M01`` to ``M12``."""
        return f"M{self.month:02d}"

    @property
    def start(self) -> date:
        """The first day of the calendar month."""
        calendar = (self.month + 2) % 12 + 1
        return date(self.start_year + (1 if calendar < 4 else 0), calendar, 1)

    @property
    def end(self) -> date:
        """The last day of the calendar month."""
        after = self.start + timedelta(days=32)
        return after.replace(day=1) - timedelta(days=1)


@dataclass(frozen=True, order=True, slots=True)
class AdHoc:
    """A one-off piece of work (a review, an inspection response) named by the day it is due."""

    due: date
    kind: ClassVar[PeriodKind] = "adhoc"
    tag: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.due.isoformat()

    @property
    def start(self) -> date:
        """The day it is due (an ad hoc piece of work has no span)."""
        return self.due

    @property
    def end(self) -> date:
        """The day it is due: ``period_end`` in a deadline rule."""
        return self.due


AnyPeriod = Period | FinancialYear | Month | AdHoc


def parse_period(text: str, kind: str | None = None) -> AnyPeriod:
    """The period ``text`` names, of ``kind`` when given; ``ValueError`` says what was expected."""
    text = text.strip()
    found = _parse_any(text)
    if kind is not None and (found is None or found.kind != kind):
        example = EXAMPLES.get(kind, kind)
        what = f"a {found.kind} period" if found is not None else "not a period"
        raise ValueError(f"{text!r} is {what}: this workflow runs per {kind}, e.g. {example}")
    if found is None:
        raise ValueError(
            f"{text!r} is not a period like 2025-26-Q1 (quarter), 2025-26 (year), "
            "2025-26-M01 (month) or 2026-03-31 (ad hoc, the day it is due)"
        )
    return found


@lru_cache(maxsize=4096)
def _parse_any(text: str) -> AnyPeriod | None:
    if _QUARTER.match(text):
        return Period.parse(text)
    if match := _YEAR.match(text):
        return FinancialYear(_financial_year(text, match[1], match[2]))
    if match := _MONTH.match(text):
        month = int(match[3])
        if not 1 <= month <= 12:
            raise ValueError(f"{text!r}: M{match[3]} is not a month (M01 is April, M12 is March)")
        return Month(_financial_year(text, match[1], match[2]), month)
    if _DAY.match(text):
        try:
            return AdHoc(date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{text!r} is not a date") from None
    return None
