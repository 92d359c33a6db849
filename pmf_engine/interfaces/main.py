"""The ``pmf`` command: the CLI's groups plus ``pmf serve``, which starts the web application.

The CLI and the web app do not import each other; this module is the one place that joins them.
"""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.app.demo import PEOPLE as DEMO_PEOPLE
from pmf_engine.app.demo import run_demo
from pmf_engine.app.logs import configure_logging
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import london
from pmf_engine.core.period import Period
from pmf_engine.core.store import sqlite_url
from pmf_engine.interfaces.cli import App, main, pass_app
from pmf_engine.interfaces.web.serve import DEMO_PASSWORD, serve

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
@click.option("--demo", is_flag=True, help="Seed the example council into pmf-demo.db first and serve it.")
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
    insecure_cookies: bool,
) -> None:
    """Serve the web application and JSON API (and run the worker unless --no-worker)."""
    if demo:
        db_file = Path("pmf-demo.db")
        configure_logging(app.settings.log_format, "error")
        app = App(app.settings.model_copy(update={"database_url": sqlite_url(db_file)}), app.clock_factory)
        run_demo(db_file, app.catalog, app.policies, lambda _line: None)  # YAML read once, for both
        accounts = Accounts(app.store, app.clock)
        for username, _name, _roles in DEMO_PEOPLE:
            accounts.set_password(username, DEMO_PASSWORD, by="demo")
        # Something to do, in the quarter it is now: an old one would be hundreds of days late.
        now = str(Period.containing(london(app.clock.now()).date()))
        app.engine.start_cycle("WDC", now, by="priya")
        configure_logging(app.settings.log_format, app.settings.log_level)
        click.echo(
            f"demo council seeded into {db_file}: sign in as priya (performance officer), hannah "
            f"(housing), lena (Leadership Team), audrey (auditor), ... with password {DEMO_PASSWORD}"
        )
    click.echo(f"serving on http://{host}:{port}/ (API under /api/v1, OpenAPI at /api/v1/openapi.json)")
    serve(
        app,
        host=host,
        port=port,
        worker=not no_worker,
        interval=interval,
        secure_cookies=not insecure_cookies,
        workers=workers,
    )


main.add_command(serve_command)
