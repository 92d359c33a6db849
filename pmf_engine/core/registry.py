"""The registry of named guards and effects that workflow YAML may refer to.

A *guard* takes a ``GuardContext`` (the session, the instance, its workflow and the data given)
and returns ``None`` when it holds, or a sentence saying why it does not. An *effect* runs
inside the transition's transaction, after the move and its audit entry, so both happen or
neither. The core registers only domain-free ones (``children_settled``, the join); an
application adds its own with ``Registry.guard`` / ``Registry.effect`` and hands the registry to
``Catalog.load``, which refuses a workflow naming anything not in it, or naming one that works only
in some kinds of period (``PeriodLimit``) in a workflow run per another. The registry also lists
the administration *permissions* (``people.manage``, ...) that ``roles.yaml`` gives to roles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from pmf_engine.core.definition import ChildSpec, WorkflowDef
from pmf_engine.core.instances import ChildView, InstanceRow, child_views
from pmf_engine.core.period import PeriodKind
from pmf_engine.core.raw import Statement
from pmf_engine.core.tx import Tx


@dataclass(frozen=True)
class GuardContext:
    """What a guard may look at: read it, never write through it."""

    tx: Tx
    """The fire's transaction (``session``: a Session in it, made when first asked for)."""
    instance: InstanceRow
    workflow: WorkflowDef
    data: Mapping[str, Any]

    tag: str | None = None
    """The instance's period tag (``Q4``), for child sets started only in some periods."""

    workflows: Mapping[str, WorkflowDef] = field(default_factory=dict)
    """The catalog's workflows by name: a child's state is named by its workflow's label."""

    prefetched: Mapping[str, list[Any]] = field(default_factory=dict)
    """Rows a guard declared it reads (``Registry.guard(reads=)``), already read by the fire's
    first round trip on PostgreSQL, by guard name; a guard without them reads for itself."""

    @cached_property
    def session(self) -> Session:
        """A Session in the fire's transaction."""
        return self.tx.session

    @cached_property
    def children(self) -> Sequence[ChildView]:
        """The instance's children of its declared child sets (read once per check)."""
        return child_views(self.session, self.instance.id, {c.workflow for c in self.workflow.children})


@dataclass(frozen=True)
class EffectContext:
    """What an effect works with: the open transaction and the transition that was fired."""

    tx: Tx
    instance: InstanceRow
    trigger: str
    actor: str
    now: datetime

    @cached_property
    def session(self) -> Session:
        """A Session in the fire's transaction, made when an effect first asks for one, after
        the fire's own writes are sent (so it reads them). An effect that decides it has
        nothing to do without asking costs the fire no round trip (on PostgreSQL)."""
        self.tx.raw.flush()
        return self.tx.session


Guard = Callable[[GuardContext], "str | None"]
GuardReads = Callable[[str], "tuple[Statement, Mapping[str, Any]] | None"]
"""Given an instance's key, the one read a guard will want (or ``None``): sent with the fire's
first round trip on PostgreSQL, its rows handed to the guard as ``GuardContext.prefetched``."""
Effect = Callable[[EffectContext], None]


@dataclass(frozen=True)
class PeriodLimit:
    """The kinds of period a guard or effect works in, and why: ``Catalog.load`` refuses it on
    a workflow run per another kind, rather than let it fail (or pass unread) when fired."""

    kinds: tuple[PeriodKind, ...]
    why: str
    """Said in the refusal (``it reads the quarter's figures``)."""


@dataclass
class Registry:
    """Guards and effects by name."""

    guards: dict[str, Guard] = field(default_factory=dict)
    guard_reads: dict[str, GuardReads] = field(default_factory=dict)
    effects: dict[str, Effect] = field(default_factory=dict)
    limits: dict[tuple[str, str], PeriodLimit] = field(default_factory=dict)
    """The period kinds some guards and effects work in, by (``guard`` or ``effect``, name)."""
    permissions: dict[str, str] = field(default_factory=dict)
    """Administration permissions ``roles.yaml`` may give to roles, each with what it allows."""

    def permission(self, name: str, description: str) -> None:
        """Declare the permission ``name`` (``calendar.manage``); a name may be taken once."""
        if name in self.permissions:
            raise ValueError(f"permission {name!r} is already registered")
        self.permissions[name] = description

    def guard(
        self, name: str, *, reads: GuardReads | None = None, only: PeriodLimit | None = None
    ) -> Callable[[Guard], Guard]:
        """Register a guard under ``name`` (a decorator); a name may be taken once. ``reads``
        declares what it reads, so the engine can read it with the instance (see ``GuardReads``);
        ``only``, the kinds of period it works in (any when ``None``)."""

        def register(func: Guard) -> Guard:
            if name in self.guards:
                raise ValueError(f"guard {name!r} is already registered")
            self.guards[name] = func
            if reads is not None:
                self.guard_reads[name] = reads
            if only is not None:
                self.limits["guard", name] = only
            return func

        return register

    def effect(self, name: str, *, only: PeriodLimit | None = None) -> Callable[[Effect], Effect]:
        """Register an effect under ``name`` (a decorator); a name may be taken once. ``only``:
        the kinds of period it works in (any when ``None``)."""

        def register(func: Effect) -> Effect:
            if name in self.effects:
                raise ValueError(f"effect {name!r} is already registered")
            self.effects[name] = func
            if only is not None:
                self.limits["effect", name] = only
            return func

        return register


def join_problem(
    sets: Sequence[ChildSpec],
    children: Sequence[ChildView],
    tag: str | None,
    *,
    started_only: bool = False,
    workflows: Mapping[str, WorkflowDef] | None = None,
) -> str | None:
    """Why the child sets ``sets`` are not settled yet, or ``None`` when they are: all of a
    set (or any one, for ``require: any``) in its settled states. A set the period does not
    have counts as settled; one not started yet does not, unless ``started_only``. A waiting
    child's state is said by its label in ``workflows`` (its stored name without one)."""
    problems: list[str] = []
    known = workflows or {}

    def said(c: ChildView) -> str:
        wf = known.get(c.workflow)
        return f"{c.name} ({wf.state_label(c.state) if wf is not None else c.state})"

    for spec in sets:
        members = [c for c in children if c.workflow == spec.workflow]
        if not members:
            if spec.applies_in(tag) and not started_only:
                problems.append(f"no {spec.workflow} instances exist yet")
            continue
        waiting = [said(c) for c in members if c.state not in spec.settled]
        if spec.require == "any" and len(waiting) == len(members):
            problems.append(f"none of {len(members)} settled yet: {', '.join(waiting)}")
        elif spec.require == "all" and waiting:
            problems.append(f"{len(waiting)} of {len(members)} still open: {', '.join(waiting)}")
    return "; ".join(problems) or None


def children_settled(ctx: GuardContext) -> str | None:
    """The join over every child set started so far (a set's own ``join`` names the triggers
    that wait for it alone)."""
    if not ctx.children:
        return "no child instances exist yet"
    return join_problem(
        ctx.workflow.children, ctx.children, ctx.tag, started_only=True, workflows=ctx.workflows
    )


def core_registry() -> Registry:
    """A new registry holding the core's own guards; applications add theirs to it."""
    registry = Registry()
    registry.guard("children_settled")(children_settled)
    registry.permission(ORGANISATION_MANAGE, "add organisations and their services")
    registry.permission(PEOPLE_MANAGE, "add people, grant roles, set passwords and API tokens")
    registry.permission(WORKFLOWS_MANAGE, "move a running cycle to another workflow version, or cancel it")
    return registry


ORGANISATION_MANAGE = "organisation.manage"
"""The core's permission to add organisations and services."""
PEOPLE_MANAGE = "people.manage"
"""The core's permission to add actors and grant them roles."""
WORKFLOWS_MANAGE = "workflows.manage"
"""The core's permission to migrate a running cycle to another stored workflow version."""
