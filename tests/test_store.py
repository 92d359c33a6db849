"""The schema: created on first use, migrations match the models, durability settings."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from pmf_engine.core.store import Base, Store, sqlite_url
from pmf_engine.migrations import current_revision, head_revision, upgrade_to_head


def test_database_created_on_first_use(empty_url: str) -> None:
    store = Store(empty_url)
    try:
        assert current_revision(store.engine) == head_revision()
        assert upgrade_to_head(store.engine) is False
    finally:
        store.dispose()


def test_migrations_match_the_models(empty_url: str) -> None:
    store = Store(empty_url)
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        store.dispose()


def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "durable.db"))
    with store.read() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()
