"""A ModernGov meeting's Provisional status, kept on its link so the calendar can mark a date
only pencilled in (until then a provisional meeting was kept as a plain meeting, unmarked).

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("moderngov_meetings") as batch:
        batch.add_column(sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    with op.batch_alter_table("moderngov_meetings") as batch:
        batch.drop_column("provisional")
