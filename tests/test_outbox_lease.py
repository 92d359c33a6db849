"""Issue #12, finding 11: two healthy workers delivering one outbox through a slow SMTP server.

The reproduction: "A 100-message batch outlived its 1-minute lease, the lease was not renewed
and the sent-mark did not check the holder: 23 duplicates in 302 messages." Here the mail
server (aiosmtpd on 127.0.0.1) takes a while over every message and the workers' clock runs
120 times faster than real time, so a batch of 100 outlives a one-minute lease within
a second; every message must still arrive exactly once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from structlog.testing import capture_logs

from pmf_engine import channels
from pmf_engine.core import outbox as queue
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.escalation import Delivery
from pmf_engine.core.store import OutboxMessage, Store
from tests.test_notify import queue_reminders

MESSAGES = 302
BATCH = 100
LEASE = timedelta(minutes=1)
DELIVERY = Delivery(channel="smtp", max_attempts=3, backoff_minutes=(1, 5))


class SlowMailbox:
    """An aiosmtpd handler that keeps every message it receives, after a pause per message."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.pause)  # the server is slow, not blocked: both workers wait on it
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class FastClock:
    """The injected clock, running ``factor`` times faster than real time from ``start``."""

    def __init__(self, start: datetime, factor: float) -> None:
        self.start = start
        self.factor = factor
        self._began = time.monotonic()

    def now(self) -> datetime:
        """``start`` plus the real time elapsed since creation, sped up."""
        return self.start + timedelta(seconds=(time.monotonic() - self._began) * self.factor)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowMailbox, int]]:
    mailbox = SlowMailbox(pause=0.02)  # a batch of 100 takes over 2 s: longer than its lease
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def _queue(store: Store, now: datetime, n: int) -> None:
    queue_reminders(store, now, n, first_step=1000)


def test_two_workers_and_a_slow_smtp_server_send_each_message_once(
    store: Store, clock: ManualClock, slow_smtp: tuple[SlowMailbox, int]
) -> None:
    """302 messages, batches of 100, a one-minute lease outlived by each batch: zero duplicates."""
    mailbox, port = slow_smtp
    _queue(store, clock.now(), MESSAGES)
    fast = FastClock(clock.now(), factor=30.0)  # two real seconds are a minute: one lease
    channel = channels.SmtpChannel(channels.SmtpSettings(host="127.0.0.1", port=port, timeout=5))
    start = threading.Barrier(2)
    totals: dict[str, queue.Delivered] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            outbox = queue.Outbox(store, DELIVERY, name, LEASE)
            total = queue.Delivered()
            start.wait(10)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = outbox.deliver(channel, fast, batch=BATCH)
                total.sent += done.sent
                total.lost += done.lost
                if not (done.sent or done.failed or done.lost):
                    with store.read() as s:
                        left = s.scalars(
                            select(OutboxMessage.id).where(OutboxMessage.status != "sent")
                        ).first()
                    if left is None:
                        break
                    time.sleep(0.05)  # another worker holds what is left
            totals[name] = total
        except BaseException as exc:  # reported by the main thread, not lost with this one
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"worker{i}",)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(90)
    assert not errors, errors

    received = Counter(m["Message-ID"] for m in mailbox.messages)
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    assert not duplicates, f"{sum(duplicates.values()) - len(duplicates)} duplicates in {MESSAGES} messages"
    with store.read() as s:
        stored = list(s.scalars(select(OutboxMessage)))
    assert len(received) == MESSAGES, "every message arrived"
    assert {m.status for m in stored} == {"sent"}
    assert set(received) == {m.message_id for m in stored}
    assert sum(t.sent for t in totals.values()) == MESSAGES, "each sent message counted once"
    assert {m.claimed_by for m in stored} <= {"worker0", "worker1"}


def test_only_the_lease_holder_marks_a_message_sent(store: Store, clock: ManualClock) -> None:
    """A worker whose message was taken over while it was sending neither marks it nor counts it."""
    _queue(store, clock.now(), 1)
    slow = queue.Outbox(store, DELIVERY, "slow", LEASE)
    other = queue.Outbox(store, DELIVERY, "other", LEASE)

    class TakenOverWhileSending:
        name = "test"

        def __init__(self) -> None:
            self.sent: list[str] = []

        def send(self, message: queue.Outgoing) -> None:
            self.sent.append(message.message_id)
            clock.advance(LEASE + timedelta(seconds=1))  # this send outlived the lease
            assert len(other._claim(clock.now(), 10)) == 1, "the other worker takes it over"

    channel = TakenOverWhileSending()
    with capture_logs() as logs:
        done = slow.deliver(channel, clock)
    assert (done.sent, done.lost) == (0, 1)
    assert any(entry["event"] == "message.lease_lost" for entry in logs)
    with store.read() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert (row.status, row.claimed_by, row.sent_at) == ("sending", "other", None)


def test_a_message_whose_lease_ran_out_unclaimed_is_not_marked_by_the_late_sender(
    store: Store, clock: ManualClock
) -> None:
    """Sent after the lease ran out: not counted as sent (it may go again, with the same Message-ID)."""
    _queue(store, clock.now(), 1)
    late = queue.Outbox(store, DELIVERY, "late", LEASE)

    class Stalls:
        name = "test"

        def send(self, message: queue.Outgoing) -> None:
            clock.advance(LEASE + timedelta(seconds=1))

    with capture_logs() as logs:
        assert late.deliver(Stalls(), clock).sent == 0
    assert [e["event"] for e in logs if e["event"].startswith("message.")] == ["message.lease_lost"]


def test_a_batch_renews_its_lease_so_no_other_worker_takes_what_is_still_to_send(
    store: Store, clock: ManualClock
) -> None:
    """Each message is sent under a lease renewed just before it; the rest of the batch stays held."""
    _queue(store, clock.now(), 3)
    first = queue.Outbox(store, DELIVERY, "first", LEASE)
    second = queue.Outbox(store, DELIVERY, "second", LEASE)
    stolen: list[int] = []

    class SlowChannel:
        name = "test"

        def send(self, message: queue.Outgoing) -> None:
            clock.advance(timedelta(seconds=40))  # three of these outlive one lease
            stolen.extend(m.id for m in second._claim(clock.now(), 10))

    assert first.deliver(SlowChannel(), clock).sent == 3
    assert stolen == [], "nothing was left for the other worker to take"
    with store.read() as s:
        assert set(s.scalars(select(OutboxMessage.status))) == {"sent"}


def test_a_failure_is_recorded_only_by_the_holder(store: Store, clock: ManualClock) -> None:
    """A failed send whose message was taken over meanwhile leaves the new holder's claim alone."""
    _queue(store, clock.now(), 1)
    failing = queue.Outbox(store, DELIVERY, "failing", LEASE)
    other = queue.Outbox(store, DELIVERY, "other", LEASE)

    class FailsLate:
        name = "test"

        def send(self, message: queue.Outgoing) -> None:
            clock.advance(LEASE + timedelta(seconds=1))
            other._claim(clock.now(), 10)
            raise ConnectionError("the server went away")

    done = failing.deliver(FailsLate(), clock)
    assert (done.failed, done.dead, done.lost) == (0, 0, 1)
    with store.read() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert (row.status, row.claimed_by, row.attempts) == ("sending", "other", 0)
