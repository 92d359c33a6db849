"""Delivery through a real SMTP server on loopback (aiosmtpd): sent, retried, dead-lettered,
retried by hand, and nothing lost."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from pmf_engine import channels
from pmf_engine.core import outbox as queue
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.escalation import Delivery
from pmf_engine.core.store import OutboxMessage, Store


class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or answers with a chosen error."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.reply: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply:
            return self.reply
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queue_reminders(store: Store, now: datetime, n: int = 2, *, first_step: int = 100) -> None:
    """``n`` reminders in the outbox, as the worker's sweep would write them."""
    with store.write() as s:
        for i in range(n):
            queue.enqueue(
                s,
                organisation_id=None,
                organisation="TDC",
                kind="reminder",
                recipient=f"person{i}",
                address=f"person{i}@council.example",
                subject=f"Reminder {i}",
                body=f"Body {i}\n",
                step_ids=[first_step + i],
                now=now,
            )


def _outbox(store: Store) -> list[OutboxMessage]:
    with store.read() as s:
        return list(s.query(OutboxMessage).order_by(OutboxMessage.id))


DELIVERY = Delivery(channel="smtp", max_attempts=3, backoff_minutes=(1, 5))


def test_messages_reach_a_real_smtp_server(
    store: Store, clock: ManualClock, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    queue_reminders(store, clock.now())
    outbox = queue.Outbox(store, DELIVERY, "w", timedelta(minutes=5))
    channel = channels.SmtpChannel(
        channels.SmtpSettings(host="127.0.0.1", port=port, sender="pmf@council.example")
    )
    result = outbox.deliver(channel, clock.now())
    assert (result.sent, result.failed) == (2, 0)
    assert [m["Subject"] for m in mailbox.messages] == ["Reminder 0", "Reminder 1"]
    assert mailbox.messages[0]["To"] == "person0@council.example"
    stored = _outbox(store)
    assert [m.status for m in stored] == ["sent", "sent"]
    assert mailbox.messages[0]["Message-ID"] == stored[0].message_id
    assert outbox.deliver(channel, clock.now()).sent == 0, "sent messages are not sent again"


@pytest.mark.parametrize("reply", [None, "451 4.3.0 Try again later", "550 5.1.1 No such user"])
def test_failures_retry_with_backoff_then_dead_letter(
    store: Store, clock: ManualClock, smtp: tuple[Mailbox, int], reply: str | None
) -> None:
    mailbox, port = smtp
    if reply is None:
        port = _free_port()  # nothing listens: connection refused
    mailbox.reply = reply
    queue_reminders(store, clock.now(), 1)
    outbox = queue.Outbox(store, DELIVERY, "w", timedelta(minutes=5))
    channel = channels.SmtpChannel(channels.SmtpSettings(host="127.0.0.1", port=port, timeout=2))

    assert outbox.deliver(channel, clock.now()).failed == 1
    first = _outbox(store)[0]
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert outbox.deliver(channel, clock.now()).failed == 0, "not before the backoff"
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver(channel, clock.now()).failed == 1
    assert _outbox(store)[0].next_attempt_at == clock.now() + timedelta(minutes=5)
    clock.advance(timedelta(minutes=5))
    assert outbox.deliver(channel, clock.now()).dead == 1
    dead = _outbox(store)[0]
    assert (dead.status, dead.attempts) == ("dead", 3) and dead.last_error

    # The operator fixes the mail server and retries the dead letter: it arrives, once.
    mailbox.reply = None
    working = channels.SmtpChannel(channels.SmtpSettings(host="127.0.0.1", port=smtp[1]))
    assert queue.retry(store, clock.now(), by="operator") == 1
    assert outbox.deliver(working, clock.now()).sent == 1
    assert [m["Subject"] for m in mailbox.messages] == ["Reminder 0"]
    assert _outbox(store)[0].status == "sent"


def test_crashed_sender_resends_with_the_same_message_id(
    store: Store, clock: ManualClock, smtp: tuple[Mailbox, int]
) -> None:
    """A sender that dies after claiming: the lease runs out and the message goes again."""
    mailbox, port = smtp
    queue_reminders(store, clock.now(), 1)
    crashed = queue.Outbox(store, DELIVERY, "crashed", timedelta(minutes=5))
    assert len(crashed._claim(clock.now(), 10)) == 1  # claimed, then the process died
    survivor = queue.Outbox(store, DELIVERY, "survivor", timedelta(minutes=5))
    channel = channels.SmtpChannel(channels.SmtpSettings(host="127.0.0.1", port=port))
    assert survivor.deliver(channel, clock.now()).sent == 0, "the lease still holds"
    clock.advance(timedelta(minutes=6))
    assert survivor.deliver(channel, clock.now()).sent == 1
    assert mailbox.messages[0]["Message-ID"] == _outbox(store)[0].message_id


def test_templates_can_be_overridden(tmp_path: Any) -> None:
    (tmp_path / "reminder.txt.j2").write_text("Subject: Council says {{ item }}\nHello {{ recipient }}\n")
    subject, body = channels.Templates(tmp_path).render("reminder", item="hi", recipient="you")
    assert (subject, body) == ("Council says hi", "Hello you\n")
    subject, _ = channels.Templates(tmp_path).render(
        "escalation",
        recipient={"name": "X"},
        organisation="TDC",
        item={
            "stage": "S",
            "instance": "I",
            "late_text": "1 working day late",
            "due_text": "d",
            "rung": 1,
            "actions": "",
        },
    )
    assert subject == "Overdue: S for I (1 working day late)"
