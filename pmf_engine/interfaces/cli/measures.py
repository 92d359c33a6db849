"""``pmf measures`` and ``pmf exceptions``: the measures library with each cycle's RAG status, and
the exception reports of red measures and off-track projects."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, open_output, pass_app


@click.group()
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
    with open_output(output) as out:
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


@click.group()
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


COMMANDS = (measures, exceptions)
