"""The ``pmf`` command line. Exit codes: 0 done, 1 refused or invalid, 2 usage.

This module holds the ``main`` group, its global options and the :data:`App` they build, and
assembles the command groups, one module each: ``db``, ``directory`` (org, service, actor),
``workflows``, ``cycles`` (cycle, fire), ``measures`` (measures, exceptions), ``actuals``
(actuals, returns), ``projects``, ``risks``, ``targets``, ``plans``, ``actions``, ``report``, ``calendar``,
``comparators``, ``worker`` (worker, tick, outbox), ``audit`` and ``demo``. They share
``context`` (the App, value parsing) and ``library`` (one factory for the import/list/export
commands of the same shape), and import neither this module nor each other. Commands raise;
``errors.PmfGroup`` turns every error into its message on stderr and its exit code, in one
place (see the table there).

Every audit entry a command writes records the operating-system user who ran it
(``os_user`` in its data), beside the actor named with ``--as``; a test passes
``obj={"os_user": NAME}`` to the runner instead of reading ``getpass.getuser()``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from pmf_engine.app.logs import configure_logging
from pmf_engine.app.settings import Settings
from pmf_engine.core import provenance
from pmf_engine.core.clock import ManualClock, SystemClock
from pmf_engine.interfaces.cli import (
    actions,
    actuals,
    audit,
    calendar,
    comparators,
    cycles,
    db,
    demo,
    directory,
    measures,
    plans,
    projects,
    quality,
    report,
    risks,
    targets,
    worker,
    workflows,
)
from pmf_engine.interfaces.cli.context import App, parse_time, pass_app
from pmf_engine.interfaces.cli.errors import PmfGroup

__all__ = ["App", "main", "pass_app"]


@click.group(cls=PmfGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL [env PMF_DATABASE_URL; default sqlite:///pmf.db].",
)
@click.option(
    "--workflows",
    "workflows_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workflow YAML folder [env PMF_WORKFLOWS].",
)
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Policy YAML folder [env PMF_POLICIES].",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    help="Log format on stderr [env PMF_LOG_FORMAT].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="[env PMF_LOG_LEVEL; default info].",
)
@click.option(
    "--now",
    "now",
    metavar="WHEN",
    help="Act as if it were WHEN (rehearsing a quarter); default: the real time.",
)
@click.version_option(package_name="pmf-engine")
@click.pass_context
def main(ctx: click.Context, /, now: str | None, **options: Any) -> None:
    """pmf-engine: run a council's quarterly Performance Management Framework cycle."""
    settings = Settings.load(**options)
    configure_logging(settings.log_format, settings.log_level)
    injected = ctx.obj if isinstance(ctx.obj, Mapping) else {}
    clock = (lambda: ManualClock(parse_time(now, "--now"))) if now else SystemClock
    ctx.obj = App(settings, clock, rehearsal=now is not None)
    ctx.call_on_close(ctx.obj.close)  # no connection left open when the command returns
    ctx.with_resource(provenance.recorded(os_user=str(injected.get("os_user") or os_user())))


def os_user() -> str:
    """Who is logged in to the host running the command (``uid:N`` when the name is unknown)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (some containers)
        return f"uid:{os.getuid()}"


for _module in (
    db,
    directory,
    workflows,
    cycles,
    measures,
    actuals,
    projects,
    plans,
    quality,
    actions,
    report,
    risks,
    targets,
    calendar,
    comparators,
    worker,
    audit,
    demo,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
