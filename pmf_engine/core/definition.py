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
from pmf_engine.core.period import TAGS, PeriodKind
from pmf_engine.core.yamlload import Document, load_yaml

M = TypeVar("M", bound=BaseModel)
_PATTERN_WORDS: dict[str, str] = {}


def described(pattern: str, words: str) -> str:
    """``pattern``, remembered with what a value of it is (``words``, after "is not"): a value of
    a definition failing it is told so in those words, not as a regular expression."""
    _PATTERN_WORDS[pattern] = words
    return pattern


Name = Annotated[
    str,
    StringConstraints(
        pattern=described(r"^[a-z][a-z0-9_]*$", "a valid name (lower case letters, digits and _)"),
        max_length=64,
    ),
]
MAX_LABEL = 80
"""The most characters a transition's ``label`` (a button's words) may have."""

CANCELLED = "_cancelled"
"""The state of an instance cancelled by an administrator (``pmf_engine.core.cancel``): not a
``Name``, so no workflow can declare it and no transition leaves it."""
CANCELLED_LABEL = "Cancelled"


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


class CascadeDef(_Frozen):
    """What a parent's transition does to its children, in the same transaction: fire
    ``trigger`` on each child of workflow ``children`` that can take it from where it stands
    (each audited as its own entry), or only on those named in the data key ``only``."""

    children: Name
    """The child workflow whose instances are acted on (a child set of this workflow)."""
    trigger: Name
    """The child's trigger to fire (typically one marked ``by_parent``)."""
    only: Name | None = None
    """A data key the actor may fill with child names (service codes or set members); when
    given and not empty, only those children are acted on, and each must be able to take it."""


class TransitionDef(_Frozen):
    """A trigger from any of ``source`` to ``dest``: who may fire it, what it checks, and what it does."""

    trigger: Name
    source: tuple[Name, ...]
    dest: Name
    label: str = ""
    """What a button offering it says (``Sign off for Cabinet``): one line, at most 80
    characters; without one, the trigger in plain words (``shown_label``)."""
    roles: tuple[Name, ...] = ()
    """Who may fire it; required unless ``by_parent``."""
    guards: tuple[Name, ...] = ()
    effects: tuple[Name, ...] = ()
    """Named effects run inside the transition's transaction (``freeze_report``)."""
    reason_required: bool = False
    restart_deadline: bool = False
    """A transition back into the same state keeps the state's deadline clock (``entered + N``
    from the first arrival; reminders already sent are not repeated) unless this is true."""
    fields: tuple[Name, ...] = ()
    """Keys the actor must supply in ``data`` (e.g. ``next_meeting`` when Cabinet defers)."""
    periods: tuple[str, ...] = ()
    """Only in these periods (``Q4``; ``M03``): a stage some periods have and others do not.
    Two transitions may share a trigger and source when their periods do not overlap."""
    cascade: tuple[CascadeDef, ...] = ()
    """What this transition does to the instance's children (reopen their returns, say)."""
    by_parent: bool = False
    """Fired only by a parent's ``cascade``, never by a person; it may leave a terminal state
    (a parent reopening an accepted return)."""

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("label")
    @classmethod
    def _one_short_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("a label is one line: a button shows it")
        if len(value) > MAX_LABEL:
            raise ValueError(f"a label is at most {MAX_LABEL} characters (this one has {len(value)})")
        return value

    def applies_in(self, tag: str | None) -> bool:
        """Whether the transition exists in the period tagged ``tag`` (``None``: in any period)."""
        return not self.periods or tag is None or tag in self.periods

    @property
    def shown_label(self) -> str:
        """Its ``label``, or the trigger in plain words (``close_data_request``: ``Close data request``)."""
        return self.label or self.trigger.replace("_", " ").capitalize()


class ChildSpec(_Frozen):
    """A child set: entering ``spawn_on`` starts one ``workflow`` instance per service of the
    organisation, or one per name listed in ``per`` (a committee, a reviewer)."""

    workflow: Name
    spawn_on: Name
    per: Literal["service"] | tuple[Name, ...] = "service"
    """``service``, or the names of the set's members (keyed ``ORG/PERIOD/NAME``)."""
    settled: tuple[Name, ...] = Field(min_length=1)
    """Child states that count as done for the join."""
    join: tuple[Name, ...] = ()
    """Parent triggers that wait for this set (and the ``children_settled`` guard, which
    waits for every set started so far)."""
    require: Literal["all", "any"] = "all"
    """The join needs all of the set settled, or any one of it."""
    periods: tuple[str, ...] = ()
    """Only started in these periods (``Q4``); in others its join passes with no children."""

    def applies_in(self, tag: str | None) -> bool:
        """Whether the set is started in the period tagged ``tag``."""
        return not self.periods or tag is None or tag in self.periods


class WorkflowDef(_Frozen):
    """A workflow as declared in YAML: its states, the transitions between them, and children it starts."""

    name: Name
    version: str
    title: str = ""
    initial: Name
    period: PeriodKind = "quarter"
    """What one instance covers: a ``quarter`` (2025-26-Q1), a financial ``year`` (2025-26), a
    ``month`` (2025-26-M01) or ``adhoc`` (one piece of work, named by the day it is due)."""
    key: Name | None = None
    """The word its instances' keys begin with when several workflows share a period kind:
    ``planning`` keys a round ``WDC/planning-2025-26``; without one, ``WDC/2025-26``."""
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
    def _by_trigger_source(self) -> dict[tuple[str, str], list[TransitionDef]]:
        found: dict[tuple[str, str], list[TransitionDef]] = {}
        for t in self.transitions:
            for source in t.source:
                found.setdefault((t.trigger, source), []).append(t)
        return found

    def transition(self, trigger: str, source: str, tag: str | None = None) -> TransitionDef | None:
        """The transition ``trigger`` fires from ``source`` in the period tagged ``tag``;
        ``None`` if it cannot fire from there."""
        for t in self._by_trigger_source.get((trigger, source), ()):
            if t.applies_in(tag):
                return t
        return None

    def state_label(self, state: str) -> str:
        """The label people see for ``state`` (``Cancelled`` for a cancelled instance)."""
        found = self.states.get(state)
        return found.label if found is not None else CANCELLED_LABEL if state == CANCELLED else state

    def is_terminal(self, state: str) -> bool:
        """Whether nothing more can happen at ``state`` (a cancelled instance's included)."""
        found = self.states.get(state)
        return found.terminal if found is not None else True

    def allowed_from(self, state: str, tag: str | None = None) -> list[TransitionDef]:
        """Every transition people may fire out of ``state`` (in the period tagged ``tag``), in
        the order the YAML lists them; ``by_parent`` ones are the parent's, not theirs."""
        return [t for t in self.transitions if state in t.source and not t.by_parent and t.applies_in(tag)]

    def instance_key(self, organisation: str, period: str) -> str:
        """The key of this workflow's instance for ``organisation`` and ``period``."""
        return f"{organisation}/{self.key}-{period}" if self.key else f"{organisation}/{period}"

    def joined_by(self, trigger: str) -> list[ChildSpec]:
        """The child sets whose ``join`` names ``trigger``: it waits for them."""
        return [c for c in self.children if trigger in c.join]

    def child_set(self, workflow: str) -> ChildSpec | None:
        """The child set of ``workflow`` instances, if this workflow has one."""
        return next((c for c in self.children if c.workflow == workflow), None)

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name once, in the order first listed, for checking references to triggers."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def acting_roles(self, state: str) -> tuple[str, ...]:
        """Who must act in ``state``: the roles of the first transition listed out of it
        (by convention the way forward; ways back and waivers are listed after it)."""
        out = self.allowed_from(state)
        return out[0].roles if out else ()

    def children_spawned_on(self, state: str, tag: str | None = None) -> list[ChildSpec]:
        """The child sets whose instances start when an instance enters ``state`` (in the
        period tagged ``tag``)."""
        return [c for c in self.children if c.spawn_on == state and c.applies_in(tag)]


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
    """The whole ``roles.yaml``: the roles actors may hold, the segregation-of-duties rules and
    the administration permissions."""

    roles: dict[Name, RoleDef] = Field(min_length=1)
    segregation: tuple[SegregationRule, ...] = ()
    permissions: dict[
        Annotated[
            str,
            StringConstraints(
                pattern=described(
                    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
                    "a permission (names joined by dots, like calendar.manage)",
                )
            ),
        ],
        tuple[Name, ...],
    ] = {}
    """What each role may administer beside firing transitions: a permission the application
    registers (``calendar.manage``, ``people.manage``, ...) and the roles that hold it. Checked
    against the registry and the roles by ``Catalog.load``."""

    def roles_permitted(self, permission: str) -> tuple[str, ...]:
        """The roles that hold ``permission`` (none if the policy gives it to nobody)."""
        return self.permissions.get(permission, ())

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
        pattern = err.get("ctx", {}).get("pattern", "")
        words = _PATTERN_WORDS.get(pattern)
        message = (
            f"{err['input']!r} is not {words}" if words else f"{err['input']!r} does not match {pattern}"
        )
    else:
        message = err["msg"]
    return document.problem(path, message)


def _graph_problems(wf: WorkflowDef, doc: Document) -> Iterable[Problem]:
    states = wf.states
    if wf.initial not in states:
        yield doc.problem(("initial",), f"initial state {wf.initial!r} is not defined")
    yield from _period_problems(wf, doc)
    seen: dict[tuple[str, str], list[tuple[int, frozenset[str]]]] = {}
    edges: dict[str, set[str]] = {s: set() for s in states}
    for i, t in enumerate(wf.transitions):
        yield from _transition_problems(wf, doc, i, t)
        for j, source in enumerate(t.source):
            if source not in states:
                yield doc.problem(
                    ("transitions", i, "source", j) if len(t.source) > 1 else ("transitions", i, "source"),
                    f"transition {t.trigger!r} starts from undefined state {source!r}",
                )
                continue
            periods = frozenset(t.periods)
            for first, other in seen.get((t.trigger, source), []):
                if not periods or not other or periods & other:
                    yield doc.problem(
                        ("transitions", i, "trigger"),
                        f"trigger {t.trigger!r} is defined twice from state {source!r} "
                        f"(first at transitions[{first}])"
                        + (
                            "; give each a 'periods' list, not overlapping"
                            if wf.period in ("quarter", "month")
                            else ""
                        ),
                    )
                    break
            seen.setdefault((t.trigger, source), []).append((i, periods))
            if states[source].terminal and not t.by_parent:
                yield doc.problem(
                    ("transitions", i, "source"),
                    f"terminal state {source!r} cannot have outgoing transition {t.trigger!r} "
                    "(only a 'by_parent: true' one, which the parent's cascade fires)",
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
    yield from _child_set_problems(wf, doc)


def _period_problems(wf: WorkflowDef, doc: Document) -> Iterable[Problem]:
    tags = TAGS[wf.period]
    named = [(("transitions", i), t.periods) for i, t in enumerate(wf.transitions)]
    named += [(("children", i), c.periods) for i, c in enumerate(wf.children)]
    for where, periods in named:
        for j, tag in enumerate(periods):
            if tag not in tags:
                allowed = (
                    ", ".join(tags) if tags else f"nothing: a {wf.period} workflow has one kind of period"
                )
                yield doc.problem(
                    (*where, "periods", j), f"{tag!r} is not a period of a {wf.period}; allowed: {allowed}"
                )


def _transition_problems(wf: WorkflowDef, doc: Document, i: int, t: TransitionDef) -> Iterable[Problem]:
    if t.by_parent and t.roles:
        yield doc.problem(
            ("transitions", i, "roles"),
            f"transition {t.trigger!r} is by_parent: only its parent's cascade fires it, "
            "so it takes no roles",
        )
    if not t.by_parent and not t.roles:
        yield doc.problem(("transitions", i), f"transition {t.trigger!r} needs roles (who may fire it)")
    if t.by_parent and (t.fields or t.guards or t.reason_required):
        yield doc.problem(
            ("transitions", i),
            f"transition {t.trigger!r} is by_parent: the parent's cascade gives it no fields and no "
            "reason of its own, and checks no guards of its own (put them on the parent's transition)",
        )
    for j, cascade in enumerate(t.cascade):
        if wf.child_set(cascade.children) is None:
            yield doc.problem(
                ("transitions", i, "cascade", j, "children"),
                f"{cascade.children!r} is not a child set of {wf.name!r} (its 'children' section)",
            )


def _child_set_problems(wf: WorkflowDef, doc: Document) -> Iterable[Problem]:
    workflows: dict[str, int] = {}
    for i, child in enumerate(wf.children):
        if child.spawn_on not in wf.states:
            yield doc.problem(
                ("children", i, "spawn_on"), f"children spawn on undefined state {child.spawn_on!r}"
            )
        if child.workflow in workflows:
            # Children are told apart by their workflow: a second set of the same one would
            # find every member already started and its join could not be told from the first.
            yield doc.problem(
                ("children", i, "workflow"),
                f"a second child set of {child.workflow!r} "
                f"(the first is children[{workflows[child.workflow]}]); use another child workflow",
            )
        workflows.setdefault(child.workflow, i)
        if not isinstance(child.per, str) and len(set(child.per)) != len(child.per):
            yield doc.problem(("children", i, "per"), "a name is listed twice")
        yield from _key_clashes(wf, doc, i, child)
        for j, trigger in enumerate(child.join):
            if trigger not in wf.triggers:
                yield doc.problem(("children", i, "join", j), f"{wf.name!r} has no trigger {trigger!r}")


def _key_clashes(wf: WorkflowDef, doc: Document, i: int, child: ChildSpec) -> Iterable[Problem]:
    """A child is keyed ``PARENT/NAME`` (its service's code, or its listed name): two sets per
    service, or a name listed in two sets, would give two children one key."""
    for k, earlier in enumerate(wf.children[:i]):
        if child.per == "service" and earlier.per == "service":
            yield doc.problem(
                ("children", i, "per"),
                f"a second child set per service (the first is children[{k}], {earlier.workflow!r}): "
                "their children would have the same key (PARENT/SERVICE); list names for this one",
            )
        elif not isinstance(child.per, str) and not isinstance(earlier.per, str):
            for j, name in enumerate(child.per):
                if name in earlier.per:
                    yield doc.problem(
                        ("children", i, "per", j),
                        f"{name!r} is a member of children[{k}] ({earlier.workflow!r}) too: "
                        "their children would have the same key (PARENT/NAME)",
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
