"""Deadlines that follow a meeting: when a meeting moves, every open deadline set from it is
resolved again and each change is recorded in the audit log, in the caller's transaction; when
one is taken off the calendar, the instances that pinned it forget it first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.errors import ConcurrencyConflict
from pmf_engine.core.instances import InstanceRow
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Deadline, Instance
from pmf_engine.core.timekeeper import Stay, Timekeeper
from pmf_engine.core.versions import Versions


def recompute_deadlines(
    s: Session,
    timekeeper: Timekeeper,
    versions: Versions,
    now: datetime,
    organisation_id: int,
    meeting_id: int,
    *,
    by: str,
) -> int:
    """Re-resolve every open deadline that depends on a meeting (after it moved or was added),
    and those still unresolved (waiting for a meeting the calendar lacked).

    Steps that already fired are not repeated unless the move puts them in the future
    again; the rest are replaced. Each recomputed deadline is recorded in the audit log.
    """
    count = 0
    for deadline in timekeeper.open_deadlines_using(s, organisation_id, meeting_id):
        inst = InstanceRow.load_id(s, deadline.instance_id)
        wf = versions.by_id(s, inst.workflow_version_id)
        fired = timekeeper.fired_steps(s, inst.id)
        old_due = deadline.due_at
        timekeeper.leave(s, inst.id, now)
        pins = dict(inst.context.get("meetings", {}))
        stay = Stay.of_row(inst, deadline.opened_at, inst.context)
        # Reckoned as at the deadline's opening: a meeting begun since is not a return.
        timekeeper.enter(
            s, wf, inst.state, stay, pins, already_fired=fired, now=now, arrived=deadline.opened_at
        )
        new_due = s.execute(
            select(Deadline.due_at).where(Deadline.instance_id == inst.id, Deadline.closed_at.is_(None))
        ).scalar()
        if old_due is None and new_due is None:
            continue  # still waiting for a meeting: nothing changed worth recording
        audit.append(
            s,
            audit.AuditRecord(
                event="deadline.recomputed",
                organisation=inst.organisation,
                instance=inst.key,
                from_state=inst.state,
                to_state=inst.state,
                actor=by,
                data=stamp(
                    {
                        "meeting": meeting_id,
                        "rule": deadline.rule,
                        "from": audit.format_instant(old_due) if old_due else None,
                        "to": audit.format_instant(new_due) if new_due else None,
                    }
                ),
            ),
            now,
        )
        count += 1
    return count


def unpin_meeting(s: Session, organisation_id: int, meeting_id: int) -> list[str]:
    """Forget ``meeting_id`` in the pins of the organisation's instances (a versioned change of
    each), so a deadline never hangs on a meeting that is gone; the keys of those changed."""
    changed = []
    for key, instance_id, version, context in s.execute(
        select(Instance.key, Instance.id, Instance.version, Instance.context).where(
            Instance.organisation_id == organisation_id
        )
    ).all():
        pins = dict((context or {}).get("meetings") or {})
        kept = {body: pinned for body, pinned in pins.items() if pinned != meeting_id}
        if kept == pins:
            continue
        moved = s.execute(
            update(Instance)
            .where(Instance.id == instance_id, Instance.version == version)
            .values(context={**context, "meetings": kept}, version=version + 1)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrencyConflict(key, version, None)
        changed.append(str(key))
    return changed
