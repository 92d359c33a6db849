"""Alembic environment: runs on the connection pmf-engine hands it."""

from __future__ import annotations

from alembic import context

from pmf_engine.store import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through pmf_engine.migrations.upgrade_to_head or `pmf db upgrade`")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
