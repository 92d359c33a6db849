"""PostgreSQL: ``pmf_move_instance``, the versioned move that refuses a stale version itself.

On PostgreSQL a fire sends its writes in one pipeline with its COMMIT (one round trip) instead
of waiting for each statement's answer, so the engine cannot read the versioned UPDATE's row
count before committing. This function makes the same conditional UPDATE and raises
``pmf_stale`` (SQLSTATE 40001, serialization_failure) when it changed no row: the server then
aborts the transaction, the pipelined statements after it and its COMMIT do nothing, and the
engine reports a ``ConcurrencyConflict`` as before. SQLite keeps the UPDATE and its row count.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PG_MOVE_INSTANCE = """
CREATE OR REPLACE FUNCTION pmf_move_instance(
    p_id integer, p_read_version integer, p_state varchar, p_version integer,
    p_context jsonb, p_entered_at timestamp
) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE instances
       SET state = p_state, version = p_version, context = p_context, entered_at = p_entered_at
     WHERE id = p_id AND version = p_read_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pmf_stale: instance % is no longer at version %', p_id, p_read_version
            USING ERRCODE = 'serialization_failure';
    END IF;
END
$$
"""


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_MOVE_INSTANCE)


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION pmf_move_instance(integer, integer, varchar, integer, jsonb, timestamp)")
