"""``catalog_problems``: every role, workflow, state, trigger and committee ``framework.yaml``
names that the loaded catalog lacks, each a problem naming the file, line and field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.deadlines import Meeting
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.errors import Problem
from pmf_engine.core.yamlload import Document
from pmf_engine.pmf.policy.framework import FrameworkPolicy
from pmf_engine.pmf.policy.planning import PlansPolicy
from pmf_engine.pmf.policy.quality import SignOffPolicy
from pmf_engine.pmf.policy.reporting import ActionsPolicy


def catalog_problems(
    policy: FrameworkPolicy, doc: Document, catalog: Catalog, *, partial: bool = False
) -> Iterator[Problem]:
    """Every role, workflow, state, trigger and committee ``policy`` names that ``catalog`` lacks."""
    roles = catalog.roles.roles
    reporting, actions = policy.reporting, policy.actions

    def role_problems(path: tuple[str | int, ...], names: Sequence[str], scope: str) -> Iterator[Problem]:
        for i, role in enumerate(names):
            if role not in roles:
                yield doc.problem((*path, i), f"unknown role {role!r}; known: {', '.join(sorted(roles))}")
            elif roles[role].scope != scope:
                yield doc.problem(
                    (*path, i), f"role {role!r} is held {_SCOPES[roles[role].scope]}, not {_SCOPES[scope]}"
                )

    def states_problems(
        path: tuple[str, ...], states_of: Mapping[str, Sequence[str]], kind: str, wanted: Iterable[str]
    ) -> Iterator[Problem]:
        allowed = set(wanted)
        for name, states in states_of.items():
            if name not in catalog.workflows:
                if not partial:
                    yield doc.problem(
                        (*path, name), f"unknown workflow {name!r}; known: {_names(catalog.workflows)}"
                    )
                continue
            if name not in allowed:
                yield doc.problem((*path, name), f"workflow {name!r} is not {kind}")
            yield from _unknown_states(doc, (*path, name), catalog.workflows[name], states)

    yield from role_problems(("reporting", "any_service"), reporting.any_service, "organisation")
    yield from role_problems(("reporting", "own_service"), reporting.own_service, "service")
    children = {c.workflow for wf in catalog.workflows.values() for c in wf.children if c.per == "service"}
    yield from states_problems(
        ("reporting", "open_states"),
        reporting.open_states,
        "started per service by another workflow",
        children,
    )
    for name in sorted(children - reporting.open_states.keys()):
        # Without its open states no figure could ever be entered on that workflow's returns.
        yield doc.problem(
            ("reporting", "open_states"),
            f"per-service workflow {name!r} is missing: list the states in which its figures may change",
        )
    cycles = {name for name, wf in catalog.workflows.items() if wf.start_roles}
    if actions is not None:
        yield from states_problems(
            ("actions", "raised_in"), actions.raised_in, "a cycle (it has no start_roles)", cycles
        )
        yield from role_problems(("actions", "raised_by"), actions.raised_by, "organisation")
        yield from _actions_problems(actions, doc, catalog, partial=partial)
    if policy.targets is not None:
        for field_name in ("agreed_by", "revised_by"):
            for i, stage in enumerate(getattr(policy.targets, field_name)):
                yield from role_problems(("targets", field_name, i, "roles"), stage.roles, "organisation")
    yield from states_problems(
        ("open_data", "published_in"),
        policy.open_data.published_in,
        "a cycle (it has no start_roles)",
        cycles,
    )
    yield from _signing_problems(policy.quality.signing, doc, catalog, children, states_problems)
    for name, days in policy.dashboard.timeliness.items():
        path = ("dashboard", "timeliness", name)
        if name not in catalog.workflows:
            if not partial:
                yield doc.problem(path, f"unknown workflow {name!r}; known: {_names(catalog.workflows)}")
            continue
        if name not in cycles:
            yield doc.problem(path, f"workflow {name!r} is not a cycle (it has no start_roles)")
        states = catalog.workflows[name].states
        for state in days:
            if state not in states:
                known = ", ".join(states)
                yield doc.problem((*path, state), f"{name!r} has no state {state!r}; known: {known}")
    if policy.plans is not None:
        yield from _plans_problems(policy.plans, doc, catalog, role_problems, partial=partial)
    undeclared: dict[str, str] = {}
    for wf in catalog.workflows.values():
        for state, definition in wf.states.items():
            for body in _bodies(definition.rule.anchor if definition.rule else None):
                if body not in policy.calendar.bodies:
                    undeclared.setdefault(body, f"{wf.name} state {state!r}")
    for body, where in undeclared.items():
        message = f"committee {body!r} (named by the deadline of {where}) is not declared"
        yield doc.problem(("calendar", "bodies"), message)


def _plans_problems(
    plans: PlansPolicy,
    doc: Document,
    catalog: Catalog,
    role_problems: Callable[[tuple[str, ...], Sequence[str], str], Iterator[Problem]],
    *,
    partial: bool,
) -> Iterator[Problem]:
    """The plans' round is a cycle whose child set per service is ``workflow``; its roles and
    states exist."""
    yield from role_problems(("plans", "own_service"), plans.own_service, "service")
    yield from role_problems(("plans", "any_service"), plans.any_service, "organisation")
    for field_name, statuses in (
        ("note_statuses", plans.note_statuses),
        ("done_statuses", plans.done_statuses),
    ):
        for i, status in enumerate(statuses):
            if status not in plans.action_statuses:
                yield doc.problem(("plans", field_name, i), f"{status!r} is not one of action_statuses")
    round_wf, plan_wf = catalog.workflows.get(plans.round), catalog.workflows.get(plans.workflow)
    if round_wf is None or plan_wf is None:
        if not partial:
            for field_name, name, found in (
                ("round", plans.round, round_wf),
                ("workflow", plans.workflow, plan_wf),
            ):
                if found is None:
                    yield doc.problem(
                        ("plans", field_name),
                        f"unknown workflow {name!r}; known: {_names(catalog.workflows)}",
                    )
        return
    child = round_wf.child_set(plans.workflow)
    if not round_wf.start_roles or child is None or child.per != "service":
        yield doc.problem(
            ("plans", "round"),
            f"workflow {plans.round!r} must be a cycle (start_roles) starting {plans.workflow!r} per service",
        )
    yield from _unknown_states(doc, ("plans", "editable_in"), plan_wf, plans.editable_in)


def _signing_problems(
    signing: SignOffPolicy | None,
    doc: Document,
    catalog: Catalog,
    children: set[str],
    states_problems: Callable[
        [tuple[str, ...], Mapping[str, Sequence[str]], str, Iterable[str]], Iterator[Problem]
    ],
) -> Iterator[Problem]:
    """The role of ``quality.signing`` (known, held for one service) and its states."""
    if signing is None:
        return
    roles, path = catalog.roles.roles, ("quality", "signing", "role")
    if signing.role not in roles:
        yield doc.problem(path, f"unknown role {signing.role!r}; known: {', '.join(sorted(roles))}")
    elif roles[signing.role].scope != "service":
        yield doc.problem(path, f"role {signing.role!r} is not held for one service")
    yield from states_problems(
        ("quality", "signing", "states"), signing.states, "started per service by another workflow", children
    )


_SCOPES = {"organisation": "organisation-wide", "service": "for one service"}


def _names(workflows: Mapping[str, WorkflowDef]) -> str:
    return ", ".join(sorted(workflows))


def _unknown_states(
    doc: Document, path: tuple[str, ...], wf: WorkflowDef, states: Sequence[str]
) -> Iterator[Problem]:
    for i, state in enumerate(states):
        if state not in wf.states:
            yield doc.problem(
                (*path, i), f"{wf.name!r} has no state {state!r}; known: {', '.join(wf.states)}"
            )


def _bodies(anchor: object) -> Iterator[str]:
    while isinstance(anchor, Meeting):
        yield anchor.body
        anchor = anchor.after


def _actions_problems(
    actions: ActionsPolicy, doc: Document, catalog: Catalog, *, partial: bool
) -> Iterator[Problem]:
    """The actions workflow exists and has the trigger that closes an action."""
    action_wf = catalog.workflows.get(actions.workflow)
    if action_wf is None:
        if not partial:
            yield doc.problem(
                ("actions", "workflow"),
                f"unknown workflow {actions.workflow!r}; known: {_names(catalog.workflows)}",
            )
    elif not any(t.trigger == actions.close_trigger for t in action_wf.transitions):
        known = ", ".join(sorted({t.trigger for t in action_wf.transitions}))
        yield doc.problem(
            ("actions", "close_trigger"),
            f"{actions.workflow!r} has no trigger {actions.close_trigger!r}; known: {known}",
        )
