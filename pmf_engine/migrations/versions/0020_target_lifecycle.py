"""The target lifecycle: annual targets proposed by a service, agreed stage by stage (or sent
back), revised mid-year with an approval (``target_settings``), each stage's decision with its
reason (``target_decisions``), and the agreed targets in force on each measure
(``measures.agreed_targets``), which RAG reads.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("agreed_targets", JSON, nullable=False, server_default="{}"))
    op.create_table(
        "target_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("measure_id", sa.Integer(), sa.ForeignKey("measures.id"), nullable=False),
        sa.Column("year", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_target_settings_measure_year", "target_settings", ["measure_id", "year"])
    op.create_table(
        "target_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("target_settings.id"), nullable=False),
        sa.Column("stage", sa.String(80), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_target_decisions_target", "target_decisions", ["target_id"])


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_index("ix_target_decisions_target", table_name="target_decisions")
    op.drop_table("target_decisions")
    op.drop_index("ix_target_settings_measure_year", table_name="target_settings")
    op.drop_table("target_settings")
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("agreed_targets")
