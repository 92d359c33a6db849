"""Steps by deadline and status: leaving a state reaches its own steps, not every pending one.

Leaving a state cancels the pending and claimed steps of the instance's open deadline
(``steps.deadline_id IN (open deadline) AND status IN ('pending', 'claimed')``). With only
``ix_steps_deadline (deadline_id)`` and ``ix_steps_due (status, due_at)``, SQLite's planner,
without statistics (a database nobody has ANALYZEd), chose the status index: every fire read
every pending step of the deployment. An index on (deadline_id, status) answers both
conditions and also serves what the old one did, so it replaces it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    op.create_index("ix_steps_deadline_status", "steps", ["deadline_id", "status"])
    op.drop_index("ix_steps_deadline", table_name="steps")


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    op.create_index("ix_steps_deadline", "steps", ["deadline_id"])
    op.drop_index("ix_steps_deadline_status", table_name="steps")
