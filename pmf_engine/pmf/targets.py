"""Targets and the value each RAG basis compares with them: pure arithmetic, no database.

A measure's target for a quarter is the one set for that quarter if there is one; otherwise it
comes from the annual target of the financial year. For a measure that adds up over the year
(``aggregation: sum``, a count such as homes delivered) the annual target is spread over the
quarters by its profile (four weights; equal when none is given); for a rate (``mean``) or a
snapshot (``latest``) every quarter's target is the annual one.

The three bases of ``policies/rag.yaml``:

* ``period``: the quarter's actual against the quarter's target;
* ``ytd``: the year to date (the quarters of the financial year so far, summed, averaged or the
  latest, by aggregation) against the target for the year to date;
* ``forecast``: the service's forecast of the year-end outturn against the annual target.

An annual target agreed through the target lifecycle (``target_setting``: proposed by the
service, agreed by the stages ``framework.yaml`` names, revised mid-year with an approval) wins
over the library's targets for its financial year: ``agreed`` holds, per year, the value agreed
and each approved revision with the first quarter it counts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pmf_engine.core.period import Period

Aggregation = Literal["sum", "mean", "latest"]
AGGREGATIONS: tuple[Aggregation, ...] = ("sum", "mean", "latest")


def financial_year(period: Period) -> str:
    """``2024-25`` for any quarter of that financial year."""
    return str(period)[:7]


@dataclass(frozen=True)
class Targets:
    """A measure's targets: per quarter, per financial year, with profile and aggregation."""

    quarterly: Mapping[str, float]
    annual: Mapping[str, float]
    profile: Sequence[float] = ()
    aggregation: Aggregation = "mean"
    agreed: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)
    """Per financial year, the lifecycle's agreed target and approved revisions: (first quarter
    it counts from, annual value), oldest first; the last one begun by a quarter is in force."""

    def _weights(self) -> list[float]:
        weights = list(self.profile) if len(self.profile) == 4 and sum(self.profile) > 0 else [1.0] * 4
        total = sum(weights)
        return [w / total for w in weights]

    def annual_for(self, period: Period) -> float | None:
        """The annual target in force at ``period``: the lifecycle's (its latest revision begun
        by then), or the library's for the financial year ``period`` is in."""
        year = financial_year(period)
        agreed = self.agreed.get(year)
        if agreed:
            found = [value for start, value in agreed if start <= str(period)]
            return found[-1] if found else agreed[0][1]
        return self.annual.get(year)

    def quarter(self, period: Period) -> float | None:
        """The target for one quarter: set for it, or derived from the annual target (an
        agreed annual target wins over the library's quarter targets of its year)."""
        explicit = self.quarterly.get(str(period))
        if explicit is not None and not self.agreed.get(financial_year(period)):
            return explicit
        annual = self.annual_for(period)
        if annual is None:
            return None
        if self.aggregation == "sum":
            return annual * self._weights()[period.quarter - 1]
        return annual

    def year_to_date(self, period: Period) -> float | None:
        """The target for the year so far, consistent with ``aggregate`` of the quarters."""
        quarters = quarters_to_date(period)
        targets = [self.quarter(q) for q in quarters]
        if any(t is None for t in targets):
            return None
        return aggregate([t for t in targets if t is not None], self.aggregation)

    def for_basis(self, basis: str, period: Period) -> float | None:
        """The target a RAG ``basis`` compares with for ``period``."""
        if basis == "ytd":
            return self.year_to_date(period)
        if basis == "forecast":
            return self.annual_for(period)
        return self.quarter(period)


def targets_of(aggregation: str | None, quarterly: Any, annual: Any, profile: Any, agreed: Any) -> Targets:
    """``Targets`` from a measure's columns as stored (``agreed``: ``{year: [[from, value], ...]}``)."""
    how: Aggregation = "sum" if aggregation == "sum" else ("latest" if aggregation == "latest" else "mean")
    schedule = {
        year: [(str(start), float(value)) for start, value in rows] for year, rows in (agreed or {}).items()
    }
    return Targets(quarterly or {}, annual or {}, profile or [], how, schedule)


def quarters_to_date(period: Period) -> list[Period]:
    """Q1 of the financial year up to and including ``period``."""
    return [Period(period.start_year, q) for q in range(1, period.quarter + 1)]


def aggregate(values: Sequence[float], how: Aggregation) -> float:
    """The quarters' values summed, averaged or the latest; ``ValueError`` if there are none."""
    if not values:
        raise ValueError("nothing to aggregate")
    if how == "sum":
        return sum(values)
    if how == "mean":
        return sum(values) / len(values)
    return values[-1]


@dataclass(frozen=True)
class Compared:
    """The value a basis compares with its target, and what it is in words."""

    value: float | None
    target: float | None
    basis_note: str


def compared(
    basis: str,
    period: Period,
    targets: Targets,
    actuals: Mapping[str, float | None],
    forecast: float | None,
) -> Compared:
    """What ``basis`` compares for ``period``, given the quarters' actuals by period name."""
    target = targets.for_basis(basis, period)
    if basis == "forecast":
        return Compared(forecast, target, "year-end forecast against the annual target")
    if basis == "ytd":
        quarters = quarters_to_date(period)
        values = [actuals.get(str(q)) for q in quarters]
        missing = [str(q)[-2:] for q, v in zip(quarters, values, strict=True) if v is None]
        span = "Q1" if period.quarter == 1 else f"Q1-Q{period.quarter}"
        if missing:
            return Compared(None, target, f"year to date ({span}); {', '.join(missing)} not reported")
        present = [v for v in values if v is not None]
        return Compared(
            aggregate(present, targets.aggregation), target, f"year to date ({span}, {targets.aggregation})"
        )
    return Compared(actuals.get(str(period)), target, "quarter")
