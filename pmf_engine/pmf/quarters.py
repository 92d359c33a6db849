"""The quarter a cycle reports on: the framework's figures, RAG and reports are quarterly."""

from __future__ import annotations

from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance


def quarter_of(inst: Instance) -> Period:
    """The quarter ``inst`` covers; ``InvalidInput`` naming it when it runs per year, month or
    ad hoc (a planning round has no quarterly figures, RAG or committee report)."""
    try:
        return Period.parse(inst.period)
    except ValueError:
        raise InvalidInput(
            "cycle",
            inst.key,
            f"it covers {inst.period}, not a quarter: figures, RAG and reports belong to quarterly cycles",
        ) from None
