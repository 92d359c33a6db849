"""``pmf workflow``: check workflow and policy files, and show the stored and current workflows."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import london
from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.machine import compile_workflow
from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.pmf.framework import FRAMEWORK_FILE, RAG_FILE, RISK_FILE, read_policies
from pmf_engine.pmf.lginform import POLICY_FILE, read_policy_file
from pmf_engine.pmf.moderngov.policy import FILE as MODERNGOV_FILE
from pmf_engine.pmf.moderngov.policy import read_moderngov
from pmf_engine.pmf.registry import framework_registry


@click.group()
def workflow() -> None:
    """Workflow definitions."""


POLICY_FILES = (
    "roles.yaml",
    "escalation.yaml",
    RAG_FILE,
    FRAMEWORK_FILE,
    RISK_FILE,
    POLICY_FILE,
    MODERNGOV_FILE,
)


@workflow.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--roles",
    "roles_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Roles policy to check role names against [default: POLICIES/roles.yaml].",
)
@pass_app
def workflow_validate(app: App, paths: tuple[Path, ...], roles_path: Path | None) -> None:
    """Check workflow files (or folders of them), and the policies roles.yaml, escalation.yaml,
    rag.yaml, framework.yaml, risk.yaml, comparators.yaml and moderngov.yaml when given (roles.yaml and
    framework.yaml: else those of POLICIES); by default the configured workflow and policy
    folders (the shipped ones if the working folder has none); one line per problem, exit 1 if any."""
    paths = paths or (app.settings.workflows_dir, app.settings.policies_dir)
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    policies = {p.name: p for p in files if p.name in POLICY_FILES}
    given = [p for p in files if p.name not in POLICY_FILES]
    roles_path = roles_path or policies.get("roles.yaml") or app.settings.roles_path
    framework_path = policies.get(FRAMEWORK_FILE) or app.settings.policies_dir / FRAMEWORK_FILE
    # Child workflows are resolved among the given files and their neighbours.
    neighbours = {p for g in given for p in g.parent.glob("*.yaml")} - set(given)
    try:
        if POLICY_FILE in policies:
            read_policy_file(policies[POLICY_FILE])
        checked = read_policies(policies.get(RAG_FILE), framework_path, policies.get(RISK_FILE))
        catalog = Catalog.load(
            [*given, *sorted(neighbours)],
            roles_path,
            escalation_path=policies.get("escalation.yaml"),
            registry=framework_registry(checked),
            partial=True,
        )
        # Given framework.yaml is checked against every workflow loaded; the default one only
        # against those it shares with them.
        checked.check(catalog, partial=FRAMEWORK_FILE not in policies)
        if MODERNGOV_FILE in policies:  # its committees map to framework.yaml's bodies
            read_moderngov(policies[MODERNGOV_FILE], frozenset(checked.framework.calendar.bodies))
    except DefinitionError as exc:
        shown = {str(p) for p in files} | {str(roles_path), str(framework_path)}
        problems = [p for p in exc.problems if p.file in shown] or list(exc.problems)
        for problem in problems:
            click.echo(str(problem))
        sys.exit(1)
    for path in files:
        click.echo(f"{path}: valid")


@workflow.command("list")
@pass_app
def workflow_list(app: App) -> None:
    """Stored workflow versions (the catalog's current ones are registered first)."""
    current = {wf.content_hash for wf in app.catalog.workflows.values()}
    marked = False
    for version in app.engine.versions():
        mark = "*" if version.content_hash in current else " "
        marked = marked or mark == "*"
        click.echo(
            f"{mark} {version.id:>3} {version.ref:<32} label {version.label:<10} "
            f"registered {london(version.registered_at):%Y-%m-%d %H:%M}"
        )
    if marked:
        click.echo("* the version the workflow files hold now (new instances start on it)")


@workflow.command("show")
@click.argument("name")
@pass_app
def workflow_show(app: App, name: str) -> None:
    """Show a workflow's states and transitions."""
    wf = app.catalog.workflow(name)
    click.echo(f"{wf.name} {wf.version} ({wf.content_hash[:12]}): {wf.title}")
    click.echo("states:")
    for state, definition in wf.states.items():
        extra = " [terminal]" if definition.terminal else ""
        deadline = f"  deadline: {definition.deadline}" if definition.deadline else ""
        click.echo(f"  {state:<20} {definition.label}{extra}{deadline}")
    click.echo("transitions:")
    for t in wf.transitions:
        notes = [f"roles {', '.join(t.roles)}"]
        notes += [f"guards {', '.join(t.guards)}"] if t.guards else []
        notes += ["reason required"] if t.reason_required else []
        notes += [f"fields {', '.join(t.fields)}"] if t.fields else []
        click.echo(f"  {t.trigger:<24} {'|'.join(t.source)} -> {t.dest}  ({'; '.join(notes)})")
    for child in wf.children:
        click.echo(
            f"children: {child.workflow} per {child.per} on entering {child.spawn_on}; "
            f"settled when {', '.join(child.settled)}"
        )


@workflow.command("diagram")
@click.argument("name")
@pass_app
def workflow_diagram(app: App, name: str) -> None:
    """Print a Mermaid state diagram of a workflow."""
    click.echo(compile_workflow(app.catalog.workflow(name)).mermaid())


COMMANDS = (workflow,)
