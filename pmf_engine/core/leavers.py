"""A leaver's open work, found and handed over inside the caller's transaction: the instances
they are the assignee of (Scrutiny actions) and the reminders and escalations still to be sent
to them. ``Directory.deactivate`` uses these with the roles it takes away and gives on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, cast, select, update
from sqlalchemy.orm import Session

from pmf_engine.core.errors import ConcurrencyConflict
from pmf_engine.core.store import Deadline, Instance, Step


@dataclass(frozen=True, slots=True)
class Handover:
    """What deactivating a leaver did."""

    username: str
    to: str | None
    roles_revoked: int
    roles_given: int
    """The leaver's roles the ``to`` actor did not hold already."""
    steps_redirected: int
    """Reminders and escalations still to be sent that now go to ``to`` (or to nobody else)."""
    reassigned: tuple[str, ...]
    """The open instances (Scrutiny actions) whose assignee is now ``to``."""


def assigned_open_work(s: Session, username: str) -> list[tuple[str, int]]:
    """(key, id) of the instances ``username`` is the assignee of that still have an open deadline."""
    return [
        (str(key), int(i))
        for key, i in s.execute(
            select(Instance.key, Instance.id)
            .where(
                Instance.context["assignee"].as_string() == username,
                select(Deadline.id)
                .where(Deadline.instance_id == Instance.id, Deadline.closed_at.is_(None))
                .exists(),
            )
            .order_by(Instance.key)
        ).all()
    ]


def reassign(s: Session, instance_id: int, to: str) -> None:
    """Make ``to`` the assignee of an instance, as a versioned change (a writer that read the
    instance before this loses its conditional update and retries)."""
    version, context = s.execute(
        select(Instance.version, Instance.context).where(Instance.id == instance_id)
    ).one()
    changed = s.execute(
        update(Instance)
        .where(Instance.id == instance_id, Instance.version == version)
        .values(context={**context, "assignee": to}, version=version + 1)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrencyConflict(str(instance_id), version, None)


def hand_over_steps(s: Session, username: str, to: str | None) -> int:
    """Send the reminders and escalations still pending for ``username`` to ``to`` instead (or
    drop them from the recipients without one); how many steps changed."""
    rows = s.execute(
        select(Step.id, Step.recipients).where(
            Step.status == "pending", cast(Step.recipients, String).contains(f'"{username}"')
        )
    ).all()
    count = 0
    for step_id, recipients in rows:
        if username not in recipients:
            continue
        new = sorted({r for r in recipients if r != username} | ({to} if to else set()))
        s.execute(
            update(Step)
            .where(Step.id == step_id, Step.status == "pending")
            .values(recipients=new)
            .execution_options(synchronize_session=False)
        )
        count += 1
    return count
