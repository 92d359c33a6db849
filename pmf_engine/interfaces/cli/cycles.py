"""``pmf cycle`` and ``pmf fire``: start, list, show, migrate and cancel quarterly cycles, and move
them on. A period starting more than a year from now needs ``--yes`` (a typing slip, 2062 for
2026, would otherwise start a cycle nobody can use)."""

from __future__ import annotations

from datetime import date, timedelta

import click

from pmf_engine.core.clock import london
from pmf_engine.core.engine import InstanceStatus
from pmf_engine.core.errors import NotNow
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.period import parse_period
from pmf_engine.core.registry import WORKFLOWS_MANAGE
from pmf_engine.interfaces.cli.context import App, pass_app, permitted


@click.group()
def cycle() -> None:
    """Quarterly cycles."""


@cycle.command("start")
@click.option("--org", "organisation", required=True)
@click.option(
    "--period",
    required=True,
    help="The period, of the kind the workflow runs per: 2024-25-Q1 (quarter), 2024-25 (year), "
    "2024-25-M01 (month) or 2025-03-14 (ad hoc: the day it is due).",
)
@click.option("--as", "by", required=True, help="The performance officer starting it.")
@click.option(
    "--workflow", help="The workflow to start [default: the one startable workflow for that kind of period]."
)
@click.option("--yes", is_flag=True, help="Confirm a period that starts more than a year from now.")
@pass_app
def cycle_start(app: App, organisation: str, period: str, by: str, workflow: str | None, yes: bool) -> None:
    """Start the cycle of an organisation for a quarter."""
    starts = _period_start(period)
    today = london(app.clock.now()).date()
    if starts is not None and starts > today + FAR_AHEAD and not yes:
        raise NotNow(
            f"{period} starts on {starts:%d %B %Y}, more than a year from today ({today:%d %B %Y}): "
            "a typing slip? Give --yes if it is meant"
        )
    try:
        status = app.engine.start_cycle(organisation, period, by=by, workflow=workflow)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    click.echo(f"started {status.key} in {status.state} with {len(status.children)} child instance(s)")


FAR_AHEAD = timedelta(days=365)
"""How far ahead a period may start before starting its cycle needs ``--yes``."""


def _period_start(period: str) -> date | None:
    """The first day of ``period``, or ``None`` when it is not one (the engine says why)."""
    try:
        return parse_period(period).start
    except ValueError:
        return None


@cycle.command("cancel")
@click.argument("key", metavar="CYCLE")
@click.option("--reason", required=True, help="Why the cycle is cancelled (kept in the audit log).")
@click.option(
    "--as", "by", required=True, help="An actor holding workflows.manage in the cycle's organisation."
)
@click.option("--expect-version", type=int, help="Refuse if the cycle has changed since this version.")
@pass_app
def cycle_cancel(app: App, key: str, reason: str, by: str, expect_version: int | None) -> None:
    """Cancel CYCLE and its open returns and actions: their deadlines close and no more
    reminders or escalations are sent (one transaction, each instance audited)."""
    permitted(app, by, WORKFLOWS_MANAGE, InstanceKey.organisation_of(key))
    done = app.framework.cancellation.cancel(key, by=by, reason=reason, expected_version=expect_version)
    click.echo(
        f"{done.cycle} cancelled (it was at {done.from_state}); "
        f"{len(done.instances) - 1} open child instance(s) with it"
    )


@cycle.command("list")
@click.option("--org", "organisation")
@pass_app
def cycle_list(app: App, organisation: str | None) -> None:
    """List cycles."""
    for status in app.engine.cycles(organisation):
        click.echo(f"{status.key:<24} {status.state_label:<34} v{status.version:<4} {status.workflow}")


def _deadline_text(status: InstanceStatus) -> str:
    """When the instance is due, and how late and how far escalated it is."""
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
    """Print a cycle's stage, deadline, next steps and service returns."""
    click.echo(f"{status.key}  [{status.workflow}]  version {status.version}")
    since = f"{london(status.entered_at):%a %d %b %Y %H:%M}"  # as the deadline is written
    click.echo(f"  stage: {status.state_label} ({status.state}) since {since}")
    rule = f"  [{status.deadline.rule}]" if status.deadline else ""
    click.echo(f"  deadline: {_deadline_text(status)}{rule}")
    if status.deadline and status.deadline.next_step:
        kind, rung, when = status.deadline.next_step
        click.echo(f"  next {kind} (step {rung}) at {london(when):%a %d %b %H:%M}")
    _print_next(status, "  ")
    heading = None
    for child in sorted(status.children, key=lambda c: (c.workflow.split("@")[0], c.key)):
        workflow = child.workflow.split("@")[0]
        if workflow != heading:
            heading = workflow
            click.echo(f"  {workflow}:")
        nxt = ", ".join(f"{n.trigger} [{'/'.join(n.roles)}]" for n in child.next_steps) or "-"
        deadline = "done" if child.terminal else _deadline_text(child)
        name = child.key.rsplit("/", 1)[1]
        click.echo(f"    {name:<12} {child.state_label:<24} {deadline:<48} next: {nxt}")


def _print_next(status: InstanceStatus, indent: str) -> None:
    """Print what may happen next to the instance, and by whom."""
    if status.terminal:
        click.echo(f"{indent}closed: nothing more can happen")
    for step in status.next_steps:
        needs = (" reason," if step.reason_required else "") + "".join(f" {f}," for f in step.fields)
        needs += "".join(f" optional {key}=NAME,NAME," for key, _ in step.choices)
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
@click.option(
    "--as", "by", required=True, help="An actor holding workflows.manage in the cycle's organisation."
)
@click.option("--reason")
@pass_app
def cycle_migrate(app: App, key: str, target: str, by: str, reason: str | None) -> None:
    """Move a running cycle to another stored version of its workflow."""
    permitted(app, by, WORKFLOWS_MANAGE, InstanceKey.organisation_of(key))
    version = app.engine.migrate(key, target, by=by, reason=reason)
    click.echo(f"{key} now runs {version.ref}")


def _parse_data(items: tuple[str, ...]) -> dict[str, str]:
    """The --data NAME=VALUE fields as a dict, or a usage error."""
    data: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--data")
        data[name] = value
    return data


@click.command("fire")
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


COMMANDS = (cycle, fire)
