"""The data rules of figures: a measure's own range (``minimum``, ``maximum``), the reason a
figure is missing (``actuals.missing_reason``), and the indexes the submit guard
(``return_complete``) reads a return's measures and projects through (by service).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("minimum", sa.Double(), nullable=True))
        batch.add_column(sa.Column("maximum", sa.Double(), nullable=True))
    with op.batch_alter_table("actuals") as batch:
        batch.add_column(sa.Column("missing_reason", sa.Text(), nullable=True))
    op.create_index("ix_measures_service", "measures", ["service_id"])
    op.create_index("ix_projects_service", "projects", ["service_id"])


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_index("ix_projects_service", table_name="projects")
    op.drop_index("ix_measures_service", table_name="measures")
    with op.batch_alter_table("actuals") as batch:
        batch.drop_column("missing_reason")
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("maximum")
        batch.drop_column("minimum")
