"""Performance data as one service: the measures library (``measures``), reported actuals
(``actuals``), each measure's RAG status and trend per cycle (``status``) and exception reports
(``exceptions``), which the shipped cycle requires for every red measure before Leadership Team
sign-off.

``Performance`` is what the framework, the CLI and the web app hold; this module also re-exports
the names they import from it.
"""

from __future__ import annotations

from pmf_engine.core.clock import Clock
from pmf_engine.core.store import Store
from pmf_engine.core.versions import Versions
from pmf_engine.pmf.actuals import ActualIn, Actuals, read_actuals
from pmf_engine.pmf.exceptions import ExceptionReports
from pmf_engine.pmf.measures import (
    ANNUAL_PREFIX,
    COLUMNS,
    TARGET_PREFIX,
    MeasureIn,
    MeasureLibrary,
    measure_targets,
    read_measures,
)
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.reporting import cycle_of
from pmf_engine.pmf.status import MeasureStatus, measure_statuses

__all__ = [
    "ANNUAL_PREFIX",
    "COLUMNS",
    "TARGET_PREFIX",
    "ActualIn",
    "MeasureIn",
    "MeasureStatus",
    "Performance",
    "measure_statuses",
    "measure_targets",
    "read_actuals",
    "read_measures",
]


class Performance(MeasureLibrary, Actuals, ExceptionReports):
    """The measures library, actuals, RAG status and exception reports of an engine's store."""

    def __init__(self, store: Store, clock: Clock, policies: FrameworkPolicies, versions: Versions) -> None:
        super().__init__(store, clock, policies, versions)
        self.rag = policies.rag

    def status(self, cycle: str) -> list[MeasureStatus]:
        """Every measure of the cycle's organisation with its RAG, rule and trend."""
        with self.store.read() as s:
            return measure_statuses(s, cycle_of(s, cycle), self.rag)
