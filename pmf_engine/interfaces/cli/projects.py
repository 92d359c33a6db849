"""``pmf projects``: Council Plan projects, their milestones and each quarter's status."""

from __future__ import annotations

from collections.abc import Iterator

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.interfaces.cli.library import Library, library_commands
from pmf_engine.pmf.projects import STATES as PROJECT_STATES
from pmf_engine.pmf.registry import PROJECTS_MANAGE


@click.group()
def projects() -> None:
    """Council Plan projects, their milestones and quarterly status."""


def _project_rows(app: App, organisation: str) -> Iterator[str]:
    """One line per project of the organisation, each followed by a line per milestone."""
    for project, service, milestones in app.framework.projects.projects(organisation):
        yield f"{project.code:<10} {service or '-':<10} {project.title}"
        for m in milestones:
            done = f"completed {m.completed_on}" if m.completed_on else "not completed"
            yield f"{'':<12}due {m.due}  {done:<20} {m.title}"


library_commands(
    projects,
    Library(
        noun="project",
        import_help="Add or update projects and milestones from CSV (one row per milestone; all or nothing).",
        load=lambda app, org, file, by: app.framework.projects.import_projects(org, file, by=by),
        permission=PROJECTS_MANAGE,
        list_help="List projects with their milestones.",
        rows=_project_rows,
    ),
)


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
