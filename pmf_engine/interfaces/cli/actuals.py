"""``pmf actuals`` and ``pmf returns``: record, import and restate actuals, and the Excel returns
services fill in."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.core import values
from pmf_engine.interfaces.cli.context import App, finite_number, names_output, pass_app
from pmf_engine.interfaces.cli.library import Import, import_command
from pmf_engine.pmf.models import QUALITY_FLAGS


@click.group()
def actuals() -> None:
    """Reported actuals."""


NEGATIVE_OK = {"ignore_unknown_options": True}
"""A VALUE may be negative (money under budget): ``-5`` is the value, not an unknown option."""


@actuals.command("record", context_settings=NEGATIVE_OK)
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("value")
@click.option("--narrative", default="")
@click.option(
    "--forecast", callback=finite_number, help="The service's forecast of the year-end outturn (a number)."
)
@click.option(
    "--missing-reason",
    default="",
    help='With VALUE "missing": why there is no figure (a return is submitted only with one).',
)
@click.option(
    "--quality",
    type=click.Choice(QUALITY_FLAGS, case_sensitive=False),
    default=None,
    help="How sure the figure is (data quality); the report marks provisional and estimated ones.",
)
@click.option("--as", "by", required=True)
@pass_app
def actuals_record(
    app: App,
    key: str,
    code: str,
    value: str,
    narrative: str,
    forecast: float | None,
    missing_reason: str,
    quality: str | None,
    by: str,
) -> None:
    """Record VALUE (a number, or "missing") for measure CODE in CYCLE's period. The number
    must be in the measure's range (a percentage 0-100, a count whole and not negative, or the
    measure's own minimum and maximum)."""
    app.framework.performance.record_actual(
        key,
        code,
        _figure(value, code),
        narrative=narrative,
        forecast=forecast,
        missing_reason=missing_reason,
        quality=(quality or "").lower(),
        by=by,
    )
    click.echo(f"{code}: {value} recorded for {key}")


@actuals.command("restate", context_settings=NEGATIVE_OK)
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("value")
@click.option("--reason", required=True, help="Why the reported figure was wrong.")
@click.option("--narrative", default="")
@click.option("--as", "by", required=True)
@pass_app
def actuals_restate(app: App, key: str, code: str, value: str, reason: str, narrative: str, by: str) -> None:
    """Correct a figure of a frozen report; the next report lists the restatement."""
    app.framework.performance.restate(
        key, code, _figure(value, code), reason=reason, narrative=narrative, by=by
    )
    click.echo(f"{code}: restated as {value} for {key}")


def _actuals_recorded(app: App, key: str, file: Path, by: str) -> str:
    """Record a cycle's actuals from a CSV file; say how many."""
    count = app.framework.performance.import_actuals(key, file, by=by)
    return f"{count} actual(s) recorded for {key}"


def _history_loaded(app: App, organisation: str, file: Path, by: str) -> str:
    """Load earlier quarters' actuals from a CSV file; say how many."""
    count = app.framework.performance.import_history(organisation, file, by=by)
    return f"{count} historical actual(s) loaded for {organisation}"


import_command(
    actuals,
    Import(
        "Record actuals from a CSV file (columns code,value[,narrative,forecast,missing_reason]; "
        "all or nothing).",
        _actuals_recorded,
        key="CYCLE",
    ),
)
import_command(
    actuals,
    Import(
        "Load earlier quarters' actuals (CSV code,period,value,narrative) for quarters with no cycle.",
        _history_loaded,
        name="import-history",
    ),
)


def _figure(value: str, code: str) -> float | None:
    """A figure typed as VALUE for measure ``code``: a finite number, or None for "missing"."""
    try:
        return None if value.lower() == "missing" else values.parse_number(value)
    except ValueError as exc:
        raise click.BadParameter(f"{code}: {exc} (or 'missing')", param_hint="VALUE") from exc


@click.group()
def returns() -> None:
    """Excel return templates for services, and their import."""


@returns.command("template")
@click.argument("key", metavar="CYCLE")
@click.argument("service")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_app
@names_output
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


COMMANDS = (actuals, returns)
