"""The ``pmf`` command line. Exit codes: 0 done, 1 refused or invalid, 2 usage."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from pmf_engine.app.demo import run_demo
from pmf_engine.app.logs import configure_logging
from pmf_engine.app.settings import Settings
from pmf_engine.app.wiring import Application
from pmf_engine.core import audit
from pmf_engine.core import outbox as queue
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock, ManualClock, SystemClock, london
from pmf_engine.core.definition import RolesPolicy
from pmf_engine.core.engine import InstanceStatus
from pmf_engine.core.errors import AuditError, DefinitionError, InvalidInput
from pmf_engine.core.machine import compile_workflow
from pmf_engine.core.store import Store, grant_app_role
from pmf_engine.core.worker import Worker, run_forever
from pmf_engine.interfaces.cli.errors import PmfGroup
from pmf_engine.migrations import current_revision, head_revision, upgrade_to_head
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import read_rag
from pmf_engine.pmf.meetings import parse_when
from pmf_engine.pmf.projects import STATES as PROJECT_STATES
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.registry import framework_registry

App = Application


pass_app = click.make_pass_decorator(App)


@click.group(cls=PmfGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL [env PMF_DATABASE_URL; default sqlite:///pmf.db].",
)
@click.option(
    "--workflows",
    "workflows_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workflow YAML folder [env PMF_WORKFLOWS].",
)
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Policy YAML folder [env PMF_POLICIES].",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    help="Log format on stderr [env PMF_LOG_FORMAT].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="[env PMF_LOG_LEVEL; default info].",
)
@click.option(
    "--now",
    "now",
    metavar="WHEN",
    help="Act as if it were WHEN (rehearsing a quarter); default: the real time.",
)
@click.version_option(package_name="pmf-engine")
@click.pass_context
def main(ctx: click.Context, /, now: str | None, **options: Any) -> None:
    """pmf-engine: run a council's quarterly Performance Management Framework cycle."""
    settings = Settings.load(**options)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = App(settings, (lambda: ManualClock(_when(now, "--now"))) if now else SystemClock)


# -- db ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create the database or bring its schema to the newest migration."""
    store = Store(app.settings.database_url, upgrade=False)
    ran = upgrade_to_head(store.engine)
    click.echo(
        f"schema at {current_revision(store.engine)} "
        f"({'upgraded to' if ran else 'already at'} head {head_revision()})"
    )


@db.command("grant-app")
@click.argument("role")
@pass_app
def db_grant_app(app: App, role: str) -> None:
    """(PostgreSQL, as the schema owner) let ROLE run pmf-engine but never change the audit log.

    ROLE may read and write every table except that it may only SELECT and INSERT audit
    entries: UPDATE, DELETE and TRUNCATE on the audit log are not granted, and, not owning
    the table, ROLE cannot drop or disable its triggers either.
    """
    granted = grant_app_role(Store(app.settings.database_url), role)
    click.echo(f"{role}: {granted}")


# -- organisations, services, actors ------------------------------------------------------


@main.group()
def org() -> None:
    """Organisations (councils)."""


@org.command("add")
@click.argument("code")
@click.argument("name")
@click.option(
    "--subdivision",
    default="ENG",
    show_default=True,
    type=click.Choice(["ENG", "WLS", "SCT", "NIR"]),
    help="UK bank holidays to use.",
)
@click.option(
    "--as", "by", default="system", show_default=True, help="Who is doing this (for the audit log)."
)
@pass_app
def org_add(app: App, code: str, name: str, subdivision: str, by: str) -> None:
    """Add organisation CODE called NAME."""
    app.engine.directory.add_organisation(code, name, subdivision=subdivision, by=by)
    click.echo(f"organisation {code} added")


@main.group()
def service() -> None:
    """Services of an organisation."""


@service.command("add")
@click.argument("organisation")
@click.argument("code")
@click.argument("name")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def service_add(app: App, organisation: str, code: str, name: str, by: str) -> None:
    """Add service CODE called NAME to ORGANISATION."""
    app.engine.directory.add_service(organisation, code, name, by=by)
    click.echo(f"service {organisation}/{code} added")


@main.group()
def actor() -> None:
    """People and the roles they hold."""


def _parse_grant(text: str) -> tuple[str, str, str | None]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise click.BadParameter(f"{text!r}: use ROLE:ORG or ROLE:ORG:SERVICE", param_hint="--role")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _check_role(policy: RolesPolicy, role: str, service: str | None) -> None:
    """Refuse, as the directory's grant would, a role that is unknown or of the wrong scope."""
    role_def = policy.roles.get(role)
    if role_def is None:
        raise InvalidInput("role", role, f"unknown role; known: {', '.join(policy.roles)}")
    if role_def.scope == "service" and service is None:
        raise InvalidInput("role", role, "held for one service: name the service")
    if role_def.scope == "organisation" and service is not None:
        raise InvalidInput("role", role, "covers the whole organisation: do not name a service")


@actor.command("add")
@click.argument("username")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", help="E-mail address for reminders.")
@click.option(
    "--role", "roles", multiple=True, metavar="ROLE:ORG[:SERVICE]", help="A role to grant (repeatable)."
)
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_add(app: App, username: str, name: str, email: str | None, roles: tuple[str, ...], by: str) -> None:
    """Add actor USERNAME, optionally with roles."""
    grants = [_parse_grant(r) for r in roles]
    for role, _organisation, svc in grants:  # refuse a bad role before anyone is created
        _check_role(app.catalog.roles, role, svc)
    app.engine.directory.add_actor(username, name, email=email, by=by)
    for role, organisation, svc in grants:
        app.engine.directory.grant(username, role, organisation, service=svc, by=by)
    click.echo(f"actor {username} added" + (f" with {len(grants)} role(s)" if grants else ""))


@actor.command("grant")
@click.argument("username")
@click.argument("grant", metavar="ROLE:ORG[:SERVICE]")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_grant(app: App, username: str, grant: str, by: str) -> None:
    """Give USERNAME a role."""
    role, organisation, svc = _parse_grant(grant)
    app.engine.directory.grant(username, role, organisation, service=svc, by=by)
    click.echo(f"{username} holds {grant}")


@actor.command("list")
@pass_app
def actor_list(app: App) -> None:
    """List actors and their roles."""
    for person, assignments in app.engine.directory.actors():
        roles = ", ".join(
            f"{a.role}@{a.organisation}" + (f"/{a.service}" if a.service else "") for a in assignments
        )
        state = "" if person.active else " (deactivated)"
        click.echo(f"{person.username:<14} {person.name:<28} {roles}{state}")


# -- workflows -----------------------------------------------------------------------------


@main.group()
def workflow() -> None:
    """Workflow definitions."""


@workflow.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--roles",
    "roles_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Roles policy to check role names against [default: POLICIES/roles.yaml].",
)
@pass_app
def workflow_validate(app: App, paths: tuple[Path, ...], roles_path: Path | None) -> None:
    """Check workflow files (or folders of them), and the policies roles.yaml, escalation.yaml
    and rag.yaml when given; one line per problem, exit 1 if any."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    policies = {p.name: p for p in files if p.name in POLICY_FILES}
    given = [p for p in files if p.name not in POLICY_FILES]
    roles_path = roles_path or policies.get("roles.yaml") or app.settings.roles_path
    # Child workflows are resolved among the given files and their neighbours.
    neighbours = {p for g in given for p in g.parent.glob("*.yaml")} - set(given)
    try:
        rag = read_rag(policies["rag.yaml"]) if "rag.yaml" in policies else RagPolicy()
        Catalog.load(
            [*given, *sorted(neighbours)],
            roles_path,
            escalation_path=policies.get("escalation.yaml"),
            registry=framework_registry(rag),
            partial=True,
        )
    except DefinitionError as exc:
        shown = {str(p) for p in files} | {str(roles_path)}
        problems = [p for p in exc.problems if p.file in shown] or list(exc.problems)
        for problem in problems:
            click.echo(str(problem))
        sys.exit(1)
    for path in files:
        click.echo(f"{path}: valid")


POLICY_FILES = ("roles.yaml", "escalation.yaml", "rag.yaml")


@workflow.command("list")
@pass_app
def workflow_list(app: App) -> None:
    """Stored workflow versions (the catalog's current ones are registered first)."""
    current = {wf.content_hash for wf in app.catalog.workflows.values()}
    for version in app.engine.versions():
        mark = "*" if version.content_hash in current else " "
        click.echo(
            f"{mark} {version.id:>3} {version.ref:<32} label {version.label:<10} "
            f"registered {london(version.registered_at):%Y-%m-%d %H:%M}"
        )


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


# -- cycles --------------------------------------------------------------------------------


@main.group()
def cycle() -> None:
    """Quarterly cycles."""


@cycle.command("start")
@click.option("--org", "organisation", required=True)
@click.option("--period", required=True, help="Financial-year quarter, e.g. 2024-25-Q1.")
@click.option("--as", "by", required=True, help="The performance officer starting it.")
@click.option("--workflow", help="The workflow to start [default: the one with start_roles].")
@pass_app
def cycle_start(app: App, organisation: str, period: str, by: str, workflow: str | None) -> None:
    """Start the cycle of an organisation for a quarter."""
    try:
        status = app.engine.start_cycle(organisation, period, by=by, workflow=workflow)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    click.echo(f"started {status.key} in {status.state} with {len(status.children)} service return(s)")


@cycle.command("list")
@click.option("--org", "organisation")
@pass_app
def cycle_list(app: App, organisation: str | None) -> None:
    """List cycles."""
    for status in app.engine.cycles(organisation):
        click.echo(f"{status.key:<24} {status.state_label:<34} v{status.version:<4} {status.workflow}")


def _deadline_text(status: InstanceStatus) -> str:
    d = status.deadline
    if d is None:
        return "no deadline"
    if d.due_at is None:
        return f"deadline unresolved: {d.problem}"
    text = f"due {london(d.due_at):%a %d %b %Y %H:%M}"
    if d.late_working_days:
        text += f", LATE {d.late_working_days} working day{'s' if d.late_working_days != 1 else ''}"
    if d.escalation_rung:
        text += f", escalation step {d.escalation_rung} reached"
    return text


def _print_status(status: InstanceStatus) -> None:
    click.echo(f"{status.key}  [{status.workflow}]  version {status.version}")
    since = f"{london(status.entered_at):%Y-%m-%d %H:%M}"
    click.echo(f"  stage: {status.state_label} ({status.state}) since {since}")
    rule = f"  [{status.deadline.rule}]" if status.deadline else ""
    click.echo(f"  deadline: {_deadline_text(status)}{rule}")
    if status.deadline and status.deadline.next_step:
        kind, rung, when = status.deadline.next_step
        click.echo(f"  next {kind} (step {rung}) at {london(when):%a %d %b %H:%M}")
    _print_next(status, "  ")
    if status.children:
        click.echo("  service returns:")
        for child in status.children:
            nxt = ", ".join(f"{n.trigger} [{'/'.join(n.roles)}]" for n in child.next_steps) or "-"
            deadline = "done" if child.terminal else _deadline_text(child)
            click.echo(f"    {child.service or '-':<12} {child.state_label:<24} {deadline:<48} next: {nxt}")


def _print_next(status: InstanceStatus, indent: str) -> None:
    if status.terminal:
        click.echo(f"{indent}closed: nothing more can happen")
    for step in status.next_steps:
        needs = (" reason," if step.reason_required else "") + "".join(f" {f}," for f in step.fields)
        needs = f" (needs{needs.rstrip(',')})" if needs else ""
        click.echo(f"{indent}next: {step.trigger:<24} -> {step.dest:<20} by {', '.join(step.roles)}{needs}")


@cycle.command("status")
@click.argument("key", metavar="CYCLE")
@pass_app
def cycle_status(app: App, key: str) -> None:
    """Show a cycle: its stage, each service return, and what may happen next, by whom."""
    _print_status(app.engine.status(key))


@cycle.command("migrate")
@click.argument("key", metavar="CYCLE")
@click.option(
    "--to", "target", required=True, metavar="VERSION", help="Version id, NAME@HASH, hash prefix or label."
)
@click.option("--as", "by", required=True)
@click.option("--reason")
@pass_app
def cycle_migrate(app: App, key: str, target: str, by: str, reason: str | None) -> None:
    """Move a running cycle to another stored version of its workflow."""
    version = app.engine.migrate(key, target, by=by, reason=reason)
    click.echo(f"{key} now runs {version.ref}")


def _parse_data(items: tuple[str, ...]) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--data")
        data[name] = value
    return data


@main.command("fire")
@click.argument("key", metavar="CYCLE")
@click.argument("trigger")
@click.option("--as", "by", required=True, help="Who fires it.")
@click.option("--reason", help="Why (required by some transitions).")
@click.option("--service", help="Fire on this service's return instead of the cycle.")
@click.option(
    "--data", "items", multiple=True, metavar="NAME=VALUE", help="A field the transition needs (repeatable)."
)
@click.option("--expect-version", type=int, help="Refuse if the instance has changed since this version.")
@pass_app
def fire(
    app: App,
    key: str,
    trigger: str,
    by: str,
    reason: str | None,
    service: str | None,
    items: tuple[str, ...],
    expect_version: int | None,
) -> None:
    """Fire TRIGGER on CYCLE (or on one service's return) as an actor."""
    target = f"{key}/{service}" if service else key
    result = app.engine.fire(
        target, trigger, by, reason=reason, data=_parse_data(items), expected_version=expect_version
    )
    click.echo(
        f"{result.instance}: {result.from_state} -> {result.to_state} "
        f"by {result.actor} as {result.role} (audit #{result.audit_seq})"
    )


# -- audit ---------------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint written earlier by `pmf audit checkpoint`.",
)
@click.option("--chain", help="Verify one organisation's chain only.")
@pass_app
def audit_verify(app: App, checkpoint_file: Path | None, chain: str | None) -> None:
    """Recompute the hash chains; name the first broken entry and exit 1 if any."""
    mark = _read_checkpoint(checkpoint_file) if checkpoint_file else None
    with app.store.read() as s:
        report = audit.verify(s, chain=chain, checkpoint=mark)
    if not report.ok:
        for problem in report.breaks:
            click.echo(f"BROKEN {problem}")
        sys.exit(1)
    against = f", matches checkpoint {checkpoint_file}" if checkpoint_file else ""
    click.echo(f"audit log verified: {report.entries} entries in {len(report.chains)} chain(s){against}")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise AuditError(f"{path} is not a checkpoint")
    return loaded


@audit_group.command("checkpoint")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def audit_checkpoint(app: App, file: Path) -> None:
    """Write the head of every chain to FILE; keep it outside the database."""
    with app.store.read() as s:
        mark = audit.checkpoint(s, app.engine.clock.now())
    file.write_text(json.dumps(mark, indent=2) + "\n", encoding="utf-8")
    click.echo(f"checkpoint of {mark['entries']} entries in {len(mark['chains'])} chain(s) written to {file}")


@audit_group.command("trail")
@click.argument("key", metavar="CYCLE")
@pass_app
def audit_trail(app: App, key: str) -> None:
    """Print the history of a cycle and its service returns."""
    with app.store.read() as s:
        entries = audit.trail(s, key)
    if not entries:
        raise AuditError(f"no audit entries for {key!r}")
    for e in entries:
        move = f"{e.from_state or ''} -> {e.to_state or ''}" if (e.from_state or e.to_state) else ""
        who = f"{e.actor}" + (f" as {e.role}" if e.role else "")
        why = f'  "{e.reason}"' if e.reason else ""
        click.echo(
            f"#{e.seq:<5} {e.at[:19]}Z {e.event:<14} {e.instance or '':<28} "
            f"{e.trigger or '':<24} {move:<36} {who}{why}"
        )


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: stdout]."
)
@click.option("--chain", help="One organisation's chain only.")
@pass_app
def audit_export(app: App, fmt: str, output: Path | None, chain: str | None) -> None:
    """Export the audit log (CSV cells are escaped against formula injection)."""
    with app.store.read() as s, _open_output(output) as out:
        count = audit.export(audit.iter_entries(s, chain=chain), out, fmt)
    if output:
        click.echo(f"{count} entries written to {output}")


@contextmanager
def _open_output(path: Path | None) -> Iterator[Any]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


# -- performance data -----------------------------------------------------------------------


@main.group()
def measures() -> None:
    """The measures library, and each cycle's RAG status."""


@measures.command("import")
@click.argument("organisation")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def measures_import(app: App, organisation: str, file: Path, by: str) -> None:
    """Add or update measures from CSV or .xlsx (all or nothing; columns: see `measures export`)."""
    added, updated = app.framework.performance.import_measures(organisation, file, by=by)
    click.echo(f"{added} measure(s) added, {updated} updated")


@measures.command("export")
@click.argument("organisation")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def measures_export(app: App, organisation: str, output: Path | None) -> None:
    """Write the measures library as CSV, or Excel when OUTPUT ends .xlsx (cells escaped
    against formula injection)."""
    if output is not None and output.suffix.lower() == ".xlsx":
        count = app.framework.performance.export_measures_xlsx(organisation, output)
        click.echo(f"{count} measure(s) written to {output}")
        return
    with _open_output(output) as out:
        count = app.framework.performance.export_measures(organisation, out)
    if output:
        click.echo(f"{count} measure(s) written to {output}")


@measures.command("list")
@click.argument("organisation")
@pass_app
def measures_list(app: App, organisation: str) -> None:
    """List an organisation's measures."""
    for m, service in app.framework.performance.measures(organisation):
        click.echo(f"{m.code:<10} {m.polarity:<6} {service or '-':<10} {m.theme:<24} {m.title}")


ARROWS = {"improving": "up", "worsening": "down", "no_change": "same", "unknown": "-"}


@measures.command("status")
@click.argument("key", metavar="CYCLE")
@pass_app
def measures_status(app: App, key: str) -> None:
    """Each measure's actual, target, RAG (with the rule applied) and direction of travel."""
    for m in app.framework.performance.status(key):
        actual = "-" if m.actual is None else f"{m.actual:g}"
        target = "-" if m.target is None else f"{m.target:g}"
        trend = f"{ARROWS[m.since_last_quarter]}/{ARROWS[m.since_last_year]}"
        flag = " [exception report]" if m.exception_report else ""
        click.echo(
            f"{m.code:<10} {actual:>8} / {target:<8} {m.rag.status.upper():<9} {trend:<10} {m.rag.rule}{flag}"
        )


@main.group()
def actuals() -> None:
    """Reported actuals."""


@actuals.command("record")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("value")
@click.option("--narrative", default="")
@click.option("--forecast", type=float, help="The service's forecast of the year-end outturn.")
@click.option("--as", "by", required=True)
@pass_app
def actuals_record(
    app: App, key: str, code: str, value: str, narrative: str, forecast: float | None, by: str
) -> None:
    """Record VALUE (a number, or "missing") for measure CODE in CYCLE's period."""
    app.framework.performance.record_actual(
        key, code, _figure(value), narrative=narrative, forecast=forecast, by=by
    )
    click.echo(f"{code}: {value} recorded for {key}")


@actuals.command("import-history")
@click.argument("organisation")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", required=True)
@pass_app
def actuals_import_history(app: App, organisation: str, file: Path, by: str) -> None:
    """Load earlier quarters' actuals (CSV code,period,value,narrative) for quarters with no cycle."""
    count = app.framework.performance.import_history(organisation, file, by=by)
    click.echo(f"{count} historical actual(s) loaded for {organisation}")


@actuals.command("restate")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("value")
@click.option("--reason", required=True, help="Why the reported figure was wrong.")
@click.option("--narrative", default="")
@click.option("--as", "by", required=True)
@pass_app
def actuals_restate(app: App, key: str, code: str, value: str, reason: str, narrative: str, by: str) -> None:
    """Correct a figure of a frozen report; the next report lists the restatement."""
    app.framework.performance.restate(key, code, _figure(value), reason=reason, narrative=narrative, by=by)
    click.echo(f"{code}: restated as {value} for {key}")


def _figure(value: str) -> float | None:
    try:
        return None if value.lower() == "missing" else float(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a number (or 'missing')", param_hint="VALUE") from exc


@main.command("report")
@click.argument("key", metavar="CYCLE")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf", "xlsx"]), default="html", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Check the frozen report against its hash in the audit log.")
@pass_app
def report_command(app: App, key: str, fmt: str, output: Path | None, verify: bool) -> None:
    """Build the quarterly committee report of CYCLE (its frozen figures once signed off)."""
    if verify:
        digest = report.verify_frozen(app.framework.performance, key)
        click.echo(f"{key}: frozen report intact (sha256 {digest})")
        return
    if output is None:
        raise click.UsageError("give --output FILE (or --verify)")
    data = report.gather(app.framework, key)
    if fmt == "html":
        output.write_text(report.html(data), encoding="utf-8")
    elif fmt == "pdf":
        report.pdf(data, output)
    else:
        report.xlsx(data, output)
    state = f"frozen {data.frozen.sha256[:12]}" if data.frozen else "draft"
    click.echo(
        f"{output}: {len(data.content.measures)} measure(s), {len(data.content.projects)} project(s), "
        f"{len(data.content.exceptions)} exception report(s), {len(data.actions)} action(s); {state}"
    )


@main.group()
def returns() -> None:
    """Excel return templates for services, and their import."""


@returns.command("template")
@click.argument("key", metavar="CYCLE")
@click.argument("service")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_app
def returns_template(app: App, key: str, service: str, output: Path) -> None:
    """Write the Excel return SERVICE fills in for CYCLE."""
    count = app.framework.returns.template(key, service, output)
    click.echo(f"{output}: {count} measure(s) and project(s) for {service}")


@returns.command("import")
@click.argument("key", metavar="CYCLE")
@click.argument("service")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", required=True)
@pass_app
def returns_import(app: App, key: str, service: str, file: Path, by: str) -> None:
    """Import a filled-in Excel return (every problem listed; all or nothing)."""
    count = app.framework.returns.import_return(key, service, file, by=by)
    click.echo(f"{count} actual(s) recorded for {service}")


@actuals.command("import")
@click.argument("key", metavar="CYCLE")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", required=True)
@pass_app
def actuals_import(app: App, key: str, file: Path, by: str) -> None:
    """Record actuals from a CSV file (columns code,value,narrative; all or nothing)."""
    count = app.framework.performance.import_actuals(key, file, by=by)
    click.echo(f"{count} actual(s) recorded for {key}")


@main.group()
def exceptions() -> None:
    """Exception reports for red measures and off-track projects."""


@exceptions.command("add")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.option("--reason", required=True)
@click.option("--action", "remedial_action", required=True, help="The remedial action.")
@click.option("--owner", required=True)
@click.option("--recovery", "recovery_date", required=True, help="Expected recovery date, YYYY-MM-DD.")
@click.option("--project", is_flag=True, help="CODE is a project, not a measure.")
@click.option("--as", "by", required=True)
@pass_app
def exceptions_add(
    app: App,
    key: str,
    code: str,
    reason: str,
    remedial_action: str,
    owner: str,
    recovery_date: str,
    project: bool,
    by: str,
) -> None:
    """Add (or replace) the exception report of a measure (or project) in a cycle."""
    app.framework.performance.add_exception_report(
        key,
        code,
        reason=reason,
        remedial_action=remedial_action,
        owner=owner,
        recovery_date=recovery_date,
        project=project,
        by=by,
    )
    click.echo(f"exception report for {code} recorded")


@exceptions.command("list")
@click.argument("key", metavar="CYCLE")
@pass_app
def exceptions_list(app: App, key: str) -> None:
    """List a cycle's exception reports."""
    for code, entry in app.framework.performance.exception_reports(key):
        what = f"{entry.reason} -> {entry.remedial_action}"
        click.echo(f"{code:<10} owner {entry.owner:<12} recovery {entry.recovery_date}  {what}")


@main.group()
def projects() -> None:
    """Council Plan projects, their milestones and quarterly status."""


@projects.command("import")
@click.argument("organisation")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def projects_import(app: App, organisation: str, file: Path, by: str) -> None:
    """Add or update projects and milestones from CSV (one row per milestone; all or nothing)."""
    added, updated = app.framework.projects.import_projects(organisation, file, by=by)
    click.echo(f"{added} project(s) added, {updated} updated")


@projects.command("list")
@click.argument("organisation")
@pass_app
def projects_list(app: App, organisation: str) -> None:
    """List projects with their milestones."""
    for project, service, milestones in app.framework.projects.projects(organisation):
        click.echo(f"{project.code:<10} {service or '-':<10} {project.title}")
        for m in milestones:
            done = f"completed {m.completed_on}" if m.completed_on else "open"
            click.echo(f"{'':<12}due {m.due}  {done:<20} {m.title}")


@projects.command("update")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("status", type=click.Choice(list(PROJECT_STATES)))
@click.option("--narrative", default="")
@click.option("--as", "by", required=True)
@pass_app
def projects_update(app: App, key: str, code: str, status: str, narrative: str, by: str) -> None:
    """Report a project's status for CYCLE's quarter."""
    app.framework.projects.update(key, code, status, narrative=narrative, by=by)
    click.echo(f"{code}: {status} recorded for {key}")


@projects.command("status")
@click.argument("key", metavar="CYCLE")
@pass_app
def projects_status(app: App, key: str) -> None:
    """Each project's reported status and overdue milestones for CYCLE."""
    for p in app.framework.projects.status(key):
        overdue = [m.title for m in p.milestones if m.overdue]
        late = f"  overdue: {', '.join(overdue)}" if overdue else ""
        flag = " [exception report]" if p.exception_report else ""
        click.echo(f"{p.code:<10} {p.status.upper():<10} {p.title}{late}{flag}")


@main.group()
def actions() -> None:
    """Scrutiny actions: what, whom, when; chased until closed."""


@actions.command("add")
@click.argument("key", metavar="CYCLE")
@click.argument("what")
@click.option("--to", "assignee", required=True, help="Username of the person who owns the action.")
@click.option("--due", required=True, help="YYYY-MM-DD.")
@click.option("--link", default="", help="A measure code, or 'project CODE'.")
@click.option("--as", "by", required=True)
@pass_app
def actions_add(app: App, key: str, what: str, assignee: str, due: str, link: str, by: str) -> None:
    """Record an action Scrutiny raised on CYCLE."""
    action = app.framework.actions.add(key, what, assignee=assignee, due=due, link=link, by=by)
    click.echo(f"{action.key}: {action.what} ({action.assignee}, due {action.due})")


@actions.command("list")
@click.argument("organisation")
@click.option("--state", type=click.Choice(["open", "closed"]))
@click.option("--cycle", help="Only the actions raised on this cycle.")
@pass_app
def actions_list(app: App, organisation: str, state: str | None, cycle: str | None) -> None:
    """List Scrutiny actions (open ones marked when overdue)."""
    for a in app.framework.actions.list_for(organisation, state=state, cycle=cycle):
        status = "OVERDUE" if a.overdue else a.state.upper()
        note = f"  -- {a.note}" if a.note else ""
        click.echo(f"{a.key:<24} {status:<8} due {a.due}  {a.assignee:<12} {a.what}{note}")


@actions.command("close")
@click.argument("key", metavar="ACTION")
@click.option("--note", required=True, help="What was done.")
@click.option("--as", "by", required=True)
@pass_app
def actions_close(app: App, key: str, note: str, by: str) -> None:
    """Close an action with a note."""
    action = app.framework.actions.close(key, note=note, by=by)
    click.echo(f"{action.key}: closed by {action.closed_by}")


# -- committee calendar -------------------------------------------------------------------


def _when(value: str, name: str) -> datetime:
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from exc


@main.group()
def calendar() -> None:
    """Committee meetings (CMT, Leadership Team, Cabinet, Scrutiny, ...)."""


@calendar.command("add")
@click.option("--org", "organisation", required=True)
@click.argument("body")
@click.argument("when")
@click.option("--title", default="")
@click.option("--location", default="")
@click.option("--uid", help="Stable identity (default: made from org, body and time).")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def calendar_add(
    app: App, organisation: str, body: str, when: str, title: str, location: str, uid: str | None, by: str
) -> None:
    """Add a meeting of BODY at WHEN (London time, e.g. "2024-09-11 18:00")."""
    meeting = app.framework.calendar.add(
        organisation, body, _when(when, "WHEN"), title=title, location=location, uid=uid, by=by
    )
    click.echo(
        f"meeting {meeting.id} {meeting.body} at {london(meeting.starts_at):%a %d %b %Y %H:%M} "
        f"({meeting.uid})"
    )


@calendar.command("list")
@click.option("--org", "organisation", required=True)
@click.option("--body")
@pass_app
def calendar_list(app: App, organisation: str, body: str | None) -> None:
    """List meetings."""
    for m in app.framework.calendar.list(organisation, body):
        click.echo(f"{m.id:>4} {m.body:<12} {london(m.starts_at):%a %d %b %Y %H:%M}  {m.title:<30} {m.uid}")


@calendar.command("move")
@click.option("--org", "organisation", required=True)
@click.argument("meeting", metavar="MEETING")
@click.argument("when")
@click.option("--as", "by", required=True)
@click.option("--reason")
@pass_app
def calendar_move(app: App, organisation: str, meeting: str, when: str, by: str, reason: str | None) -> None:
    """Move MEETING (id or uid) to WHEN; deadlines that depend on it follow."""
    count = app.framework.calendar.move(organisation, meeting, _when(when, "WHEN"), by=by, reason=reason)
    click.echo(f"meeting moved; {count} deadline(s) recomputed")


@calendar.command("import")
@click.option("--org", "organisation", required=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def calendar_import(app: App, organisation: str, file: Path, by: str) -> None:
    """Import meetings from a .yaml, .csv or .ics file (all or nothing)."""
    done = app.framework.calendar.import_file(organisation, file, by=by)
    click.echo(
        f"{done.added} added, {done.moved} moved, {done.unchanged} unchanged; "
        f"{done.deadlines_recomputed} deadline(s) recomputed"
    )


@calendar.command("export")
@click.argument("key", metavar="CYCLE")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File [default: stdout]."
)
@pass_app
def calendar_export(app: App, key: str, output: Path | None) -> None:
    """Write an iCalendar (.ics) feed of a cycle's open deadlines."""
    data = app.framework.calendar.export_ics(key)
    if output:
        output.write_bytes(data)
        click.echo(f"{output} written")
    else:
        click.echo(data.decode(), nl=False)


# -- worker, tick, outbox ----------------------------------------------------------------------


def _worker(app: App, clock: Clock, worker_id: str | None) -> Worker:
    return app.worker(clock, worker_id)


@main.command("worker")
@click.option("--interval", type=float, default=30.0, show_default=True, help="Seconds between sweeps.")
@click.option("--id", "worker_id", help="Worker name in claims and the audit log [default: host:pid].")
@pass_app
def worker_command(app: App, interval: float, worker_id: str | None) -> None:
    """Run the scheduler worker in the foreground: fire due reminders and escalations, send mail."""
    run_forever(_worker(app, app.clock, worker_id), interval)


@main.command("tick")
@click.option(
    "--at", "at", required=True, help="The time to act as now (London time unless an offset is given)."
)
@click.option("--id", "worker_id", default="tick", show_default=True)
@pass_app
def tick(app: App, at: str, worker_id: str) -> None:
    """Run one sweep and one delivery round as if it were AT (for cron and tests)."""
    swept, delivered = _worker(app, ManualClock(_when(at, "--at")), worker_id).tick()
    click.echo(
        f"fired {swept.fired} step(s) into {swept.messages} message(s); "
        f"sent {delivered.sent}, failed {delivered.failed}, dead-lettered {delivered.dead}"
    )


@main.group()
def outbox() -> None:
    """Messages waiting, sent and dead-lettered."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "dead"]))
@click.option("--limit", type=int, default=50, show_default=True)
@pass_app
def outbox_list(app: App, status: str | None, limit: int) -> None:
    """List messages, newest first."""
    for m in queue.listing(app.store, status, limit):
        error = f"  last error: {m.last_error}" if m.last_error else ""
        click.echo(f"{m.id:>5} {m.status:<8} try {m.attempts} {m.recipient:<14} {m.subject}{error}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Every dead-lettered message.")
@pass_app
def outbox_retry(app: App, ids: tuple[int, ...], retry_all: bool) -> None:
    """Send dead-lettered messages again (by id, or --all)."""
    if not ids and not retry_all:
        raise click.UsageError("name message ids or use --all")
    count = queue.retry(app.store, app.engine.clock.now(), list(ids) or None)
    click.echo(f"{count} message(s) queued again")


# -- demo ------------------------------------------------------------------------------------


@main.command("demo")
@click.option(
    "--db-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pmf-demo.db"),
    show_default=True,
    help="SQLite file to create afresh.",
)
@click.option("--verbose", is_flag=True, help="Also write the engine's log events to stderr.")
@pass_app
def demo(app: App, db_file: Path, verbose: bool) -> None:
    """Seed an example council and drive one whole quarter end to end."""
    if not verbose:
        configure_logging(app.settings.log_format, "error")
    ok = run_demo(db_file, app.catalog, app.rag, click.echo)
    sys.exit(0 if ok else 1)


@actor.command("password")
@click.argument("username")
@click.option("--as", "by", default="system", show_default=True)
@click.password_option(
    prompt="New password", help="Read from the prompt (or PMF_PASSWORD).", envvar="PMF_PASSWORD"
)
@pass_app
def actor_password(app: App, username: str, by: str, password: str) -> None:
    """Set USERNAME's password for the web application (argon2id; at least 12 characters)."""
    from pmf_engine.core.accounts import Accounts  # noqa: PLC0415

    Accounts(app.store, app.clock).set_password(username, password, by=by)
    click.echo(f"password set for {username}")


@actor.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_token(app: App, username: str, name: str, by: str) -> None:
    """Create an API token for USERNAME (shown once; stored as a SHA-256)."""
    from pmf_engine.core.accounts import Accounts  # noqa: PLC0415

    click.echo(Accounts(app.store, app.clock).create_token(username, name, by=by))


@actor.command("revoke-tokens")
@click.argument("username")
@click.option("--name", help="Only the tokens with this name (default: all).")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_revoke_tokens(app: App, username: str, name: str | None, by: str) -> None:
    """Revoke USERNAME's API tokens."""
    from pmf_engine.core.accounts import Accounts  # noqa: PLC0415

    count = Accounts(app.store, app.clock).revoke_tokens(username, name=name, by=by)
    click.echo(f"{count} token(s) revoked for {username}")


if __name__ == "__main__":  # pragma: no cover
    main()
