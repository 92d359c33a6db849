"""Hot-path indexes: the role holders of an organisation.

The holders query of every fire (who holds the roles a deadline's reminders go to) filtered
``role_assignments`` by organisation with no index that leads with it (the unique constraint
leads with ``actor_id``), so it read every actor's assignments in the deployment: 1.0 ms per
fire with no other councils, 2.4 ms with 40,000 actors in others. Every other hot-path and
sweep query already had its index (``tests/test_query_plans.py`` reads the plans on both
backends). Creating an index writes no row of ``audit_entries``, so its append-only triggers
are not involved.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_index("ix_role_assignments_organisation", "role_assignments", ["organisation_id", "role"])


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.drop_index("ix_role_assignments_organisation", table_name="role_assignments")
