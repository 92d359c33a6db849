"""RAG status and direction of travel (``policies/rag.yaml``): pure decisions from values.

Green meets the target; amber misses it by no more than the tolerance (a percentage of the
target, or an absolute amount); red misses it by more. ``no_target`` and ``missing`` say why
there is no colour. Every result carries the rule applied, so a report can show it beside the
status. Direction of travel compares with the previous quarter and the same quarter last year
using the measure's polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.pmf.words import plain_number

Polarity = Literal["higher", "lower"]
Basis = Literal["period", "ytd", "forecast"]
Status = Literal["green", "amber", "red", "no_target", "missing"]
Direction = Literal["improving", "worsening", "no_change", "unknown"]
STATUS_WORDS: dict[str, str] = {
    "green": "Green",
    "amber": "Amber",
    "red": "Red",
    "no_target": "No target",
    "missing": "Missing",
}
"""Each status as every page, report and summary says it (``Green``, never ``GREEN``)."""


def status_words(status: str) -> str:
    """A RAG ``status`` in words, as the pages, the reports and the summaries write it."""
    return STATUS_WORDS.get(status) or status.replace("_", " ").capitalize()


class Tolerance(BaseModel):
    """How far a figure may miss its target and still be amber: a percentage or an amount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["percent", "absolute"] = "percent"
    value: float = Field(default=5.0, ge=0)

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.kind == "percent" else f"{self.value:g}"


class MeasureRule(BaseModel):
    """One measure's own tolerance or basis, overriding the policy's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tolerance: Tolerance | None = None
    basis: Basis | None = None


class RagPolicy(BaseModel):
    """The RAG policy (``policies/rag.yaml``): tolerance, basis and per-measure overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tolerance: Tolerance = Tolerance()
    basis: Basis = "period"
    no_change_within: float = Field(default=0.0, ge=0)
    """Changes no larger than this (absolute) count as no change in direction of travel."""
    measures: dict[str, MeasureRule] = {}
    """Per-measure overrides by measure code."""

    def rule_for(self, code: str) -> tuple[Tolerance, Basis]:
        """The tolerance and basis that decide measure ``code``."""
        override = self.measures.get(code, MeasureRule())
        return override.tolerance or self.tolerance, override.basis or self.basis


@dataclass(frozen=True)
class Rag:
    """A RAG status and the rule that decided it."""

    status: Status
    rule: str
    """How the status was decided, in words a reader of the report understands."""


def rag(actual: float | None, target: float | None, polarity: Polarity, tolerance: Tolerance) -> Rag:
    """The RAG status of ``actual`` against ``target``."""
    better = "higher" if polarity == "higher" else "lower"
    if target is None:
        return Rag("no_target", "no target set for this period")
    if actual is None:
        return Rag("missing", "no actual reported")
    shortfall = (target - actual) if polarity == "higher" else (actual - target)
    if shortfall <= 0:
        return Rag("green", f"meets target {plain_number(target)} ({better} is better)")
    allowed = abs(target) * tolerance.value / 100 if tolerance.kind == "percent" else tolerance.value
    within = f"within {tolerance} of target {plain_number(target)} ({better} is better)"
    if shortfall <= allowed:
        return Rag("amber", f"misses target but {within}")
    return Rag("red", f"misses target {plain_number(target)} by more than {tolerance} ({better} is better)")


def direction(
    current: float | None, before: float | None, polarity: Polarity, no_change_within: float = 0
) -> Direction:
    """Whether performance moved the right way since ``before``."""
    if current is None or before is None:
        return "unknown"
    change = current - before
    if abs(change) <= no_change_within:
        return "no_change"
    return "improving" if (change > 0) == (polarity == "higher") else "worsening"
