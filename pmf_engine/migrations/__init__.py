"""Alembic migrations of the pmf-engine schema, run on first use or by ``pmf db upgrade``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def alembic_config() -> Config:
    """An Alembic configuration pointing at this package's scripts, so no ``alembic.ini`` is needed."""
    config = Config()
    config.set_main_option("script_location", "pmf_engine:migrations")
    return config


def head_revision() -> str | None:
    """The newest revision among the migration scripts: what ``upgrade_to_head`` brings a database to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` if it has never been migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> bool:
    """Bring the schema to head; return whether anything was run."""
    if current_revision(engine) == head_revision():
        return False
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return True
