"""Withdrawn service plan actions and operational risks: who withdrew one, when and why (the
row and its quarterly statuses stay; nothing is deleted).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = ("plan_actions", "plan_risks")


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("withdrawn_by", sa.String(64), nullable=True))
            batch.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
            batch.add_column(sa.Column("withdrawn_reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("withdrawn_reason", "withdrawn_at", "withdrawn_by"):
                batch.drop_column(column)
