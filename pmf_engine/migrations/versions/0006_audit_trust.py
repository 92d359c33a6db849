"""Audit trust: each entry's real write time and rehearsal time apart, its hashing scheme, the
database refusing an entry filed in a chain not its organisation's, and the deployment row that
says whether this database was created for rehearsal.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHAIN_RULE = (
    "audit_entries: an entry must be filed in the chain of its organisation, or in _system without one"
)
ORG_RULE = "audit_entries: the organisation of an entry must exist"

PG_CHECK = f"""
CREATE OR REPLACE FUNCTION pmf_audit_check_chain() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.chain IS DISTINCT FROM COALESCE(NEW.organisation, '_system') THEN
        RAISE EXCEPTION '{CHAIN_RULE}' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.organisation IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM organisations WHERE code = NEW.organisation) THEN
        RAISE EXCEPTION '{ORG_RULE}' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$
"""

PG_DEPLOYMENT_FIXED = """
CREATE OR REPLACE FUNCTION pmf_deployment_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deployment is written once, when the database is created: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("as_of", sa.String(32), nullable=True))
        batch.add_column(sa.Column("alg", sa.String(48), nullable=False, server_default="sha256/1"))
    with op.batch_alter_table("audit_heads") as batch:
        batch.add_column(sa.Column("at", sa.String(32), nullable=False, server_default=""))
    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rehearsal", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint("id = 1", name="deployment_one_row"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CHECK)
        op.execute(
            "CREATE TRIGGER audit_entries_chain_is_organisation BEFORE INSERT ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION pmf_audit_check_chain()"
        )
        op.execute(PG_DEPLOYMENT_FIXED)
        op.execute(
            "CREATE TRIGGER deployment_fixed BEFORE UPDATE OR DELETE ON deployment "
            "FOR EACH ROW EXECUTE FUNCTION pmf_deployment_fixed()"
        )
        op.execute(
            "CREATE TRIGGER deployment_no_truncate BEFORE TRUNCATE ON deployment "
            "FOR EACH STATEMENT EXECUTE FUNCTION pmf_deployment_fixed()"
        )
    else:
        # batch_alter_table rebuilt audit_entries: its append-only triggers go with the old table.
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_entries_no_{operation.lower()} BEFORE {operation} "
                f"ON audit_entries BEGIN SELECT RAISE(ABORT, "
                f"'audit_entries is append-only: {operation} refused'); END"
            )
            op.execute(
                f"CREATE TRIGGER deployment_no_{operation.lower()} BEFORE {operation} ON deployment "
                f"BEGIN SELECT RAISE(ABORT, 'deployment is written once, when the database is "
                f"created: {operation} refused'); END"
            )
        op.execute(
            "CREATE TRIGGER audit_entries_chain_is_organisation BEFORE INSERT ON audit_entries "
            "WHEN NEW.chain IS NOT COALESCE(NEW.organisation, '_system') "
            f"BEGIN SELECT RAISE(ABORT, '{CHAIN_RULE}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_entries_organisation_exists BEFORE INSERT ON audit_entries "
            "WHEN NEW.organisation IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM organisations WHERE code = NEW.organisation) "
            f"BEGIN SELECT RAISE(ABORT, '{ORG_RULE}'); END"
        )


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_chain_is_organisation ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS pmf_audit_check_chain()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_chain_is_organisation")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_organisation_exists")
    op.drop_table("deployment")
    with op.batch_alter_table("audit_heads") as batch:
        batch.drop_column("at")
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("alg")
        batch.drop_column("as_of")
    if op.get_bind().dialect.name != "postgresql":
        for operation in ("UPDATE", "DELETE"):  # a rebuilt SQLite table lost its triggers
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_entries_no_{operation.lower()} BEFORE {operation} "
                f"ON audit_entries BEGIN SELECT RAISE(ABORT, "
                f"'audit_entries is append-only: {operation} refused'); END"
            )
