"""``pmf calendar``: committee meetings that deadlines hang on, and an iCalendar feed of deadlines."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.core.clock import london
from pmf_engine.interfaces.cli.context import App, names_output, parse_time, pass_app, permitted
from pmf_engine.interfaces.cli.library import Import, import_command
from pmf_engine.pmf.moderngov.sync import ACTOR as MODERNGOV_ACTOR
from pmf_engine.pmf.registry import CALENDAR_MANAGE


@click.group()
def calendar() -> None:
    """Committee meetings (of the bodies framework.yaml's calendar names)."""


@calendar.command("add")
@click.option("--org", "organisation", required=True)
@click.argument("body")
@click.argument("when")
@click.option("--title", default="")
@click.option("--location", default="")
@click.option("--uid", help="Stable identity (default: made from org, body and time).")
@click.option("--as", "by", required=True, help="Who is doing this: an actor holding calendar.manage.")
@pass_app
def calendar_add(
    app: App, organisation: str, body: str, when: str, title: str, location: str, uid: str | None, by: str
) -> None:
    """Add a meeting of BODY at WHEN (London time, e.g. "2024-09-11 18:00")."""
    permitted(app, by, CALENDAR_MANAGE, organisation)
    meeting = app.framework.calendar.add(
        organisation, body, parse_time(when, "WHEN"), title=title, location=location, uid=uid, by=by
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
@click.option("--as", "by", required=True, help="Who is doing this: an actor holding calendar.manage.")
@click.option("--reason")
@pass_app
def calendar_move(app: App, organisation: str, meeting: str, when: str, by: str, reason: str | None) -> None:
    """Move MEETING (id or uid) to WHEN; deadlines that depend on it follow."""
    permitted(app, by, CALENDAR_MANAGE, organisation)
    count = app.framework.calendar.move(organisation, meeting, parse_time(when, "WHEN"), by=by, reason=reason)
    click.echo(f"meeting moved; {count} deadline(s) recomputed")


@calendar.command("cancel")
@click.option("--org", "organisation", required=True)
@click.argument("meeting", metavar="MEETING")
@click.option("--reason", required=True, help="Why it will not take place (kept in the audit log).")
@click.option("--as", "by", required=True, help="Who is doing this: an actor holding calendar.manage.")
@pass_app
def calendar_cancel(app: App, organisation: str, meeting: str, reason: str, by: str) -> None:
    """Cancel MEETING (id or uid): it leaves the calendar, and deadlines reckoned from it move
    to the committee's next meeting."""
    permitted(app, by, CALENDAR_MANAGE, organisation)
    count = app.framework.calendar.withdraw(organisation, meeting, by=by, reason=reason, cancelled=True)
    click.echo(f"meeting cancelled; {count} deadline(s) recomputed")


@calendar.command("delete")
@click.option("--org", "organisation", required=True)
@click.argument("meeting", metavar="MEETING")
@click.option("--reason", help="Why (kept in the audit log).")
@click.option("--as", "by", required=True, help="Who is doing this: an actor holding calendar.manage.")
@pass_app
def calendar_delete(app: App, organisation: str, meeting: str, reason: str | None, by: str) -> None:
    """Delete MEETING (id or uid), entered by mistake; deadlines reckoned from it are recomputed."""
    permitted(app, by, CALENDAR_MANAGE, organisation)
    count = app.framework.calendar.withdraw(organisation, meeting, by=by, reason=reason, cancelled=False)
    click.echo(f"meeting deleted; {count} deadline(s) recomputed")


def _meetings_imported(app: App, organisation: str, file: Path, by: str) -> str:
    """Import an organisation's meetings from a file; say what changed."""
    done = app.framework.calendar.import_file(organisation, file, by=by)
    return (
        f"{done.added} added, {done.moved} moved, {done.unchanged} unchanged; "
        f"{done.deadlines_recomputed} deadline(s) recomputed"
    )


import_command(
    calendar,
    Import(
        "Import meetings from a .yaml, .csv or .ics file (all or nothing).",
        _meetings_imported,
        key="--org",
        permission=CALENDAR_MANAGE,
    ),
)


@calendar.command("sync")
@click.option("--org", "organisation", required=True)
@click.option("--url", "base_url", help="The ModernGov site's address [default: moderngov.yaml's].")
@click.option(
    "--as",
    "by",
    help=f"Who is doing this: an actor holding calendar.manage [default: {MODERNGOV_ACTOR}, as the worker].",
)
@pass_app
def calendar_sync(app: App, organisation: str, base_url: str | None, by: str | None) -> None:
    """Bring the calendar into line with the organisation's ModernGov site (moderngov.yaml):
    new meetings added, moved ones moved and cancelled ones cancelled, their deadlines
    following; all or nothing."""
    if by is not None:
        permitted(app, by, CALENDAR_MANAGE, organisation)
    done = app.framework.moderngov.sync(organisation, by=by or MODERNGOV_ACTOR, base_url=base_url)
    click.echo(done.summary())


@calendar.command("export")
@click.argument("key", metavar="CYCLE")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File [default: stdout]."
)
@pass_app
@names_output
def calendar_export(app: App, key: str, output: Path | None) -> None:
    """Write an iCalendar (.ics) feed of a cycle's open deadlines."""
    data = app.framework.calendar.export_ics(key)
    if output:
        output.write_bytes(data)
        click.echo(f"{output} written")
    else:
        click.echo(data.decode(), nl=False)


COMMANDS = (calendar,)
