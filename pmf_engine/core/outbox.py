"""The outbox: messages queued inside the caller's transaction, then delivered by a channel
with retries and a dead letter.

Delivery is at-least-once: a message is claimed with a lease (renewed while its batch is
worked through), sent, then marked sent by the lease's holder only. If the process dies
between sending and marking, the lease expires and the message is sent again with the same
``Message-ID``, so the recipient's mail system (or a person) can see it is the same message;
two healthy workers never both send it. Channels (log, SMTP, GOV.UK Notify) live in
``pmf_engine.channels`` behind the ``Channel`` protocol here; message wording comes from a
``Renderer`` the application supplies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import structlog
from sqlalchemy import Table, and_, insert, select, update
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import Clock
from pmf_engine.core.escalation import Delivery
from pmf_engine.core.leases import LeasedQueue
from pmf_engine.core.store import OutboxMessage, Store

log = structlog.get_logger("pmf_engine.outbox")
_OUTBOX = cast(Table, OutboxMessage.__table__)
_QUEUE = LeasedQueue(_OUTBOX, due="next_attempt_at", free="pending", taken="sending")


class Renderer(Protocol):
    """Turns a message kind (``reminder``, ``escalation``, ``digest``) and its context into text."""

    def render(self, name: str, **context: Any) -> tuple[str, str]:
        """(subject, body) of the message ``name`` with ``context``."""
        ...


def message_id(organisation: str, recipient: str, step_ids: Sequence[int]) -> str:
    """The Message-ID of a message: the same organisation, recipient and steps always give the same one."""
    digest = hashlib.sha256(f"{organisation}|{recipient}|{sorted(step_ids)}".encode()).hexdigest()[:24]
    return f"<pmf.{digest}@pmf-engine.invalid>"


def keyed_message_id(key: str) -> str:
    """The Message-ID of a message named by ``key`` rather than by steps."""
    return f"<pmf.{hashlib.sha256(key.encode()).hexdigest()[:24]}@pmf-engine.invalid>"


def enqueue(
    s: Session,
    *,
    organisation_id: int | None,
    organisation: str,
    kind: str,
    recipient: str,
    address: str | None,
    subject: str,
    body: str,
    step_ids: Sequence[int],
    now: datetime,
    send_from: datetime | None = None,
    key: str | None = None,
) -> None:
    """Queue one message; it is not sent before ``send_from`` (the next sending window).
    ``key`` names a message that is not about steps (a weekly digest): its Message-ID comes
    from it, so the same key is queued once, however often it is asked."""
    s.connection().execute(
        insert(_OUTBOX),
        {
            "organisation_id": organisation_id,
            "created_at": now,
            "kind": kind,
            "recipient": recipient,
            "address": address,
            "subject": subject,
            "body": body,
            "message_id": message_id(organisation, recipient, step_ids)
            if key is None
            else keyed_message_id(key),
            "step_ids": list(step_ids),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": send_from or now,
        },
    )


@dataclass(frozen=True)
class Outgoing:
    """A claimed message as a channel sends it; ``id`` is its outbox row, ``message_id`` its Message-ID."""

    id: int
    recipient: str
    address: str | None
    subject: str
    body: str
    message_id: str
    kind: str


class Channel(Protocol):
    """Sends one message; every delivery channel has this shape."""

    name: str

    def send(self, message: Outgoing) -> None:
        """Deliver or raise; any exception counts as a failed attempt."""


@dataclass
class Delivered:
    """Counts from one delivery round: sent, failed (to be tried again), dead (attempts used up) and
    lost (another worker took the message over after this one's lease ran out)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0


class Outbox:
    """Claims due messages, sends them through a channel, and records each outcome.

    A claim is a lease held by ``worker_id``. Just before each message is sent the lease on
    every message of the batch still to go is renewed, so a batch that takes longer than one
    lease is never taken over by another worker while this one works through it; a message
    whose lease was lost anyway is skipped. Only the holder of a live lease records the
    outcome (``claimed_by = worker_id AND lease_until > now``): a late sender records nothing,
    logs ``message.lease_lost`` and does not count the message as sent. One send must take less
    than a lease (the SMTP channel's time-out is 10 s; the shortest lease one minute).
    """

    def __init__(self, store: Store, delivery: Delivery, worker_id: str, lease: timedelta) -> None:
        self.store = store
        self.delivery = delivery
        self.worker_id = worker_id
        self.lease = lease

    def deliver(self, channel: Channel, now: Clock | datetime, batch: int = 100) -> Delivered:
        """Send up to ``batch`` due messages; each failure is retried after the backoff, or dead-lettered.

        ``now`` is the clock to read (each renewal and each outcome is stamped with the time it
        happens), or one fixed instant for the whole round.
        """
        clock = _Fixed(now) if isinstance(now, datetime) else now
        result = Delivered()
        claimed = self._claim(clock.now(), batch)
        for i, message in enumerate(claimed):
            if message.id not in self._renew([m.id for m in claimed[i:]], clock.now()):
                self._lost(message, "before sending")
                result.lost += 1
                continue
            try:
                channel.send(message)
            except Exception as exc:  # any failure is one failed attempt
                dead = self._failed(message.id, clock.now(), f"{type(exc).__name__}: {exc}")
                if dead is None:
                    self._lost(message, "failed")
                    result.lost += 1
                    continue
                result.dead += dead
                result.failed += not dead
                log.warning(
                    "message.failed", id=message.id, recipient=message.recipient, error=str(exc), dead=dead
                )
            else:
                if self._sent(message.id, clock.now()):
                    result.sent += 1
                else:
                    self._lost(message, "sent")
                    result.lost += 1
        return result

    def _claim(self, now: datetime, batch: int) -> list[Outgoing]:
        c = _OUTBOX.c
        with self.store.write() as s:
            rows = _QUEUE.claim(
                s,
                now,
                now + self.lease,
                batch,
                [c.id, c.recipient, c.address, c.subject, c.body, c.message_id, c.kind],
                claimed_by=self.worker_id,
            )
        return sorted((Outgoing(**row._asdict()) for row in rows), key=lambda m: m.id)

    def _held(self, ids: Sequence[int], now: datetime) -> Any:
        """The condition that this worker still holds a live lease on the rows ``ids``."""
        c = _OUTBOX.c
        return and_(
            c.id.in_(list(ids)), c.status == "sending", c.claimed_by == self.worker_id, c.lease_until > now
        )

    def _renew(self, ids: Sequence[int], now: datetime) -> set[int]:
        """Extend the lease on those of ``ids`` this worker still holds; the ids it holds."""
        with self.store.write() as s:
            renewed = s.scalars(
                update(_OUTBOX)
                .where(self._held(ids, now))
                .values(lease_until=now + self.lease)
                .returning(_OUTBOX.c.id)
            )
            return set(renewed)

    def _sent(self, message_id: int, now: datetime) -> bool:
        """Mark the message sent if this worker still holds it; whether it did."""
        with self.store.write() as s:
            done = s.execute(
                update(_OUTBOX)
                .where(self._held([message_id], now))
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=_OUTBOX.c.attempts + 1,
                    last_error=None,
                    lease_until=None,
                )
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def _failed(self, message_id: int, now: datetime, error: str) -> bool | None:
        """Record a failed attempt if this worker still holds the message: whether it is now dead,
        or None if the lease was lost (the new holder's claim is left alone)."""
        with self.store.write() as s:
            held = s.execute(select(_OUTBOX.c.attempts).where(self._held([message_id], now))).scalar()
            if held is None:
                return None
            attempts = int(held) + 1
            dead = attempts >= self.delivery.max_attempts
            backoff = self.delivery.backoff_minutes
            wait = timedelta(minutes=backoff[min(attempts, len(backoff)) - 1] if backoff else 1)
            s.execute(
                update(_OUTBOX)
                .where(self._held([message_id], now))
                .values(
                    status="dead" if dead else "pending",
                    attempts=attempts,
                    next_attempt_at=now + wait,
                    last_error=error[:2000],
                    lease_until=None,
                )
            )
        return dead

    def _lost(self, message: Outgoing, when: str) -> None:
        log.warning(
            "message.lease_lost",
            id=message.id,
            recipient=message.recipient,
            worker=self.worker_id,
            when=when,
        )


@dataclass(frozen=True)
class _Fixed:
    """One instant standing in for a clock: the time of a whole delivery round."""

    instant: datetime

    def now(self) -> datetime:
        """The fixed instant."""
        return self.instant


def retry(
    store: Store,
    now: datetime,
    ids: Sequence[int] | None = None,
    *,
    by: str,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Give dead-lettered messages (all, or these ids) a fresh set of attempts, audited in the
    system chain with who asked (and ``data``: where from) in the same transaction."""
    with store.write() as s:
        query = update(_OUTBOX).where(_OUTBOX.c.status == "dead")
        if ids:
            query = query.where(_OUTBOX.c.id.in_(list(ids)))
        done = s.execute(query.values(status="pending", attempts=0, next_attempt_at=now, lease_until=None))
        count = int(done.rowcount)  # type: ignore[attr-defined]
        audit.record(
            s,
            audit.AuditRecord(
                event="outbox.retried",
                actor=by,
                data={**(data or {}), "ids": list(ids) if ids else "all dead-lettered", "count": count},
            ),
            now,
        )
        return count


def listing(store: Store, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    """The newest ``limit`` outbox messages (only those with ``status``, if given), newest first."""
    with store.read() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            query = query.where(OutboxMessage.status == status)
        return list(s.scalars(query))
