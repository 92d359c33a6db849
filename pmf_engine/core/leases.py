"""Leases: how any number of workers share a queue table (reminder steps, the outbox) so each
row is worked by one of them at a time.

A claim is one conditional UPDATE over the rows that are due and either free or whose lease has
run out; on PostgreSQL the candidate rows are chosen ``FOR UPDATE SKIP LOCKED``, so concurrent
workers take disjoint rows instead of waiting for each other (SQLite serialises writers with
``BEGIN IMMEDIATE``). A worker that dies leaves its claims to be taken again after the lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Row, Table, or_, select, update
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class LeasedQueue:
    """A table whose rows are claimed with a lease: ``free`` rows become ``taken`` until
    ``lease_until``; ``due`` is the column that says when a row may be claimed."""

    table: Table
    due: str
    free: str
    taken: str

    def claim(
        self,
        s: Session,
        now: datetime,
        until: datetime,
        batch: int,
        returning: Sequence[Column[Any]],
        **values: Any,
    ) -> Sequence[Row[Any]]:
        """Claim up to ``batch`` due rows until ``until``, setting ``values`` too; the claimed
        rows' ``returning`` columns, oldest due first."""
        c = self.table.c
        candidates = (
            select(c.id)
            .where(
                c.status.in_((self.free, self.taken)),
                c[self.due] <= now,
                or_(c.status == self.free, c.lease_until < now),
            )
            .order_by(c[self.due])
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return s.execute(
            update(self.table)
            .where(c.id.in_(candidates.scalar_subquery()))
            .values(status=self.taken, lease_until=until, **values)
            .returning(*returning)
        ).all()
