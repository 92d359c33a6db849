"""Who asked for the weekly e-mail of what they need to do.

One row per person who has opted in or out (``weekly``); nobody gets the digest unless they
asked for it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "digest_subscriptions",
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("actors.id"), primary_key=True),
        sa.Column("weekly", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_table("digest_subscriptions")
