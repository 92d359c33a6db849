"""The risk register (risks, their links to measures and projects, quarterly reviews) and the
delivery plan (the measures a project moves, key projects, each cycle's headline per theme).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_table(
        "risks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("register", sa.String(32), nullable=False),
        sa.Column("service_id", sa.Integer(), sa.ForeignKey("services.id"), nullable=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.Column("inherent_likelihood", sa.Integer(), nullable=False),
        sa.Column("inherent_impact", sa.Integer(), nullable=False),
        sa.Column("residual_likelihood", sa.Integer(), nullable=False),
        sa.Column("residual_impact", sa.Integer(), nullable=False),
        sa.Column("controls", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.UniqueConstraint("organisation_id", "code"),
    )
    op.create_index("ix_risks_service", "risks", ["service_id"])
    op.create_table(
        "risk_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("risk_id", sa.Integer(), sa.ForeignKey("risks.id"), nullable=False),
        sa.Column("measure_id", sa.Integer(), sa.ForeignKey("measures.id"), nullable=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=True),
        sa.UniqueConstraint("risk_id", "measure_id"),
        sa.UniqueConstraint("risk_id", "project_id"),
    )
    op.create_table(
        "risk_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("risk_id", sa.Integer(), sa.ForeignKey("risks.id"), nullable=False),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("previous_score", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_risk_reviews_risk_period", "risk_reviews", ["risk_id", "period"])
    op.create_table(
        "project_measures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("measure_id", sa.Integer(), sa.ForeignKey("measures.id"), nullable=False),
        sa.UniqueConstraint("project_id", "measure_id"),
    )
    op.create_table(
        "theme_headlines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("theme", sa.String(120), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(64), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_theme_headlines_instance", "theme_headlines", ["instance_id", "theme"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("key_project", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("key_project")
    op.drop_index("ix_theme_headlines_instance", table_name="theme_headlines")
    op.drop_table("theme_headlines")
    op.drop_table("project_measures")
    op.drop_index("ix_risk_reviews_risk_period", table_name="risk_reviews")
    op.drop_table("risk_reviews")
    op.drop_table("risk_links")
    op.drop_index("ix_risks_service", table_name="risks")
    op.drop_table("risks")
