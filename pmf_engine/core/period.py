"""Financial-year quarters as councils write them: ``2024-25-Q1`` is April to June 2024."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_PATTERN = re.compile(r"^(\d{4})-(\d{2})-Q([1-4])$")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A financial-year quarter; ``start_year`` is the year its financial year begins (2024 for 2024-25)."""

    start_year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """The period written as ``2024-25-Q1``; ``ValueError`` if malformed or the years do not follow on."""
        match = _PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a period like 2024-25-Q1")
        year, short_next, quarter = int(match[1]), int(match[2]), int(match[3])
        if (year + 1) % 100 != short_next:
            raise ValueError(f"{text!r}: {year}-{short_next:02d} is not a financial year")
        return cls(year, quarter)

    @classmethod
    def containing(cls, day: date) -> Period:
        """The quarter ``day`` falls in (1 April to 30 June is Q1)."""
        start_year = day.year if day.month >= 4 else day.year - 1
        return cls(start_year, (day.month - 4) % 12 // 3 + 1)

    def __str__(self) -> str:
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}-Q{self.quarter}"

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
