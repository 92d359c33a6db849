"""Alembic environment: runs on the connection pmf-engine hands it.

Migrations are written by hand (no autogenerate), so this needs no model metadata and imports
nothing of pmf-engine: the store may import the migrations without a cycle.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through pmf_engine.migrations.upgrade_to_head or `pmf db upgrade`")

context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
