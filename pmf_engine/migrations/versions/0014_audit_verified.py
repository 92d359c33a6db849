"""Where each audit chain was last verified (``audit_verified``): a later verification on
request starts from there instead of from each chain's first entry.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "audit_verified",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("chain_seq", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("keyed", sa.Boolean(), nullable=False),
        sa.Column("verified_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_table("audit_verified")
