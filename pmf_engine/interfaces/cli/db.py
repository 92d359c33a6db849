"""``pmf db``: create or upgrade the schema, and grant the application's database role."""

from __future__ import annotations

import click

from pmf_engine.core.errors import NotNow
from pmf_engine.core.store import Store, grant_app_role
from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.migrations import current_revision, head_revision, upgrade_to_head


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option(
    "--rehearsal",
    is_flag=True,
    help="Create it as a rehearsal database, in which commands may act at another time (--now).",
)
@pass_app
def db_upgrade(app: App, rehearsal: bool) -> None:
    """Create the database or bring its schema to the newest migration.

    Whether a database is a rehearsal one is fixed when it is created: an existing database
    keeps what it was created as (``--rehearsal`` on it is refused if it is not one)."""
    bare = Store(app.settings.database_url, upgrade=False)
    try:
        ran = upgrade_to_head(bare.engine)
    finally:
        bare.dispose()  # each store's pool is closed here: on PostgreSQL they were left open
    store = Store(app.settings.database_url, rehearsal=rehearsal)
    try:
        if rehearsal and not store.rehearsal:
            raise NotNow("this database exists and was not created for rehearsal; create a new one")
        kind = "a rehearsal database" if store.rehearsal else "a live database (real times only)"
        revision = current_revision(store.engine)
    finally:
        store.dispose()
    click.echo(
        f"schema at {revision} ({'upgraded to' if ran else 'already at'} head {head_revision()}); {kind}"
    )


@db.command("grant-app")
@click.argument("role")
@pass_app
def db_grant_app(app: App, role: str) -> None:
    """(PostgreSQL, as the schema owner) let ROLE run pmf-engine but never change the audit log.

    ROLE may read and write every table except that it may only SELECT and INSERT audit
    entries: UPDATE, DELETE and TRUNCATE on the audit log are not granted, and, not owning
    the table, ROLE cannot drop or disable its triggers either.
    """
    store = Store(app.settings.database_url)
    try:
        granted = grant_app_role(store, role)
    finally:
        store.dispose()
    click.echo(f"{role}: {granted}")


COMMANDS = (db,)
