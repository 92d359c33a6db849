"""``pmf worker``, ``pmf tick`` and ``pmf outbox``: fire due reminders and escalations, deliver
messages, and look after the ones that could not be sent."""

from __future__ import annotations

import click

from pmf_engine.app.wiring import settle_heap
from pmf_engine.core import outbox as queue
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.provenance import stamp
from pmf_engine.core.registry import ORGANISATION_MANAGE
from pmf_engine.core.worker import run_forever
from pmf_engine.interfaces.cli.context import App, parse_time, pass_app, permitted


@click.command("worker")
@click.option("--interval", type=float, default=30.0, show_default=True, help="Seconds between sweeps.")
@click.option("--id", "worker_id", help="Worker name in claims and the audit log [default: host:pid].")
@pass_app
def worker_command(app: App, interval: float, worker_id: str | None) -> None:
    """Run the scheduler worker in the foreground: fire due reminders and escalations, send mail."""
    worker = app.worker(app.clock, worker_id)
    settle_heap()
    run_forever(worker, interval)


@click.command("tick")
@click.option(
    "--at", "at", required=True, help="The time to act as now (London time unless an offset is given)."
)
@click.option("--id", "worker_id", default="tick", show_default=True)
@pass_app
def tick(app: App, at: str, worker_id: str) -> None:
    """Run one sweep and one delivery round as if it were AT (for cron and tests). AT more
    than a minute from the real time is a rehearsal's: a rehearsal database only."""
    app.rehearsal = True  # a database this creates may rehearse; an existing one keeps what it is
    swept, delivered = app.worker(ManualClock(parse_time(at, "--at")), worker_id).tick()
    click.echo(
        f"fired {swept.fired} step(s) into {swept.messages} message(s); "
        f"sent {delivered.sent}, failed {delivered.failed}, dead-lettered {delivered.dead}"
    )


@click.group()
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
@click.option("--as", "by", required=True, help="Who is doing this: an actor whose roles permit it.")
@pass_app
def outbox_retry(app: App, ids: tuple[int, ...], retry_all: bool, by: str) -> None:
    """Send dead-lettered messages again (by id, or --all): a deployment's administration
    (``organisation.manage``), audited."""
    if not ids and not retry_all:
        raise click.UsageError("name message ids or use --all")
    permitted(app, by, ORGANISATION_MANAGE)
    count = queue.retry(app.store, app.engine.clock.now(), list(ids) or None, by=by, data=stamp({}))
    click.echo(f"{count} message(s) queued again")


COMMANDS = (worker_command, tick, outbox)
