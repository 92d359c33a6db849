"""``pmf actions``: the actions Scrutiny raises on a cycle, listed and closed."""

from __future__ import annotations

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.interfaces.cli.leading import OrgCommand


@click.group()
def actions() -> None:
    """Actions raised on a cycle (framework.yaml's actions): what, whom, when; chased until closed."""


@actions.command("add")
@click.argument("key", metavar="CYCLE")
@click.argument("what")
@click.option("--to", "assignee", required=True, help="Username of the person who owns the action.")
@click.option("--due", required=True, help="YYYY-MM-DD.")
@click.option("--link", default="", help="A measure code, or 'project CODE'.")
@click.option("--as", "by", required=True)
@pass_app
def actions_add(app: App, key: str, what: str, assignee: str, due: str, link: str, by: str) -> None:
    """Record an action raised on CYCLE."""
    action = app.framework.actions.add(key, what, assignee=assignee, due=due, link=link, by=by)
    click.echo(f"{action.key}: {action.what} ({action.assignee}, due {action.due})")


@actions.command("list", cls=OrgCommand)
@click.argument("organisation")
@click.option("--state", help="Only the actions in this state of the actions workflow (framework.yaml).")
@click.option("--cycle", help="Only the actions raised on this cycle.")
@pass_app
def actions_list(app: App, organisation: str, state: str | None, cycle: str | None) -> None:
    """List the actions (open ones marked when overdue)."""
    app.framework.actions.check_tracked()
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


COMMANDS = (actions,)
