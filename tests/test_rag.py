"""RAG and direction of travel, table-driven over both polarities and both tolerance kinds."""

from __future__ import annotations

import pytest

from pmf_engine.pmf.rag import RagPolicy, Tolerance, direction, rag
from tests.conftest import RAG

PCT5 = Tolerance(kind="percent", value=5)
ABS2 = Tolerance(kind="absolute", value=2)


@pytest.mark.parametrize(
    ("actual", "target", "polarity", "tolerance", "status"),
    [
        (100, 100, "higher", PCT5, "green"),
        (101, 100, "higher", PCT5, "green"),
        (95, 100, "higher", PCT5, "amber"),  # exactly 5 % short
        (94.9, 100, "higher", PCT5, "red"),
        (100, 100, "lower", PCT5, "green"),
        (105, 100, "lower", PCT5, "amber"),
        (105.1, 100, "lower", PCT5, "red"),
        (90, 100, "lower", PCT5, "green"),
        (18, 20, "higher", ABS2, "amber"),
        (17.9, 20, "higher", ABS2, "red"),
        (22, 20, "lower", ABS2, "amber"),
        (22.5, 20, "lower", ABS2, "red"),
        (0, 0, "lower", PCT5, "green"),
        (1, 0, "lower", PCT5, "red"),  # 5 % of zero is zero
        (None, 100, "higher", PCT5, "missing"),
        (50, None, "higher", PCT5, "no_target"),
        (None, None, "higher", PCT5, "no_target"),
    ],
)
def test_rag(
    actual: float | None, target: float | None, polarity: str, tolerance: Tolerance, status: str
) -> None:
    result = rag(actual, target, polarity, tolerance)  # type: ignore[arg-type]
    assert result.status == status
    assert result.rule  # always says which rule applied
    if status in ("amber", "red"):
        assert str(tolerance) in result.rule and f"{polarity} is better" in result.rule


@pytest.mark.parametrize(
    ("current", "before", "polarity", "within", "expected"),
    [
        (10, 8, "higher", 0, "improving"),
        (10, 8, "lower", 0, "worsening"),
        (8, 10, "lower", 0, "improving"),
        (10, 10, "higher", 0, "no_change"),
        (10.4, 10, "higher", 0.5, "no_change"),
        (None, 10, "higher", 0, "unknown"),
        (10, None, "lower", 0, "unknown"),
    ],
)
def test_direction_of_travel(
    current: float | None, before: float | None, polarity: str, within: float, expected: str
) -> None:
    assert direction(current, before, polarity, within) == expected  # type: ignore[arg-type]


def test_policy_overrides_per_measure() -> None:
    policy = RAG
    assert policy.rule_for("HOU-01") == (ABS2, "period")
    assert policy.rule_for("ANY-99") == (PCT5, "period")
    custom = RagPolicy.model_validate({"basis": "ytd", "measures": {"X": {"basis": "forecast"}}})
    assert custom.rule_for("X")[1] == "forecast" and custom.rule_for("Y")[1] == "ytd"


@pytest.mark.parametrize(
    ("actual", "target", "rule"),
    [
        (70_000, 62_500, "meets target 62,500 (higher is better)"),
        (1_160, 1_212.5, "within 5% of target 1,212.5 (higher is better)"),
        (10, 28.25, "misses target 28.25 by more than 5% (higher is better)"),
    ],
)
def test_the_rule_writes_a_target_as_people_do(actual: float, target: float, rule: str) -> None:
    """Found by a new user: "meets target 62500" beside "£62,500.00" on the same page."""
    found = rag(actual, target, "higher", PCT5)
    assert found.rule.removeprefix("misses target but ") == rule
