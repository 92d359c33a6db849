"""The log channel: each message becomes a structured log event (trials, no e-mail set up)."""

from __future__ import annotations

import structlog

from pmf_engine.core.outbox import Outgoing

log = structlog.get_logger("pmf_engine.channels")


class LogChannel:
    """Writes each message as a log event: for trials and for councils without e-mail set up."""

    name = "log"

    def send(self, message: Outgoing) -> None:
        """Log the message as a ``message.sent`` event: recipient, subject and Message-ID, never the body."""
        log.info(
            "message.sent",
            channel="log",
            recipient=message.recipient,
            subject=message.subject,
            message_id=message.message_id,
        )
