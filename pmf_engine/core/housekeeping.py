"""Housekeeping: the rows the web app needs only for a while, deleted once they are of no use.

- **Web sessions** that ended (sign-out, a password change, a time-out) or passed their
  absolute end more than ``Retention.sessions`` ago (90 days: time to look into a sign-in; the
  sign-ins themselves are in the audit log, which is never purged).
- **Sign-in throttle** rows whose window has passed and that hold nothing back: the next attempt
  on such a key would start a new window anyway (``Throttle.reserve``), so nothing is forgotten
  that was still counted.
- **Idempotency answers** older than ``Retention.idempotency`` (7 days: a client retries a POST
  within minutes; after a week the same key is a new request, as with most payment APIs).

``Housekeeping`` is a worker job (``Worker.jobs``): every worker runs it at most once an hour.
Each purge is one ``DELETE ... WHERE`` in its own transaction, so several workers purging at
once only find fewer rows; nothing else is touched and nothing is audited (these rows are not
the record: the audit chain is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, or_

from pmf_engine.core.store import IdempotencyKey, SignInThrottle, Store, WebSession
from pmf_engine.core.throttle import ThrottlePolicy

log = structlog.get_logger()
EVERY = timedelta(hours=1)
"""How often a worker purges."""


@dataclass(frozen=True)
class Retention:
    """How long each kind of row is kept after it stopped mattering."""

    sessions: timedelta = timedelta(days=90)
    idempotency: timedelta = timedelta(days=7)
    throttle_window: timedelta = ThrottlePolicy.window


def purge(store: Store, now: datetime, retention: Retention = Retention()) -> dict[str, int]:
    """Delete what ``retention`` no longer keeps at ``now``; how many rows of each kind."""
    cutoff = now - retention.sessions
    statements = {
        "web_sessions": delete(WebSession).where(
            or_(WebSession.ended_at < cutoff, WebSession.expires_at < cutoff)
        ),
        "sign_in_throttles": delete(SignInThrottle).where(
            SignInThrottle.window_started_at < now - retention.throttle_window,
            or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now),
        ),
        "idempotency_keys": delete(IdempotencyKey).where(
            IdempotencyKey.created_at < now - retention.idempotency
        ),
    }
    purged: dict[str, int] = {}
    for table, statement in statements.items():
        with store.write() as s:
            result = s.execute(statement.execution_options(synchronize_session=False))
            purged[table] = int(getattr(result, "rowcount", 0) or 0)
    return purged


class Housekeeping:
    """The worker's job: ``purge`` once every ``EVERY`` (the first tick purges at once); how many
    rows it deleted."""

    name = "housekeeping"

    def __init__(self, store: Store, retention: Retention = Retention()) -> None:
        self.store = store
        self.retention = retention
        self._next: datetime | None = None

    def __call__(self, now: datetime) -> int:
        """Purge if an hour has passed since this worker last did; how many rows went."""
        if self._next is not None and now < self._next:
            return 0
        self._next = now + EVERY
        purged = purge(self.store, now, self.retention)
        if any(purged.values()):
            log.info("housekeeping.purged", **purged)
        return sum(purged.values())
