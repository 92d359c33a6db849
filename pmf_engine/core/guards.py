"""Named guards: small pure functions that YAML refers to by name.

A guard takes a ``GuardContext`` and returns ``None`` when it holds, or a sentence saying why
it does not. Unknown names fail when the catalog loads, never at run time. Later capabilities
(exception reports before sign-off, for example) register more guards here with ``@guard``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmf_engine.core.definition import WorkflowDef


@dataclass(frozen=True, slots=True)
class ChildView:
    workflow: str
    service: str
    state: str


@dataclass(frozen=True)
class GuardContext:
    workflow: WorkflowDef
    instance: str
    state: str
    data: Mapping[str, Any]
    load_children: Callable[[], Sequence[ChildView]] = field(default=lambda: ())
    load_missing_exception_reports: Callable[[], Sequence[str]] = field(default=lambda: ())

    @cached_property
    def children(self) -> Sequence[ChildView]:
        return self.load_children()


Guard = Callable[[GuardContext], str | None]
GUARDS: dict[str, Guard] = {}


def guard(name: str) -> Callable[[Guard], Guard]:
    """Register a guard under ``name``."""

    def register(func: Guard) -> Guard:
        if name in GUARDS:
            raise ValueError(f"guard {name!r} is already registered")
        GUARDS[name] = func
        return func

    return register


@guard("children_settled")
def children_settled(ctx: GuardContext) -> str | None:
    """The join: every child instance is in one of its spec's settled states."""
    settled = {c.workflow: set(c.settled) for c in ctx.workflow.children}
    waiting = sorted(
        f"{c.service} ({c.state})" for c in ctx.children if c.state not in settled.get(c.workflow, set())
    )
    if not ctx.children:
        return "no child instances exist yet"
    if waiting:
        return f"{len(waiting)} of {len(ctx.children)} still open: {', '.join(waiting)}"
    return None


@guard("exception_reports_complete")
def exception_reports_complete(ctx: GuardContext) -> str | None:
    """Every red measure of the cycle has an exception report."""
    missing = ctx.load_missing_exception_reports()
    if missing:
        return f"red measure(s) without an exception report: {', '.join(missing)}"
    return None
