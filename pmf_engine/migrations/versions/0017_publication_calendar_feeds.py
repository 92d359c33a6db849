"""Publication of figures and calendar subscriptions: a measure's ``publish`` flag (off: its
figures stay off the public open-data feed and page) and ``calendar_feeds``, the secret
addresses of people's .ics feeds of their deadlines (only the SHA-256 of each is stored).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("publish", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_calendar_feeds_actor", "calendar_feeds", ["actor_id"])


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_index("ix_calendar_feeds_actor", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("publish")
