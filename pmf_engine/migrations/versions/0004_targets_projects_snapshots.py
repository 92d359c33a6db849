"""Annual targets with a quarterly profile, forecasts and restatements on actuals, projects
with milestones and quarterly updates, exception reports for projects, and frozen report
snapshots (append-only, like the audit log).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("annual_targets", JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("profile", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("aggregation", sa.String(8), nullable=False, server_default="mean"))
    with op.batch_alter_table("actuals") as batch:
        batch.add_column(sa.Column("forecast", sa.Double(), nullable=True))
        batch.add_column(sa.Column("restatement_reason", sa.Text(), nullable=True))
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("theme", sa.String(120), nullable=False),
        sa.Column("priority", sa.String(120), nullable=False),
        sa.Column("service_id", sa.Integer(), sa.ForeignKey("services.id"), nullable=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.UniqueConstraint("organisation_id", "code"),
    )
    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("completed_on", sa.String(10), nullable=True),
        sa.UniqueConstraint("project_id", "title"),
    )
    op.create_table(
        "project_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_project_updates_project_period", "project_updates", ["project_id", "period"])
    op.create_table(
        "report_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False, unique=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("frozen_at", sa.DateTime(), nullable=False),
        sa.Column("frozen_by", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("exception_reports") as batch:
        batch.alter_column("measure_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_exception_reports_project", "projects", ["project_id"], ["id"])
        batch.create_unique_constraint("uq_exception_reports_project", ["instance_id", "project_id"])
    _append_only("report_snapshots")


def _append_only(table: str) -> None:
    """What was reported stays reported: the database refuses UPDATE and DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pmf_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pmf_audit_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_no_truncate ON report_snapshots")
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_append_only ON report_snapshots")
    with op.batch_alter_table("exception_reports") as batch:
        batch.drop_constraint("uq_exception_reports_project", type_="unique")
        batch.drop_constraint("fk_exception_reports_project", type_="foreignkey")
        batch.drop_column("project_id")
        batch.alter_column("measure_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("report_snapshots")
    op.drop_index("ix_project_updates_project_period", "project_updates")
    op.drop_table("project_updates")
    op.drop_table("milestones")
    op.drop_table("projects")
    with op.batch_alter_table("actuals") as batch:
        batch.drop_column("restatement_reason")
        batch.drop_column("forecast")
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("aggregation")
        batch.drop_column("profile")
        batch.drop_column("annual_targets")
