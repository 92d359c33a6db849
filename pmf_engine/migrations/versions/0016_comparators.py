"""Comparing with similar councils: an organisation's area by GSS code
(``organisation_areas``), a measure's metric identifier at comparator sources such as LG
Inform (``measures.comparator_metric``), and the comparator values of the areas of each
comparison group with their source and date (``comparator_values``).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "organisation_areas",
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("gss_code", sa.String(9), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "comparator_values",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("comparison_group", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("area_gss", sa.String(9), nullable=False),
        sa.Column("area_name", sa.String(200), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("published_on", sa.String(10), nullable=True),
        sa.Column("retrieved_at", sa.DateTime(), nullable=False),
        sa.Column("retrieved_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("organisation_id", "comparison_group", "metric", "period", "area_gss"),
    )
    op.create_index("ix_comparator_values_metric", "comparator_values", ["organisation_id", "metric"])
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("comparator_metric", sa.String(32), nullable=True))


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("comparator_metric")
    op.drop_index("ix_comparator_values_metric", table_name="comparator_values")
    op.drop_table("comparator_values")
    op.drop_table("organisation_areas")
