"""ModernGov committee-calendar sync: each synchronised meeting's ModernGov ids (and its
performance report agenda item), the responses kept for conditional GETs (ETag), and when the
worker next synchronises each organisation.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "moderngov_meetings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("meeting_ref", sa.Integer(), nullable=False),
        sa.Column("committee_ref", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(200), nullable=False),
        sa.Column("agenda_item_ref", sa.Integer(), nullable=True),
        sa.Column("agenda_item_title", sa.String(300), nullable=False),
        sa.UniqueConstraint("organisation_id", "meeting_ref"),
    )
    op.create_table(
        "moderngov_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("url", sa.String(700), nullable=False),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("organisation_id", "url"),
    )
    op.create_table(
        "moderngov_syncs",
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("last_ok_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_table("moderngov_syncs")
    op.drop_table("moderngov_responses")
    op.drop_table("moderngov_meetings")
