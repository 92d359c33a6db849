"""Workflow and role-policy definitions: frozen pydantic models loaded from YAML and checked.

Only this module and ``yamlload`` see YAML; the rest of the engine sees these models. Loading
collects every problem it can find (schema, graph, cross-references) and raises one
``DefinitionError`` whose problems each name the file, line and field.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from pmf_engine.core.deadlines import NEXT_MEETING, DeadlineRule, hangs_on_meeting, parse_rule
from pmf_engine.core.errors import DefinitionError, Problem
from pmf_engine.core.escalation import EscalationPolicy
from pmf_engine.core.yamlload import Document, load_yaml

M = TypeVar("M", bound=BaseModel)
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class StateDef(_Frozen):
    """One state of a workflow: its label, whether an instance ends there, an optional deadline
    rule, and what a return to it does when the meeting that deadline hangs on has begun.

    ``on_return`` applies when an instance comes back to the state (from another state, or by
    a transition back into it such as Cabinet deferring) and the meeting its deadline rule
    hangs on, as the cycle pinned it, has already begun: ``next_meeting`` (also what happens
    when it is not declared) takes that committee's next meeting and pins it; a deadline rule
    (``entered + 3 working days``, in which ``entered`` is the moment of the return) is used
    instead of the state's own rule for that stay. While the pinned meeting has not begun, a
    return keeps it. Declaring it on a deadline that hangs on no meeting is refused.
    """

    label: str
    terminal: bool = False
    deadline: str | None = None
    """A deadline rule (``pmf_engine.deadlines``), e.g. ``period_end + 10 working days``."""
    on_return: str | None = None
    """``next_meeting`` or a deadline rule; see the class docstring."""
    description: str = ""

    @field_validator("deadline")
    @classmethod
    def _rule_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rule(value)
        return value

    @field_validator("on_return")
    @classmethod
    def _return_parses(cls, value: str | None) -> str | None:
        if value is not None and value != NEXT_MEETING:
            try:
                parse_rule(value)
            except ValueError as exc:
                raise ValueError(f"expected {NEXT_MEETING!r} or a deadline rule: {exc}") from None
        return value

    @model_validator(mode="after")
    def _return_needs_a_meeting(self) -> StateDef:
        if self.on_return is not None and not hangs_on_meeting(self.rule):
            raise ValueError(
                f"on_return: {self.on_return!r} could never apply: the deadline "
                f"({self.deadline or 'none'}) hangs on no meeting"
            )
        return self

    @cached_property
    def rule(self) -> DeadlineRule | None:
        """The state's deadline rule, parsed once; ``None`` if the state has no deadline."""
        return parse_rule(self.deadline) if self.deadline else None

    @cached_property
    def return_rule(self) -> DeadlineRule | None:
        """The rule a return uses once its meeting has begun; ``None``: the next meeting."""
        return parse_rule(self.on_return) if self.on_return and self.on_return != NEXT_MEETING else None


class TransitionDef(_Frozen):
    """A trigger from any of ``source`` to ``dest``: who may fire it, what it checks, and what it does."""

    trigger: Name
    source: tuple[Name, ...]
    dest: Name
    label: str = ""
    roles: tuple[Name, ...] = Field(min_length=1)
    guards: tuple[Name, ...] = ()
    effects: tuple[Name, ...] = ()
    """Named effects run inside the transition's transaction (``freeze_report``)."""
    reason_required: bool = False
    restart_deadline: bool = False
    """A transition back into the same state keeps the state's deadline clock (``entered + N``
    from the first arrival; reminders already sent are not repeated) unless this is true."""
    fields: tuple[Name, ...] = ()
    """Keys the actor must supply in ``data`` (e.g. ``next_meeting`` when Cabinet defers)."""

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ChildSpec(_Frozen):
    """Entering ``spawn_on`` starts one ``workflow`` instance per service of the organisation."""

    workflow: Name
    spawn_on: Name
    per: Literal["service"] = "service"
    settled: tuple[Name, ...] = Field(min_length=1)
    """Child states that count as done for the ``children_settled`` join guard."""


class WorkflowDef(_Frozen):
    """A workflow as declared in YAML: its states, the transitions between them, and children it starts."""

    name: Name
    version: str
    title: str = ""
    initial: Name
    start_roles: tuple[Name, ...] = ()
    """Roles that may start an instance at the top level (a cycle); none: it is only ever
    started under another instance (a service's return, a Scrutiny action)."""
    states: dict[Name, StateDef] = Field(min_length=1)
    transitions: tuple[TransitionDef, ...] = Field(min_length=1)
    children: tuple[ChildSpec, ...] = ()

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical form: comments and layout do not make a new version."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @cached_property
    def _by_trigger_source(self) -> dict[tuple[str, str], TransitionDef]:
        return {(t.trigger, s): t for t in self.transitions for s in t.source}

    def transition(self, trigger: str, source: str) -> TransitionDef | None:
        """The transition ``trigger`` fires from ``source``; ``None`` if it cannot fire from there."""
        return self._by_trigger_source.get((trigger, source))

    def allowed_from(self, state: str) -> list[TransitionDef]:
        """Every transition out of ``state``, in the order the YAML lists them."""
        return [t for t in self.transitions if state in t.source]

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name once, in the order first listed, for checking references to triggers."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def acting_roles(self, state: str) -> tuple[str, ...]:
        """Who must act in ``state``: the roles of the first transition listed out of it
        (by convention the way forward; ways back and waivers are listed after it)."""
        out = self.allowed_from(state)
        return out[0].roles if out else ()

    def children_spawned_on(self, state: str) -> list[ChildSpec]:
        """The child workflows whose instances start when an instance enters ``state``."""
        return [c for c in self.children if c.spawn_on == state]


class RoleDef(_Frozen):
    """A role in ``roles.yaml``, held organisation-wide or for one service; a read-only one fires nothing."""

    label: str
    scope: Literal["organisation", "service"] = "organisation"
    read_only: bool = False
    description: str = ""


class SegregationRule(_Frozen):
    """Whoever fired one of ``not_after`` on an instance may not fire ``trigger`` on it."""

    name: Name
    description: str = ""
    workflow: Name
    trigger: Name
    not_after: tuple[Name, ...] = Field(min_length=1)


class RolesPolicy(_Frozen):
    """The whole ``roles.yaml``: the roles actors may hold and the segregation-of-duties rules."""

    roles: dict[Name, RoleDef] = Field(min_length=1)
    segregation: tuple[SegregationRule, ...] = ()

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical form: comments and layout do not change it."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Source:
    """A definition together with where it came from, for error messages."""

    document: Document
    text: str


def parse_workflow(text: str, file: str) -> tuple[WorkflowDef, Document]:
    """Schema-check one workflow file; graph checks need the whole catalog (``Catalog.load``)."""
    document = load_yaml(text, file)
    model = validate(WorkflowDef, document)
    problems = list(_graph_problems(model, document))
    if problems:
        raise DefinitionError(problems)
    return model, document


def parse_escalation(text: str, file: str) -> tuple[EscalationPolicy, Document]:
    """Schema-check an escalation policy file, keeping its document so problems can name their lines."""
    document = load_yaml(text, file)
    return validate(EscalationPolicy, document), document


def parse_roles(text: str, file: str) -> tuple[RolesPolicy, Document]:
    """Schema-check a ``roles.yaml`` file; its references to workflows are checked by ``Catalog.load``."""
    document = load_yaml(text, file)
    return validate(RolesPolicy, document), document


def validate(model: type[M], document: Document) -> M:
    """The document's data as ``model``; ``DefinitionError`` lists every schema problem with its line."""
    if not isinstance(document.data, Mapping):
        raise DefinitionError([document.problem((), "expected a mapping at the top level")])
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise DefinitionError([_problem_from_pydantic(document, err) for err in exc.errors()]) from exc


def _problem_from_pydantic(document: Document, err: Any) -> Problem:
    path = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if err["type"] == "extra_forbidden":
        message = f"unknown key {path[-1]!r}"
    elif err["type"] == "missing":
        message = f"required key {path[-1]!r} is missing"
    elif err["type"] == "string_pattern_mismatch":
        message = f"{err['input']!r} is not a valid name (lower case letters, digits and _)"
    else:
        message = err["msg"]
    return document.problem(path, message)


def _graph_problems(wf: WorkflowDef, doc: Document) -> Iterable[Problem]:
    states = wf.states
    if wf.initial not in states:
        yield doc.problem(("initial",), f"initial state {wf.initial!r} is not defined")
    seen: dict[tuple[str, str], int] = {}
    edges: dict[str, set[str]] = {s: set() for s in states}
    for i, t in enumerate(wf.transitions):
        for j, source in enumerate(t.source):
            if source not in states:
                yield doc.problem(
                    ("transitions", i, "source", j) if len(t.source) > 1 else ("transitions", i, "source"),
                    f"transition {t.trigger!r} starts from undefined state {source!r}",
                )
                continue
            if (t.trigger, source) in seen:
                yield doc.problem(
                    ("transitions", i, "trigger"),
                    f"trigger {t.trigger!r} is defined twice from state {source!r} "
                    f"(first at transitions[{seen[(t.trigger, source)]}])",
                )
            seen.setdefault((t.trigger, source), i)
            if states[source].terminal:
                yield doc.problem(
                    ("transitions", i, "source"),
                    f"terminal state {source!r} cannot have outgoing transition {t.trigger!r}",
                )
            if t.dest in states:
                edges[source].add(t.dest)
        if t.dest not in states:
            yield doc.problem(
                ("transitions", i, "dest"),
                f"transition {t.trigger!r} goes to undefined state {t.dest!r}",
            )
    terminals = {s for s, d in states.items() if d.terminal}
    if not terminals:
        yield doc.problem(("states",), "no state is terminal: a cycle could never end")
    if wf.initial in states:
        for state in states.keys() - _reachable({wf.initial}, edges):
            yield doc.problem(("states", state), f"state {state!r} is unreachable from {wf.initial!r}")
    reverse: dict[str, set[str]] = {s: set() for s in states}
    for source, dests in edges.items():
        for dest in dests:
            reverse[dest].add(source)
    if terminals:
        for state in states.keys() - _reachable(terminals, reverse):
            yield doc.problem(("states", state), f"state {state!r} has no path to a terminal state")
    for i, child in enumerate(wf.children):
        if child.spawn_on not in states:
            yield doc.problem(
                ("children", i, "spawn_on"), f"children spawn on undefined state {child.spawn_on!r}"
            )
        if i > 0:
            # One instance per service: a second set finds every service covered by the first,
            # starts nothing, and its join would then pass with no children of its own.
            yield doc.problem(
                ("children", i),
                "a second per-service child set would start no instances "
                f"(the first, {wf.children[0].workflow!r}, already covers every service)",
            )


def _reachable(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
