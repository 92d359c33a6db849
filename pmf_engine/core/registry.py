"""The registry of named guards and effects that workflow YAML may refer to.

A *guard* takes a ``GuardContext`` (the session, the instance, its workflow and the data given)
and returns ``None`` when it holds, or a sentence saying why it does not. An *effect* runs
inside the transition's transaction, after the move and its audit entry, so both happen or
neither. The core registers only domain-free ones (``children_settled``, the join); an
application adds its own with ``Registry.guard`` / ``Registry.effect`` and hands the registry to
``Catalog.load``, which refuses a workflow naming anything not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.instances import ChildView, InstanceRow, child_views


@dataclass(frozen=True)
class GuardContext:
    """What a guard may look at: read it, never write through it."""

    session: Session
    instance: InstanceRow
    workflow: WorkflowDef
    data: Mapping[str, Any]

    @cached_property
    def children(self) -> Sequence[ChildView]:
        """The instance's per-service children (read once per check)."""
        return child_views(self.session, self.instance.id)


@dataclass(frozen=True)
class EffectContext:
    """What an effect works with: the open transaction and the transition that was fired."""

    session: Session
    instance: InstanceRow
    trigger: str
    actor: str
    now: datetime


Guard = Callable[[GuardContext], "str | None"]
Effect = Callable[[EffectContext], None]


@dataclass
class Registry:
    """Guards and effects by name."""

    guards: dict[str, Guard] = field(default_factory=dict)
    effects: dict[str, Effect] = field(default_factory=dict)

    def guard(self, name: str) -> Callable[[Guard], Guard]:
        """Register a guard under ``name`` (a decorator); a name may be taken once."""

        def register(func: Guard) -> Guard:
            if name in self.guards:
                raise ValueError(f"guard {name!r} is already registered")
            self.guards[name] = func
            return func

        return register

    def effect(self, name: str) -> Callable[[Effect], Effect]:
        """Register an effect under ``name`` (a decorator); a name may be taken once."""

        def register(func: Effect) -> Effect:
            if name in self.effects:
                raise ValueError(f"effect {name!r} is already registered")
            self.effects[name] = func
            return func

        return register


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


def core_registry() -> Registry:
    """A new registry holding the core's own guards; applications add theirs to it."""
    registry = Registry()
    registry.guard("children_settled")(children_settled)
    return registry
