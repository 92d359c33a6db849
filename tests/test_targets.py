"""Targets and RAG bases, table-driven: both polarities, both tolerance kinds, each basis."""

from __future__ import annotations

import pytest

from pmf_engine.core.period import Period
from pmf_engine.pmf.rag import Tolerance, rag
from pmf_engine.pmf.targets import Targets, aggregate, compared, quarters_to_date

Q3 = Period.parse("2024-25-Q3")
COUNT = Targets({}, {"2024-25": 200}, (10, 20, 30, 40), "sum")  # homes delivered: back-loaded year
RATE = Targets({"2024-25-Q2": 75}, {"2024-25": 80}, (), "mean")  # a percentage; Q2 has its own target
SNAP = Targets({}, {"2024-25": 500}, (), "latest")  # households in temporary accommodation


@pytest.mark.parametrize(
    ("targets", "period", "quarter", "ytd", "annual"),
    [
        (COUNT, "2024-25-Q1", 20, 20, 200),
        (COUNT, "2024-25-Q3", 60, 120, 200),
        (COUNT, "2024-25-Q4", 80, 200, 200),
        (RATE, "2024-25-Q1", 80, 80, 80),
        (RATE, "2024-25-Q2", 75, 77.5, 80),  # the quarter's own target wins over the annual one
        (SNAP, "2024-25-Q3", 500, 500, 500),
        (COUNT, "2025-26-Q1", None, None, None),  # no target for that year
    ],
)
def test_quarter_ytd_and_annual_targets(
    targets: Targets, period: str, quarter: float | None, ytd: float | None, annual: float | None
) -> None:
    p = Period.parse(period)
    assert targets.quarter(p) == pytest.approx(quarter)
    assert targets.year_to_date(p) == pytest.approx(ytd)
    assert targets.annual_for(p) == annual


def test_equal_quarters_without_a_profile() -> None:
    even = Targets({}, {"2024-25": 100}, (), "sum")
    assert [even.quarter(q) for q in quarters_to_date(Period(2024, 4))] == [25, 25, 25, 25]


ACTUALS = {"2024-25-Q1": 15.0, "2024-25-Q2": 25.0, "2024-25-Q3": 50.0}

# basis, targets, polarity, tolerance, forecast -> compared value, target, status
CASES = [
    # period: Q3 alone (50) against 60; 16.7% short
    ("period", COUNT, "higher", Tolerance(kind="percent", value=5), None, 50, 60, "red"),
    ("period", COUNT, "higher", Tolerance(kind="absolute", value=10), None, 50, 60, "amber"),
    # year to date: 15 + 25 + 50 = 90 against 120
    ("ytd", COUNT, "higher", Tolerance(kind="percent", value=30), None, 90, 120, "amber"),
    ("ytd", COUNT, "higher", Tolerance(kind="absolute", value=10), None, 90, 120, "red"),
    # lower is better: 90 against 120 meets it
    ("ytd", COUNT, "lower", Tolerance(kind="percent", value=5), None, 90, 120, "green"),
    # forecast: the service's year-end forecast against the annual target
    ("forecast", COUNT, "higher", Tolerance(kind="percent", value=5), 195, 195, 200, "amber"),
    ("forecast", COUNT, "lower", Tolerance(kind="absolute", value=2), 205, 205, 200, "red"),
    ("forecast", COUNT, "higher", Tolerance(kind="percent", value=5), None, None, 200, "missing"),
    # a rate's year to date is the mean of its quarters: 30 against 80
    ("ytd", RATE, "higher", Tolerance(kind="percent", value=5), None, 30, 235 / 3, "red"),
    # a snapshot's year to date is the latest quarter
    ("ytd", SNAP, "lower", Tolerance(kind="percent", value=5), None, 50, 500, "green"),
]


@pytest.mark.parametrize(
    ("basis", "targets", "polarity", "tolerance", "forecast", "value", "target", "status"), CASES
)
def test_each_basis_decides_the_status(
    basis: str,
    targets: Targets,
    polarity: str,
    tolerance: Tolerance,
    forecast: float | None,
    value: float | None,
    target: float,
    status: str,
) -> None:
    got = compared(basis, Q3, targets, ACTUALS, forecast)
    assert got.value == pytest.approx(value) and got.target == pytest.approx(target)
    assert (
        rag(got.value, got.target, "higher" if polarity == "higher" else "lower", tolerance).status == status
    )


def test_year_to_date_with_a_quarter_missing_is_missing_and_says_which() -> None:
    got = compared("ytd", Q3, COUNT, {"2024-25-Q1": 15.0, "2024-25-Q3": 50.0}, None)
    assert got.value is None and "Q2 not reported" in got.basis_note
    assert rag(got.value, got.target, "higher", Tolerance()).status == "missing"


def test_aggregate() -> None:
    assert (aggregate([1, 2, 6], "sum"), aggregate([1, 2, 6], "mean"), aggregate([1, 2, 6], "latest")) == (
        9,
        3,
        6,
    )
    with pytest.raises(ValueError, match="nothing"):
        aggregate([], "sum")
