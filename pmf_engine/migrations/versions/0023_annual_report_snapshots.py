"""The annual report frozen at the sign-off of its year's Q4 cycle, with its public version.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "annual_report_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("year", sa.String(16), nullable=False),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False, unique=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("public_content", sa.Text(), nullable=False),
        sa.Column("public_sha256", sa.String(64), nullable=False),
        sa.Column("frozen_at", sa.DateTime(), nullable=False),
        sa.Column("frozen_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("organisation_id", "year"),
    )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_table("annual_report_snapshots")
