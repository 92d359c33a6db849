"""``pmf demo``: seed an example council and run its quarters up to the time it is now."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from pmf_engine.app.demo import run_demo
from pmf_engine.app.logs import configure_logging
from pmf_engine.core.errors import InvalidInput
from pmf_engine.interfaces.cli.context import App, pass_app


@click.command("demo")
@click.option(
    "--db-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pmf-demo.db"),
    show_default=True,
    help="SQLite file to build the example council in (when it is not given: the empty database "
    "--db or PMF_DATABASE_URL names, if either does); its reports are written beside it.",
)
@click.option(
    "--reset", is_flag=True, help="Replace the file if it is there (else an existing file is refused)."
)
@click.option("--verbose", is_flag=True, help="Also write the engine's log events to stderr.")
@pass_app
def demo(app: App, db_file: Path, reset: bool, verbose: bool) -> None:
    """Seed an example council: one quarter end to end, the one that ended most recently up to now.

    It is built in the SQLite file --db-file if given, else in the empty database that --db (or
    PMF_DATABASE_URL) names, PostgreSQL for one, if either does, else in pmf-demo.db."""
    named = "database_url" in app.settings.model_fields_set
    chosen = click.get_current_context().get_parameter_source("db_file") != ParameterSource.DEFAULT
    url = app.settings.database_url if named and not chosen else None
    if url is not None and reset:
        raise InvalidInput("--reset", "given", "replaces a --db-file only: build in an empty --db database")
    if url is None and db_file.exists() and not reset:
        raise InvalidInput("--db-file", str(db_file), "is there already: pass --reset to build it afresh")
    if not verbose:
        configure_logging(app.settings.log_format, "error")
    ok = run_demo(db_file, app.catalog, app.policies, click.echo, now=app.clock.now(), database_url=url)
    sys.exit(0 if ok else 1)


COMMANDS = (demo,)
