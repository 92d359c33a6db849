"""``pmf demo``: seed an example council and run its quarters up to the time it is now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

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
    help="SQLite file to build the example council in.",
)
@click.option(
    "--reset", is_flag=True, help="Replace the file if it is there (else an existing file is refused)."
)
@click.option("--verbose", is_flag=True, help="Also write the engine's log events to stderr.")
@pass_app
def demo(app: App, db_file: Path, reset: bool, verbose: bool) -> None:
    """Seed an example council: one quarter end to end, the one that ended most recently up to now."""
    if db_file.exists() and not reset:
        raise InvalidInput("--db-file", str(db_file), "is there already: pass --reset to build it afresh")
    if not verbose:
        configure_logging(app.settings.log_format, "error")
    ok = run_demo(db_file, app.catalog, app.policies, click.echo, now=app.clock.now())
    sys.exit(0 if ok else 1)


COMMANDS = (demo,)
