"""``pmf measures`` and ``pmf exceptions``: the measures library with each cycle's RAG status, and
the exception reports of red measures and off-track projects."""

from __future__ import annotations

from collections.abc import Iterator

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.interfaces.cli.library import Library, library_commands
from pmf_engine.pmf.registry import MEASURES_MANAGE


@click.group()
def measures() -> None:
    """The measures library, and each cycle's RAG status."""


def _measure_rows(app: App, organisation: str) -> Iterator[str]:
    """One line per measure of the organisation."""
    for m, service in app.framework.performance.measures(organisation):
        yield f"{m.code:<10} {m.polarity:<6} {service or '-':<10} {m.theme:<24} {m.title}"


library_commands(
    measures,
    Library(
        noun="measure",
        import_help="Add or update measures from CSV or .xlsx (all or nothing; columns: see "
        "`measures export`).",
        load=lambda app, org, file, by: app.framework.performance.import_measures(org, file, by=by),
        permission=MEASURES_MANAGE,
        list_help="List an organisation's measures.",
        rows=_measure_rows,
        export_help="Write the measures library as CSV, or Excel when OUTPUT ends .xlsx (cells escaped "
        "against formula injection).",
        export_csv=lambda app, org, out: app.framework.performance.export_measures(org, out),
        export_xlsx=lambda app, org, path: app.framework.performance.export_measures_xlsx(org, path),
    ),
)


ARROWS = {"improving": "better", "worsening": "worse", "no_change": "same", "unknown": "-"}
"""Direction of travel in words: ``up`` said nothing of a measure where lower is better."""


@measures.command("status")
@click.argument("key", metavar="CYCLE")
@pass_app
def measures_status(app: App, key: str) -> None:
    """Each measure's actual / target, RAG, direction of travel since last quarter / since last
    year (better, worse, same; - with nothing to compare) and the rule applied."""
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
