"""Service plans: a plan's text (self-evaluation and sections), its actions, each action's
quarterly status and its operational risks, all hanging off the plan's workflow instance.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "plan_texts",
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), primary_key=True),
        sa.Column("self_evaluation", sa.Text(), nullable=False),
        sa.Column("sections", JSON, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "plan_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("ref", sa.String(16), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("measure_id", sa.Integer(), sa.ForeignKey("measures.id"), nullable=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("instance_id", "ref"),
    )
    op.create_table(
        "plan_action_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("plan_actions.id"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_plan_action_updates_action_period", "plan_action_updates", ["action_id", "period"])
    op.create_table(
        "plan_risks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(16), nullable=False),
        sa.Column("mitigation", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_table("plan_risks")
    op.drop_index("ix_plan_action_updates_action_period", table_name="plan_action_updates")
    op.drop_table("plan_action_updates")
    op.drop_table("plan_actions")
    op.drop_table("plan_texts")
