"""Cancelling a cycle: an administrative end, with a reason, outside the workflow's own moves.

A cycle started by mistake (the wrong period, an organisation set up twice) or overtaken by
events is cancelled rather than pushed through its stages: it and every open instance under it
(its service returns, its Scrutiny actions) go to the reserved state :data:`CANCELLED`, which
no workflow may declare (state names start with a letter), so no trigger fires from it; their
open deadlines are closed and the reminders and escalations not yet sent are cancelled, so
the worker chases nobody, and the messages about them still waiting in the outbox (for the
sending hours, say) are withdrawn. Each instance moves by the same conditional UPDATE on its
version as ``fire`` uses (a concurrent writer loses and nothing is written) and gets an audit
entry of its own, ``cancelled``, with the reason; all of it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pmf_engine.core import audit, limits, values
from pmf_engine.core.clock import Clock
from pmf_engine.core.definition import CANCELLED
from pmf_engine.core.errors import ConcurrencyConflict, InvalidInput, NotNow
from pmf_engine.core.instances import MOVE_INSTANCE, InstanceRow
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Instance, OutboxMessage, Step, Store

if TYPE_CHECKING:  # the engine's parts, passed in (versions reads views, which reads this module)
    from pmf_engine.core.timekeeper import Timekeeper
    from pmf_engine.core.versions import Versions

log = structlog.get_logger("pmf_engine.cancel")


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What cancelling a cycle did."""

    cycle: str
    from_state: str
    instances: tuple[str, ...]
    """Every instance cancelled: the cycle first, then its open children."""
    messages_withdrawn: int = 0
    """Reminders and escalations of these instances written but not yet sent (waiting for the
    sending hours, say), withdrawn from the outbox."""


def _withdraw_messages(s: Session, organisation_id: int, instance_ids: list[int]) -> int:
    """Mark ``cancelled`` the organisation's pending outbox messages that are only about
    ``instance_ids`` (a digest that also tells of other work is still sent); how many."""
    steps = set(s.scalars(select(Step.id).where(Step.instance_id.in_(instance_ids))))
    if not steps:
        return 0
    ids = [
        message_id
        for message_id, step_ids in s.execute(
            select(OutboxMessage.id, OutboxMessage.step_ids).where(
                OutboxMessage.organisation_id == organisation_id, OutboxMessage.status == "pending"
            )
        )
        if step_ids and set(step_ids) <= steps
    ]
    if ids:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
            .values(status="cancelled", last_error="its cycle was cancelled")
            .execution_options(synchronize_session=False)
        )
    return len(ids)


class Cancellation:
    """Cancels cycles over a store, with the engine's stored definitions and clock."""

    def __init__(self, store: Store, versions: Versions, timekeeper: Timekeeper, clock: Clock) -> None:
        self.store = store
        self.versions = versions
        self.timekeeper = timekeeper
        self.clock = clock

    def cancel(self, key: str, *, by: str, reason: str, expected_version: int | None = None) -> Cancelled:
        """Cancel the cycle ``key`` and its open children with ``reason`` (required).
        ``NotNow`` for a cycle that has ended (closed or cancelled already) or for a child
        instance (cancel its cycle, or waive the return)."""
        reason = (values.check_text("reason", reason) or "").strip()
        if not reason:
            raise InvalidInput("reason", None, "cancelling a cycle needs a reason")
        too_long = limits.text_problem("reason", reason, limits.MAX_REASON)
        if too_long is not None:
            raise InvalidInput("reason", None, too_long)
        with self.store.write() as s:
            row = InstanceRow.load(s, key, lock=True)
            if row.parent_id is not None:
                raise NotNow(f"{key} is part of a cycle: cancel the cycle, or waive or close it instead")
            if expected_version is not None and row.version != expected_version:
                raise ConcurrencyConflict(key, expected_version, row.version)
            wf = self.versions.by_id(s, row.workflow_version_id)
            if wf.is_terminal(row.state):
                raise NotNow(f"{key} has ended ({wf.state_label(row.state)}): there is nothing to cancel")
            now = self.clock.now()
            children = [
                child
                for child in (
                    InstanceRow.load_id(s, child_id)
                    for child_id in s.scalars(
                        select(Instance.id).where(Instance.parent_id == row.id).order_by(Instance.key)
                    )
                )
                if not self.versions.by_id(s, child.workflow_version_id).is_terminal(child.state)
            ]
            withdrawn = _withdraw_messages(s, row.organisation_id, [row.id, *(c.id for c in children)])
            self._move(s, row, by, reason, now, {"messages_withdrawn": withdrawn})
            for child in children:
                self._move(s, child, by, reason, now, {"cycle": key})
        done = (key, *(c.key for c in children))
        log.info("cycle.cancelled", cycle=key, actor=by, instances=len(done), messages_withdrawn=withdrawn)
        return Cancelled(key, row.state, done, withdrawn)

    def _move(
        self, s: Session, row: InstanceRow, by: str, reason: str, now: datetime, data: dict[str, Any]
    ) -> None:
        self.timekeeper.leave(s, row.id, now)  # deadline closed, steps not yet sent cancelled
        context = {**row.context, "cancelled": {"by": by, "at": audit.format_instant(now), "from": row.state}}
        changed = s.connection().execute(
            MOVE_INSTANCE,
            {
                "instance_id": row.id,
                "read_version": row.version,
                "new_state": CANCELLED,
                "new_version": row.version + 1,
                "new_context": context,
                "new_entered_at": now,
            },
        )
        if changed.rowcount != 1:
            raise ConcurrencyConflict(row.key, row.version, None)
        audit.append(
            s,
            audit.AuditRecord(
                event="cancelled",
                organisation=row.organisation,
                instance=row.key,
                from_state=row.state,
                to_state=CANCELLED,
                actor=by,
                reason=reason,
                data=stamp(data),
            ),
            now,
        )
