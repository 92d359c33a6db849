"""The ``pmf`` command: the CLI's groups plus ``pmf serve``, which starts the web application.

The CLI and the web app do not import each other; this module is the one place that joins them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pmf_engine.app.demo import DEMO_PASSWORD, PEOPLE, Prepared, prepare_demo
from pmf_engine.app.logs import configure_logging
from pmf_engine.app.wiring import Application
from pmf_engine.core.store import sqlite_url
from pmf_engine.interfaces.cli import App, main, pass_app

__all__ = ["main"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not run the scheduler worker in this process.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between worker sweeps.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Web processes (the scheduler worker runs in this one only); PostgreSQL for more than 1.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Serve the example council in pmf-demo.db (built, up to now, if it is not there).",
)
@click.option("--reset", is_flag=True, help="With --demo: build pmf-demo.db afresh, replacing the one there.")
@click.option(
    "--insecure-cookies", is_flag=True, help="Send the session cookie over plain HTTP (development only)."
)
@pass_app
def serve_command(
    app: App,
    host: str,
    port: int,
    no_worker: bool,
    interval: float,
    workers: int,
    demo: bool,
    reset: bool,
    insecure_cookies: bool,
) -> None:
    """Serve the web application and JSON API (and run the worker unless --no-worker)."""
    if reset and not demo:
        raise click.UsageError("--reset is for --demo (it rebuilds pmf-demo.db)")
    if demo:
        prepared = demo_database(app, Path("pmf-demo.db"), reset=reset)
        app = App(
            app.settings.model_copy(update={"database_url": sqlite_url(prepared.db_file)}),
            app.clock_factory,
            rehearsal=app.rehearsal,
        )
    click.echo(f"serving on http://{host}:{port}/ (API under /api/v1, OpenAPI at /api/v1/openapi.json)")
    if demo and not insecure_cookies:
        click.echo("the demo's session cookie goes over plain HTTP too (its passwords are public)")
    serve(
        app,
        host=host,
        port=port,
        worker=not no_worker,
        interval=interval,
        secure_cookies=not (insecure_cookies or demo),
        workers=workers,
    )


def demo_database(app: App, db_file: Path, *, reset: bool) -> Prepared:
    """``pmf-demo.db`` for ``serve --demo``: kept if it is there, else (or with ``--reset``) built
    up to the application's clock; says which, and who may sign in."""
    configure_logging(app.settings.log_format, "error")
    prepared = prepare_demo(
        db_file, app.catalog, app.policies, lambda _line: None, now=app.clock.now(), reset=reset
    )
    configure_logging(app.settings.log_format, app.settings.log_level)
    how = "built afresh" if prepared.built else "kept as it was (--reset builds it afresh)"
    click.echo(f"demo council in {db_file}: {how}; open cycle {prepared.open_cycle}")
    accounts = ", ".join(
        f"{user} ({' and '.join(role + (f' of {svc}' if svc else '') for role, svc in roles)})"
        for user, _name, roles in PEOPLE
    )
    click.echo(f"sign in as any of {accounts}, password {DEMO_PASSWORD}")
    return prepared


def serve(application: Application, **options: Any) -> None:
    """The web's ``serve``, imported only when a command serves: the web stack (FastAPI, uvicorn,
    the templates) would add half a second to the start of every other command."""
    from pmf_engine.interfaces.web.serve import serve as serve_web  # noqa: PLC0415

    serve_web(application, **options)


main.add_command(serve_command)
