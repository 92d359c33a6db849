"""``pmf demo``: seed an example council and drive one whole quarter through the engine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pmf_engine.app.demo import run_demo
from pmf_engine.app.logs import configure_logging
from pmf_engine.interfaces.cli.context import App, pass_app


@click.command("demo")
@click.option(
    "--db-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pmf-demo.db"),
    show_default=True,
    help="SQLite file to create afresh.",
)
@click.option("--verbose", is_flag=True, help="Also write the engine's log events to stderr.")
@pass_app
def demo(app: App, db_file: Path, verbose: bool) -> None:
    """Seed an example council and drive one whole quarter end to end."""
    if not verbose:
        configure_logging(app.settings.log_format, "error")
    ok = run_demo(db_file, app.catalog, app.policies, click.echo)
    sys.exit(0 if ok else 1)


COMMANDS = (demo,)
