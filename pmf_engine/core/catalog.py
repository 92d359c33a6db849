"""The catalog: every workflow and policy file of a deployment, loaded and checked against each
other and against the registry of guards and effects the application supplies.

Loading collects every problem it can find and raises one ``DefinitionError`` whose problems
each name the file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pmf_engine.core.definition import (
    RolesPolicy,
    WorkflowDef,
    parse_escalation,
    parse_roles,
    parse_workflow,
)
from pmf_engine.core.errors import DefinitionError, InvalidInput, NotFound, Problem
from pmf_engine.core.escalation import RECIPIENT_TOKENS, EscalationPolicy
from pmf_engine.core.period import parse_period
from pmf_engine.core.registry import Registry, core_registry
from pmf_engine.core.yamlload import Document, read_definition


@dataclass(frozen=True)
class Catalog:
    """Every workflow and the roles policy, checked against each other and the guard registry."""

    workflows: Mapping[str, WorkflowDef]
    roles: RolesPolicy
    sources: Mapping[str, str]
    """Workflow name -> source text, stored with each version for the audit trail."""
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    registry: Registry = field(default_factory=core_registry)
    """The guards and effects the workflows were checked against (and ``fire`` calls)."""

    @classmethod
    def load(
        cls,
        workflow_paths: Iterable[Path],
        roles_path: Path,
        *,
        escalation_path: Path | None = None,
        registry: Registry | None = None,
        partial: bool = False,
    ) -> Catalog:
        """Load and cross-check; raise one ``DefinitionError`` listing every problem found.

        ``registry`` holds the guards and effects workflows may name (the core's own if none).

        ``partial`` is for checking some files on their own: policy rules about workflows
        that are not among them are not reported.
        """
        registry = registry or core_registry()
        problems: list[Problem] = []
        roles: RolesPolicy | None = None
        roles_doc: Document | None = None
        try:
            roles, roles_doc = parse_roles(read_definition(roles_path), str(roles_path))
        except DefinitionError as exc:
            problems.extend(exc.problems)
        parsed: dict[str, tuple[WorkflowDef, Document, str]] = {}
        for path in workflow_paths:
            try:
                text = read_definition(path)
                wf, doc = parse_workflow(text, str(path))
            except DefinitionError as exc:
                problems.extend(exc.problems)
                continue
            if wf.name in parsed:
                problems.append(
                    doc.problem(
                        ("name",), f"workflow {wf.name!r} is also defined in {parsed[wf.name][1].file}"
                    )
                )
                continue
            parsed[wf.name] = (wf, doc, text)
        for wf, doc, _ in parsed.values():
            problems.extend(_reference_problems(wf, doc, parsed, roles))
        problems.extend(_key_problems(parsed))
        if roles is not None and roles_doc is not None:
            workflows = {name: wf for name, (wf, _, _) in parsed.items()}
            problems.extend(_segregation_problems(roles, roles_doc, workflows, partial=partial))
            problems.extend(_permission_problems(roles, roles_doc, registry))
        unknown_guards = [
            doc.problem(
                ("transitions", i, "guards", j),
                f"unknown guard {g!r}; known: {', '.join(sorted(registry.guards))}",
            )
            for wf, doc, _ in parsed.values()
            for i, t in enumerate(wf.transitions)
            for j, g in enumerate(t.guards)
            if g not in registry.guards
        ]
        problems.extend(unknown_guards)
        problems.extend(
            doc.problem(
                ("transitions", i, "effects", j),
                f"unknown effect {e!r}; known: {', '.join(sorted(registry.effects))}",
            )
            for wf, doc, _ in parsed.values()
            for i, t in enumerate(wf.transitions)
            for j, e in enumerate(t.effects)
            if e not in registry.effects
        )
        problems.extend(_period_limit_problems(parsed, registry))
        escalation = EscalationPolicy()
        if escalation_path is not None:
            try:
                escalation, escalation_doc = parse_escalation(
                    read_definition(escalation_path), str(escalation_path)
                )
                workflows = {name: wf for name, (wf, _, _) in parsed.items()}
                problems.extend(_escalation_problems(escalation, escalation_doc, workflows, roles))
            except DefinitionError as exc:
                problems.extend(exc.problems)
        if problems:
            raise DefinitionError(problems)
        assert roles is not None
        return cls(
            workflows={name: wf for name, (wf, _, _) in parsed.items()},
            roles=roles,
            sources={name: text for name, (_, _, text) in parsed.items()},
            escalation=escalation,
            registry=registry,
        )

    @classmethod
    def from_dirs(
        cls, workflows_dir: Path, policies_dir: Path, *, registry: Registry | None = None
    ) -> Catalog:
        """Every ``*.yaml`` workflow in one folder with ``roles.yaml`` (and ``escalation.yaml``)."""
        escalation = policies_dir / "escalation.yaml"
        return cls.load(
            sorted(workflows_dir.glob("*.yaml")),
            policies_dir / "roles.yaml",
            escalation_path=escalation if escalation.exists() else None,
            registry=registry,
        )

    def default_workflow(self, period: str | None = None) -> str:
        """The one workflow that can be started at the top level (for ``period``'s kind, when
        given: a year's planning round beside a quarter's cycle), when there is exactly one."""
        startable = [name for name, wf in self.workflows.items() if wf.start_roles]
        kind = _kind_of(period)
        fitting = [name for name in startable if kind is None or self.workflows[name].period == kind]
        if len(fitting) != 1:
            known = ", ".join(f"{n} (per {self.workflows[n].period})" for n in sorted(startable))
            raise InvalidInput(
                "workflow", None, f"name the workflow to start; startable: {known or 'none (no start_roles)'}"
            )
        return fitting[0]

    def workflow(self, name: str) -> WorkflowDef:
        """The loaded workflow ``name``; ``NotFound`` if the catalog has none of that name."""
        try:
            return self.workflows[name]
        except KeyError:
            raise NotFound("workflow", name) from None


def _reference_problems(
    wf: WorkflowDef,
    doc: Document,
    parsed: Mapping[str, tuple[WorkflowDef, Document, str]],
    roles: RolesPolicy | None,
) -> Iterable[Problem]:
    if roles is not None:
        for i, role in enumerate(wf.start_roles):
            if role not in roles.roles:
                yield doc.problem(("start_roles", i), f"unknown role {role!r}")
        for i, t in enumerate(wf.transitions):
            for j, role in enumerate(t.roles):
                if role not in roles.roles:
                    yield doc.problem(("transitions", i, "roles", j), f"unknown role {role!r}")
                elif roles.roles[role].read_only:
                    yield doc.problem(("transitions", i, "roles", j), f"role {role!r} is read-only")
    for i, child in enumerate(wf.children):
        if child.workflow not in parsed:
            yield doc.problem(
                ("children", i, "workflow"), f"child workflow {child.workflow!r} does not exist"
            )
            continue
        child_wf = parsed[child.workflow][0]
        if child_wf.period != wf.period:
            yield doc.problem(
                ("children", i, "workflow"),
                f"child workflow {child.workflow!r} runs per {child_wf.period}, its parent per {wf.period}",
            )
        for j, state in enumerate(child.settled):
            if state not in child_wf.states:
                yield doc.problem(
                    ("children", i, "settled", j),
                    f"{state!r} is not a state of child workflow {child.workflow!r}",
                )
    for i, t in enumerate(wf.transitions):
        for j, cascade in enumerate(t.cascade):
            target = parsed.get(cascade.children)
            if target is None:
                continue
            moves = [m for m in target[0].transitions if m.trigger == cascade.trigger]
            if not moves:
                yield doc.problem(
                    ("transitions", i, "cascade", j, "trigger"),
                    f"child workflow {cascade.children!r} has no trigger {cascade.trigger!r}",
                )
            elif not all(m.by_parent for m in moves):
                yield doc.problem(
                    ("transitions", i, "cascade", j, "trigger"),
                    f"{cascade.children!r} trigger {cascade.trigger!r} is not marked by_parent: a cascade "
                    "fires only transitions that leave their checks to the parent",
                )
    if not wf.children:
        for i, t in enumerate(wf.transitions):
            if "children_settled" in t.guards:
                yield doc.problem(
                    ("transitions", i, "guards"), "guard 'children_settled' needs a children section"
                )


def _period_limit_problems(
    parsed: Mapping[str, tuple[WorkflowDef, Document, str]], registry: Registry
) -> Iterable[Problem]:
    """A guard or effect that works only in some kinds of period, named by a workflow run per
    another (a child runs per its parent's kind: checked with the children)."""
    for wf, doc, _ in parsed.values():
        for i, t in enumerate(wf.transitions):
            named = [("guard", "guards", j, g) for j, g in enumerate(t.guards)]
            named += [("effect", "effects", j, e) for j, e in enumerate(t.effects)]
            for what, key, j, name in named:
                limit = registry.limits.get((what, name))
                if limit is not None and wf.period not in limit.kinds:
                    kinds = " or ".join(limit.kinds)
                    yield doc.problem(
                        ("transitions", i, key, j),
                        f"{what} {name!r} works only in a workflow run per {kinds} ({limit.why}); "
                        f"{wf.name!r} runs per {wf.period}: take it off this transition",
                    )


def _kind_of(period: str | None) -> str | None:
    if period is None:
        return None
    try:
        return parse_period(period).kind
    except ValueError:
        return None


def _key_problems(parsed: Mapping[str, tuple[WorkflowDef, Document, str]]) -> Iterable[Problem]:
    """Two startable workflows whose instances would get the same keys."""
    taken: dict[tuple[str, str | None], str] = {}
    for name, (wf, doc, _) in parsed.items():
        if not wf.start_roles:
            continue
        first = taken.setdefault((wf.period, wf.key), name)
        if first != name:
            yield doc.problem(
                ("key",) if wf.key else ("name",),
                f"{name!r} and {first!r} both run per {wf.period} with "
                + (f"key {wf.key!r}" if wf.key else "no 'key'")
                + ": their instances' keys would collide; give one of them another 'key'",
            )


def _segregation_problems(
    roles: RolesPolicy, doc: Document, workflows: Mapping[str, WorkflowDef], *, partial: bool
) -> Iterable[Problem]:
    for i, rule in enumerate(roles.segregation):
        wf = workflows.get(rule.workflow)
        if wf is None:
            if partial:
                continue
            yield doc.problem(("segregation", i, "workflow"), f"unknown workflow {rule.workflow!r}")
            continue
        for key, trigger in [("trigger", rule.trigger), *(("not_after", t) for t in rule.not_after)]:
            if trigger not in wf.triggers:
                yield doc.problem(
                    ("segregation", i, key), f"workflow {rule.workflow!r} has no trigger {trigger!r}"
                )


def _permission_problems(roles: RolesPolicy, doc: Document, registry: Registry) -> Iterable[Problem]:
    """Each permission is one the registry knows, given to known roles that may act; each the
    registry knows is given to some role (else nobody could do it)."""
    for name, holders in roles.permissions.items():
        if name not in registry.permissions:
            known = ", ".join(sorted(registry.permissions))
            yield doc.problem(("permissions", name), f"unknown permission {name!r}; known: {known}")
            continue
        for i, role in enumerate(holders):
            role_def = roles.roles.get(role)
            if role_def is None:
                yield doc.problem(("permissions", name, i), f"unknown role {role!r}")
            elif role_def.read_only:
                yield doc.problem(("permissions", name, i), f"read-only role {role!r} cannot hold {name!r}")
    for name in sorted(set(registry.permissions) - set(roles.permissions)):
        yield doc.problem(
            ("permissions",) if roles.permissions else (),
            f"no role holds permission {name!r} ({registry.permissions[name]}): give it to one",
        )


def _escalation_problems(
    policy: EscalationPolicy,
    doc: Document,
    workflows: Mapping[str, WorkflowDef],
    roles: RolesPolicy | None,
) -> Iterable[Problem]:
    for where, name in policy.role_names():
        if name not in RECIPIENT_TOKENS and roles is not None and name not in roles.roles:
            path = tuple(int(p) if p.isdigit() else p for p in where.split("."))
            yield doc.problem(path, f"unknown role {name!r} (or 'acting' or 'assignee')")
    for i, override in enumerate(policy.overrides):
        wf = workflows.get(override.workflow)
        if wf is None:
            yield doc.problem(("overrides", i, "workflow"), f"unknown workflow {override.workflow!r}")
        elif override.state is not None and override.state not in wf.states:
            yield doc.problem(
                ("overrides", i, "state"), f"{override.workflow!r} has no state {override.state!r}"
            )
