"""The PostgreSQL deployment: the schema owner migrates, the application's role runs the
engine but cannot UPDATE, DELETE or TRUNCATE the audit log, nor switch its triggers off."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import SchemaBehind
from pmf_engine.core.store import Store, grant_app_role
from pmf_engine.migrations import alembic_config, current_revision, head_revision
from tests.conftest import CYCLE, ORG, seed
from tests.pg import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def deployment(pg_server: PostgresServer) -> tuple[str, str]:
    """(owner URL, application URL) of a fresh database owned by pmf_owner."""
    admin = f"host=127.0.0.1 port={pg_server.port} user=postgres dbname=postgres"
    name = pg_server.create_database()
    with psycopg.connect(admin, autocommit=True) as conn:
        for role in ("pmf_owner", "pmf_app"):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN")  # type: ignore[arg-type]
        conn.execute(f"ALTER DATABASE {name} OWNER TO pmf_owner")  # type: ignore[arg-type]
    with psycopg.connect(
        f"host=127.0.0.1 port={pg_server.port} user=postgres dbname={name}", autocommit=True
    ) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO pmf_owner")
    base = f"postgresql+psycopg://{{}}@127.0.0.1:{pg_server.port}/{name}"
    return base.format("pmf_owner"), base.format("pmf_app")


def test_app_role_runs_the_engine_but_cannot_touch_the_audit_log(
    deployment: tuple[str, str], catalog: Catalog, clock: ManualClock
) -> None:
    owner_url, app_url = deployment
    owner = Store(owner_url, rehearsal=True)  # the owner creates the schema (for a simulated quarter)
    with owner.engine.begin() as conn:  # a hardened database: no function runs for everyone
        conn.exec_driver_sql("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC")
    grant_app_role(owner, "pmf_app")  # grants the engine's functions itself
    owner.dispose()

    app = Store(app_url)
    engine = Engine(app, catalog, clock)
    seed(engine)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    assert engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing").to_state == "submitted"

    for statement in (
        "UPDATE audit_entries SET reason = 'x'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
        "ALTER TABLE audit_entries DISABLE TRIGGER USER",
        "DROP TRIGGER audit_entries_append_only ON audit_entries",
    ):
        with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"), app.write() as s:
            s.execute(text(statement))
    with app.read() as s:
        assert s.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() > 20
    app.dispose()


def test_grants_refuse_sqlite_and_odd_names(tmp_path: object, pg_server: PostgresServer) -> None:
    store = Store(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(ValueError, match="PostgreSQL feature"):
        grant_app_role(store, "pmf_app")
    pg = Store(pg_server.url(pg_server.create_database()))
    with pytest.raises(ValueError, match="plain PostgreSQL role"):
        grant_app_role(pg, "x; DROP TABLE audit_entries")
    pg.dispose()
    store.dispose()


def test_the_app_role_on_a_schema_behind_the_release_is_told_to_upgrade_as_the_owner(
    deployment: tuple[str, str],
) -> None:
    """Found in review: a release with a new migration, started as the application's role before
    the owner upgraded, failed on a privilege error inside Alembic (or, with upgrade=False, at the
    first fire on a missing function). Now it names both revisions and what to run; nothing changed."""
    owner_url, app_url = deployment
    owner = Store(owner_url)
    with owner.engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "-1")  # the schema one release behind
    behind = current_revision(owner.engine)
    grant_app_role(owner, "pmf_app")
    with pytest.raises(SchemaBehind, match=r"pmf db upgrade") as refused:
        Store(app_url)
    head = head_revision()
    assert (refused.value.current, refused.value.head) == (behind, head) and behind != head
    assert "permission denied" in (refused.value.refusal or ""), "what the database said is kept"
    assert refused.value.__cause__ is not None, "and the error itself, for the traceback"
    assert current_revision(owner.engine) == behind, "nothing was changed"
    owner.dispose()
    Store(owner_url).dispose()  # the owner brings it up; then the application's role starts
    Store(app_url).dispose()
