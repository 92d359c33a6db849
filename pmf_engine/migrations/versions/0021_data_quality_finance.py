"""Data quality and finance: a measure's definition, guidance, numerator, denominator and data
owner; a figure's quality flag; evidence files (content-addressed) and what they support; the
head of service's sign-off of a return; each service's budget and forecast outturn per quarter.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("definition", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("guidance", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("numerator", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("denominator", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("data_owner", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("actuals") as batch:
        batch.add_column(sa.Column("quality", sa.String(16), nullable=True))
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("organisation_id", "sha256"),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("measure_id", sa.Integer(), sa.ForeignKey("measures.id"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("evidence_files.id"), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_evidence_measure_period", "evidence", ["measure_id", "period"])
    op.create_table(
        "return_sign_offs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("signed_by", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_return_sign_offs_instance", "return_sign_offs", ["instance_id"])
    op.create_table(
        "finance_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("service_id", sa.Integer(), sa.ForeignKey("services.id"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("budget", sa.Double(), nullable=False),
        sa.Column("forecast_outturn", sa.Double(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("service_id", "period"),
    )
    op.create_index("ix_finance_lines_organisation_id", "finance_lines", ["organisation_id"])


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_index("ix_finance_lines_organisation_id", table_name="finance_lines")
    op.drop_table("finance_lines")
    op.drop_index("ix_return_sign_offs_instance", table_name="return_sign_offs")
    op.drop_table("return_sign_offs")
    op.drop_index("ix_evidence_measure_period", table_name="evidence")
    op.drop_table("evidence")
    op.drop_table("evidence_files")
    with op.batch_alter_table("actuals") as batch:
        batch.drop_column("quality")
    with op.batch_alter_table("measures") as batch:
        for column in ("data_owner", "denominator", "numerator", "guidance", "definition"):
            batch.drop_column(column)
