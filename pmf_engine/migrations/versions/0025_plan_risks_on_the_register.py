"""A service plan's operational risks become entries of the risk register: each risk of the old
``plan_risks`` table moves onto ``risks`` (linked to its plan, numbered there as before), and
the old table goes.

A moved risk keeps its plan, its number (``R1``, ``R2``, ... in the order raised), owner and
withdrawal; its text becomes the title (a text over 300 characters is cut, and kept whole as
its cause), its mitigation the controls. Its code on the register is ``SERVICE-YEAR-R1``
(``HOUSING-2025-26-R1``; ``P<plan id>-R1`` where that is over 32 characters, and a ``-2``,
``-3`` ... if the code is taken). It goes on the ``operational`` register (the shipped
``risk.yaml``'s; a council whose plans use another ``plans.risk_register`` renames it after).
Its low/medium/high rating becomes a likelihood x impact pair, inherent and residual alike (the
old list said nothing of controls), chosen to land in the same band of the shipped heat map and
to escalate nothing by itself (the next quarterly review decides)::

    low    -> 2 x 2 = 4   (Unlikely x Minor: Low, within appetite)
    medium -> 3 x 3 = 9   (Possible x Moderate: Medium)
    high   -> 3 x 4 = 12  (Possible x Major: High, below the Leadership Team's 15)
    any other rating -> 3 x 3

The audit entries the old risks were written with (``plan.risk_added`` and the rest, naming
``R1``, ``R2``, ...) stay as they are: the chain is not rewritten, and the numbers still name the
same risks. Downgrade recreates ``plan_risks`` from the plan-linked risks (rating back from the
residual score: 12 or more high, 5 or more medium, else low; created by its owner at the plan's
start) and takes them, with their reviews and links, off the register.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

REGISTER = "operational"
RATINGS = {"low": (2, 2), "medium": (3, 3), "high": (3, 4)}
OTHER = (3, 3)
TITLE = 300
CODE = 32


def _columns() -> list[sa.Column[Any]]:
    """``plan_risks`` as 0019 and 0022 left it."""
    return [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(16), nullable=False),
        sa.Column("mitigation", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_by", sa.String(64), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=False, server_default=""),
    ]


plan_risks = sa.table("plan_risks", *(sa.column(c.name, c.type) for c in _columns()))
instances = sa.table(
    "instances",
    sa.column("id", sa.Integer()),
    sa.column("organisation_id", sa.Integer()),
    sa.column("service_id", sa.Integer()),
    sa.column("period", sa.String()),
    sa.column("created_at", sa.DateTime()),
)
services = sa.table("services", sa.column("id", sa.Integer()), sa.column("code", sa.String()))
risks = sa.table(
    "risks",
    sa.column("id", sa.Integer()),
    sa.column("organisation_id", sa.Integer()),
    sa.column("code", sa.String()),
    sa.column("title", sa.String()),
    sa.column("register", sa.String()),
    sa.column("service_id", sa.Integer()),
    sa.column("owner", sa.String()),
    sa.column("cause", sa.Text()),
    sa.column("effect", sa.Text()),
    sa.column("inherent_likelihood", sa.Integer()),
    sa.column("inherent_impact", sa.Integer()),
    sa.column("residual_likelihood", sa.Integer()),
    sa.column("residual_impact", sa.Integer()),
    sa.column("controls", sa.Text()),
    sa.column("actions", sa.Text()),
    sa.column("plan_id", sa.Integer()),
    sa.column("plan_ref", sa.String()),
    sa.column("withdrawn_by", sa.String()),
    sa.column("withdrawn_at", sa.DateTime()),
    sa.column("withdrawn_reason", sa.Text()),
)
risk_links = sa.table("risk_links", sa.column("risk_id", sa.Integer()))
risk_reviews = sa.table("risk_reviews", sa.column("risk_id", sa.Integer()))


def upgrade() -> None:
    """Bring the schema forward to this revision: the columns, then the risks, then the old table."""
    # Plain ADD COLUMN (no batch copy of ``risks``): its links and reviews point at it, and
    # SQLite, enforcing foreign keys, would refuse to drop the table they reference.
    if op.get_bind().dialect.name == "sqlite":  # ADD COLUMN with its REFERENCES, no table copy
        op.execute("ALTER TABLE risks ADD COLUMN plan_id INTEGER REFERENCES instances (id)")
    else:
        plan = sa.Column("plan_id", sa.Integer(), sa.ForeignKey("instances.id"), nullable=True)
        op.add_column("risks", plan)
    op.add_column("risks", sa.Column("plan_ref", sa.String(16), nullable=True))
    op.add_column("risks", sa.Column("withdrawn_by", sa.String(64), nullable=True))
    op.add_column("risks", sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
    op.add_column("risks", sa.Column("withdrawn_reason", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_risks_plan", "risks", ["plan_id", "plan_ref"], unique=True)
    bind = op.get_bind()
    taken = {(o, c) for o, c in bind.execute(sa.select(risks.c.organisation_id, risks.c.code))}
    rows = bind.execute(
        sa.select(plan_risks, instances.c.organisation_id, instances.c.service_id, instances.c.period,
                  services.c.code.label("service"))
        .join(instances, instances.c.id == plan_risks.c.instance_id)
        .outerjoin(services, services.c.id == instances.c.service_id)
        .order_by(plan_risks.c.instance_id, plan_risks.c.id)
    ).mappings().all()  # fmt: skip
    numbered: dict[int, int] = {}
    moved: list[dict[str, Any]] = []
    for row in rows:
        numbered[row["instance_id"]] = n = numbered.get(row["instance_id"], 0) + 1
        ref = f"R{n}"
        code = _code(row, ref, taken)
        taken.add((row["organisation_id"], code))
        likelihood, impact = RATINGS.get(row["rating"], OTHER)
        text = row["risk"]
        title = text if len(text) <= TITLE else text[: TITLE - 1] + "\u2026"
        moved.append(
            {
                "organisation_id": row["organisation_id"],
                "code": code,
                "title": title,
                "register": REGISTER,
                "service_id": row["service_id"],
                "owner": row["owner"],
                "cause": text if title != text else "",
                "effect": "",
                "inherent_likelihood": likelihood,
                "inherent_impact": impact,
                "residual_likelihood": likelihood,
                "residual_impact": impact,
                "controls": row["mitigation"],
                "actions": "",
                "plan_id": row["instance_id"],
                "plan_ref": ref,
                "withdrawn_by": row["withdrawn_by"],
                "withdrawn_at": row["withdrawn_at"],
                "withdrawn_reason": row["withdrawn_reason"] or "",
            }
        )
    if moved:
        bind.execute(risks.insert(), moved)
    op.drop_table("plan_risks")


def _code(row: Any, ref: str, taken: set[tuple[int, str]]) -> str:
    """The moved risk's code on the register: ``SERVICE-YEAR-R1``, unique in its organisation."""
    code = f"{row['service']}-{row['period']}-{ref}"
    if row["service"] is None or len(code) > CODE:
        code = f"P{row['instance_id']}-{ref}"
    found, n = code, 1
    while (row["organisation_id"], found) in taken:
        n += 1
        found = f"{code}-{n}"
    return found


def downgrade() -> None:
    """Take the schema back: ``plan_risks`` again, filled from the register's plan risks."""
    op.create_table("plan_risks", *_columns())
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(risks, instances.c.created_at.label("started"))
        .join(instances, instances.c.id == risks.c.plan_id)
        .order_by(risks.c.plan_id, risks.c.id)
    ).mappings().all()  # fmt: skip
    back = []
    for row in rows:
        score = row["residual_likelihood"] * row["residual_impact"]
        back.append(
            {
                "instance_id": row["plan_id"],
                "risk": row["cause"] if row["title"].endswith("\u2026") and row["cause"] else row["title"],
                "owner": row["owner"],
                "rating": "high" if score >= 12 else "medium" if score >= 5 else "low",
                "mitigation": row["controls"],
                "created_by": row["owner"],
                "created_at": row["started"],
                "withdrawn_by": row["withdrawn_by"],
                "withdrawn_at": row["withdrawn_at"],
                "withdrawn_reason": row["withdrawn_reason"],
            }
        )
    if back:
        bind.execute(plan_risks.insert(), back)
    ids = [row["id"] for row in rows]
    if ids:
        bind.execute(risk_links.delete().where(risk_links.c.risk_id.in_(ids)))
        bind.execute(risk_reviews.delete().where(risk_reviews.c.risk_id.in_(ids)))
        bind.execute(risks.delete().where(risks.c.id.in_(ids)))
    op.drop_index("ix_risks_plan", table_name="risks")
    with op.batch_alter_table("risks") as batch:
        for column in ("withdrawn_reason", "withdrawn_at", "withdrawn_by", "plan_ref", "plan_id"):
            batch.drop_column(column)
