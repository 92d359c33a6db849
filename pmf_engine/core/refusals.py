"""Refused attempts, each kept in the audit log in a transaction of its own.

A refused fire rolls its transaction back, so what was tried is written afterwards, by itself:
in the chain of the instance's organisation when it exists, else in ``_system``. A refused
attempt that is not a fire (a target's proposal or decision) is kept the same way, under an
event its caller names (``attempt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from sqlalchemy import select

from pmf_engine.core import audit, limits
from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import InvalidInput, PmfError, Refused
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Instance, Organisation, Store


def record(
    store: Store, clock: Clock, refusal: Refused, actor: str, reason: str | None, data: Mapping[str, Any]
) -> None:
    """Write the refused attempt to the audit log in a transaction of its own."""
    _write(
        store,
        clock,
        refusal,
        event="refused",
        organisation=InstanceKey.organisation_of(refusal.instance) or None,
        actor=actor,
        reason=reason,
        data={"why": refusal.reason, "data": dict(data)},
        fired=refusal,
    )


def attempt(
    store: Store,
    clock: Clock,
    refusal: PmfError,
    *,
    event: str,
    organisation: str,
    actor: str,
    reason: str | None,
    data: Mapping[str, Any],
) -> None:
    """Write a refused attempt that is not a fire to ``organisation``'s chain (``_system`` if
    there is no such organisation) in a transaction of its own: who, what was asked (``data``),
    the reason they gave (clipped) and why it was refused."""
    why = refusal.reason if isinstance(refusal, Refused) else str(refusal)
    _write(
        store,
        clock,
        refusal,
        event=event,
        organisation=organisation,
        actor=actor,
        reason=limits.clip(reason),
        data={"why": limits.clip(why), "asked": limits.summary(data)},
    )


def _write(
    store: Store,
    clock: Clock,
    refusal: PmfError,
    *,
    event: str,
    organisation: str | None,
    actor: str,
    reason: str | None,
    data: dict[str, Any],
    fired: Refused | None = None,
) -> None:
    """The audit entry ``event`` of ``refusal`` (its kind, then ``data``), in a transaction of
    its own: in the chain of the instance a refused fire (``fired``) names when it exists, else
    of ``organisation`` when that exists, else ``_system``."""
    with store.write() as s:
        owner = None
        if fired is not None:
            owner = s.scalar(
                select(Organisation.code)
                .join(Instance, Instance.organisation_id == Organisation.id)
                .where(Instance.key == fired.instance)
            )
        if owner is None and organisation is not None:
            owner = s.scalar(select(Organisation.code).where(Organisation.code == organisation))
        audit.record(
            s,
            audit.AuditRecord(
                event=event,
                organisation=owner,
                instance=fired.instance if fired is not None else None,
                trigger=fired.trigger if fired is not None else None,
                from_state=fired.state if fired is not None else None,
                actor=actor,
                reason=reason,
                data=stamp({"refusal": type(refusal).__name__, **data}),
            ),
            clock.now(),
        )


def refuse_too_large(
    store: Store,
    clock: Clock,
    key: str,
    trigger: str,
    actor: str,
    reason: str | None,
    data: Mapping[str, Any],
    problem: tuple[str, str],
) -> NoReturn:
    """Audit an attempt whose reason or data is over its limit, keeping only their start,
    size and digest, and raise ``InvalidInput`` naming the field."""
    field, why = problem
    with store.read() as s:
        state = s.scalar(select(Instance.state).where(Instance.key == key))
    if state is not None:
        record(
            store, clock, Refused(key, trigger, state, why), actor, limits.clip(reason), limits.summary(data)
        )
    raise InvalidInput(field, None, why)
