"""The data rules of a figure, asked by every door that brings one: the web form, the JSON API,
the CLI, a CSV file and the Excel return.

A figure (a measure's actual, or its forecast of the year-end outturn) is a finite number in its
measure's range: the ``minimum`` and ``maximum`` the measures file gives the measure, or else its
format's (``FORMAT_RANGES``): a percentage 0 to 100, days, counts and plain numbers not
negative; a count is also whole. Money (``currency``) may be any finite number. A measure is
given a figure, or the reason it is missing, never both.

Each check returns the problems it finds as ``(field, message)``, so an importer can place each
on its line and column; ``InvalidFigures`` carries them for the other doors, naming the measure
and the field of each. What a whole return must hold before it is submitted is in
``completeness``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pmf_engine.core import values
from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem

Format = Literal["number", "count", "percent", "currency", "days"]
FORMATS: tuple[Format, ...] = ("number", "count", "percent", "currency", "days")
FORMAT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "number": (0.0, None),
    "count": (0.0, None),
    "percent": (0.0, 100.0),
    "days": (0.0, None),
    "currency": (None, None),
}
"""The range of a measure of each format, unless its measures file sets its own: only money
goes below 0 unless the measure's ``minimum`` says it may (a net change, a variance)."""
WHOLE_FORMATS = frozenset({"count"})
"""Formats whose figures are whole numbers."""
FIELDS = ("actual", "forecast", "narrative", "missing_reason")
"""The fields of a reported figure, as problems name them."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The figures a measure can take: ``low`` to ``high`` (``None``: unbounded), whole or not."""

    fmt: str
    low: float | None
    high: float | None
    whole: bool
    own: bool
    """The measures file set the range (``minimum``/``maximum``), not the format."""

    def span(self) -> str:
        """The range in words: ``0 to 100``, ``at least 0``, ``at most 5``, ``any``."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"at least {self.low:g}"
        return f"at most {self.high:g}" if self.high is not None else "any"

    def problem(self, value: object) -> str | None:
        """Why ``value`` cannot be a figure of the measure, or ``None`` when it can."""
        why = values.number_problem(value)
        if why is not None:
            return why
        assert isinstance(value, int | float)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            whose = "this measure (its measures file says so)" if self.own else f"a {self.fmt} measure"
            return f"{value:g} is out of range for {whose} ({self.span()})"
        if self.whole and not float(value).is_integer():
            return f"{value:g} is not a whole number (a {self.fmt} measure counts things)"
        return None


def bounds(fmt: str, minimum: float | None = None, maximum: float | None = None) -> Bounds:
    """The range of a measure of format ``fmt`` with the ``minimum`` and ``maximum`` its
    measures file gives (each, when given, replaces the format's)."""
    low, high = FORMAT_RANGES.get(fmt, (None, None))
    own = minimum is not None or maximum is not None
    return Bounds(
        fmt,
        minimum if minimum is not None else low,
        maximum if maximum is not None else high,
        fmt in WHOLE_FORMATS,
        own,
    )


def range_problem(fmt: str, minimum: float | None, maximum: float | None) -> str | None:
    """Why a measures file's ``minimum`` and ``maximum`` cannot be a measure's range, or ``None``."""
    for name, given in (("minimum", minimum), ("maximum", maximum)):
        if given is not None and not math.isfinite(given):
            return f"the {name} must be a finite number"
    if minimum is not None and maximum is not None and minimum > maximum:
        return f"the minimum {minimum:g} is above the maximum {maximum:g}"
    if fmt in WHOLE_FORMATS and minimum is not None and minimum < 0:
        return f"a {fmt} measure cannot go below 0"
    return None


def figure_problems(
    bounds: Bounds,
    value: object,
    forecast: object = None,
    narrative: str = "",
    missing_reason: str = "",
) -> list[tuple[str, str]]:
    """The problems of one reported figure as ``(field, message)``: each number in the
    measure's range, the texts storable and not too long, and a figure or its missing reason,
    not both."""
    problems: list[tuple[str, str]] = []
    for name, number in (("actual", value), ("forecast", forecast)):
        why = bounds.problem(number) if number is not None else None
        if why is not None:
            problems.append((name, why))
    for name, text in (("narrative", narrative), ("missing_reason", missing_reason)):
        why = values.text_problem(text) if isinstance(text, str) else "is not text"
        if why is None:
            why = text_problem(f"the {name.replace('_', ' ')}", text, MAX_NARRATIVE)
        if why is not None:
            problems.append((name, why))
    if value is not None and isinstance(missing_reason, str) and missing_reason.strip():
        problems.append(("missing_reason", "give a figure or the reason it is missing, not both"))
    return problems


@dataclass(frozen=True, slots=True)
class FigureProblem:
    """One field of one measure's figure that breaks a rule."""

    code: str
    field: str
    """One of ``FIELDS``."""
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.field.replace('_', ' ')}: {self.message}"


class InvalidFigures(InvalidInput):
    """Figures that break the data rules: every problem, each naming its measure and field.
    Nothing of the batch was recorded."""

    def __init__(self, problems: Sequence[FigureProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else FigureProblem("", "", "")
        super().__init__(f"{first.code} {first.field}", None, "; ".join(map(str, self.problems)))
