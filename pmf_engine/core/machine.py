"""Compile a ``WorkflowDef`` into one ``transitions.Machine`` per workflow version, cached.

Building a machine costs far more than a transition, so there is one per content hash, shared
by every instance of that version. An instance's state is a database column; to move it the
machine is run against a throw-away token holding that state, and the token's new state is the
answer. Guards and permissions are checked by the engine before this (they need the database
and must say *why* they refuse), so the machine's own job is the graph: which trigger leads
where from which state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from transitions import Machine, MachineError
from transitions.extensions import GraphMachine

from pmf_engine.core.definition import TransitionDef, WorkflowDef


class _Token:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class _DiagramModel:
    """GraphMachine decorates its model with methods, so it cannot be a slotted token."""


@dataclass(frozen=True)
class _InPeriods:
    """The condition of a transition that exists only in some periods: ``tag`` is passed to
    the trigger (``event.trigger(token, tag)``), so transitions picks the one for the period."""

    periods: frozenset[str]

    def __call__(self, tag: str | None = None) -> bool:
        return tag is None or tag in self.periods


def _transition(t: TransitionDef) -> dict[str, object]:
    config: dict[str, object] = {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
    if t.periods:
        config["conditions"] = [_InPeriods(frozenset(t.periods))]
    return config


def _config(wf: WorkflowDef) -> dict[str, object]:
    return {
        "states": list(wf.states),
        "transitions": [_transition(t) for t in wf.transitions],
        "initial": wf.initial,
        "auto_transitions": False,
        "ignore_invalid_triggers": False,
        "name": wf.name,
    }


@dataclass(frozen=True)
class CompiledWorkflow:
    """A workflow version with its compiled ``transitions`` machine, shared by all its instances."""

    definition: WorkflowDef
    machine: Machine
    decided: dict[tuple[str, str, str | None], str] = field(default_factory=dict, compare=False)
    """What the machine answered for each (state, trigger, tag): it has no other inputs."""

    def next_state(self, state: str, trigger: str, tag: str | None = None) -> str:
        """The state ``trigger`` leads to from ``state`` in the period tagged ``tag`` (``Q4``);
        ``MachineError`` if it cannot fire. The machine decides once per (state, trigger, tag):
        its conditions read only the tag, so the answer is the same every time."""
        found = self.decided.get((state, trigger, tag))
        if found is not None:
            return found
        event = self.machine.events.get(trigger)
        if event is None:
            raise MachineError(f"unknown trigger {trigger!r}")
        token = _Token(state)
        if not event.trigger(token, tag):
            raise MachineError(f"{trigger!r} did not fire from {state!r}")
        self.decided[(state, trigger, tag)] = token.state
        return token.state

    def allowed(self, state: str) -> list[TransitionDef]:
        """The transitions out of ``state`` in YAML order (by convention the first is the way forward)."""
        return self.definition.allowed_from(state)

    def mermaid(self) -> str:
        """A Mermaid ``stateDiagram`` drawn by transitions' own Mermaid backend."""
        diagram_model = _DiagramModel()
        GraphMachine(
            model=diagram_model,
            graph_engine="mermaid",
            title=self.definition.title or self.definition.name,
            show_conditions=False,
            **_config(self.definition),  # type: ignore[arg-type]
        )
        text = diagram_model.get_graph().draw(None)  # type: ignore[attr-defined]
        return str(text)


_cache: dict[str, CompiledWorkflow] = {}
_lock = threading.Lock()


def compile_workflow(wf: WorkflowDef) -> CompiledWorkflow:
    """The compiled machine for this version, built once per process."""
    key = wf.content_hash
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = CompiledWorkflow(wf, Machine(model=None, **_config(wf)))  # type: ignore[arg-type]
            _cache[key] = found
    return found


def cache_size() -> int:
    """How many workflow versions have a compiled machine in this process (one per content hash)."""
    return len(_cache)
