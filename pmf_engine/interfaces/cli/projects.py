"""``pmf projects``: Council Plan projects, their milestones and each quarter's status."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.pmf.projects import STATES as PROJECT_STATES


@click.group()
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


COMMANDS = (projects,)
