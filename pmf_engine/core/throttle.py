"""Sign-in throttling: failed attempts counted atomically in the database, and a backoff that
slows a guesser without locking the real person out.

Each attempt is counted *before* its password is checked (``UPDATE ... SET failures =
failures + 1 RETURNING failures``, under the row's lock), so concurrent attempts cannot all
slip past a check that reads a count first: once a key reaches its free attempts, the next one
is held back until ``blocked_until``. A correct password clears the account's keys.

Three keys, each with its own limit (``ThrottlePolicy``):

- the pair (account, client address): a guesser at one address gets 5 tries, then waits
  1 s, 2 s, 4 s ... up to 15 minutes between tries;
- the address alone: one address spraying many accounts is slowed the same way after 20;
- the account alone, from anywhere: after 10 failures a try waits 1 s, 2 s ... but never more
  than a minute, so a distributed guesser gets about one try a minute per account while the
  real person, from their own address, waits a minute at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pmf_engine.core.store import SignInThrottle, Store


@dataclass(frozen=True)
class Limit:
    """``free`` failures, then a doubling wait from one second up to ``cap``."""

    free: int
    cap: timedelta

    def wait(self, failures: int) -> timedelta | None:
        """How long the key is held back after ``failures`` counted attempts."""
        if failures < self.free:
            return None
        return min(self.cap, timedelta(seconds=2 ** min(failures - self.free, 20)))


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits of each key, and how long failures are remembered."""

    pair: Limit = Limit(5, timedelta(minutes=15))
    address: Limit = Limit(20, timedelta(minutes=15))
    account: Limit = Limit(10, timedelta(minutes=1))
    window: timedelta = timedelta(minutes=15)
    """Failures older than this (since the key's first failure) are forgotten."""


class Throttle:
    """Counts sign-in attempts per key and says when a key must wait."""

    def __init__(self, store: Store, policy: ThrottlePolicy | None = None) -> None:
        self.store = store
        self.policy = policy or ThrottlePolicy()

    def keys(self, username: str, address: str) -> dict[str, Limit]:
        """The keys of an attempt on ``username`` from ``address``, with their limits."""
        p = self.policy
        return {
            f"pair:{username}|{address}"[:200]: p.pair,
            f"addr:{address}"[:200]: p.address,
            f"acct:{username}"[:200]: p.account,
        }

    def reserve(self, username: str, address: str, now: datetime) -> timedelta | None:
        """Count an attempt, or refuse it: ``None`` if the password may be checked now, else
        how long to wait (and nothing is counted, so waiting attempts extend no block)."""
        keys = self.keys(username, address)
        with self.store.write() as s:
            self._ensure(s, list(keys), now)
            rows = {
                r.key: r
                for r in s.scalars(
                    select(SignInThrottle).where(SignInThrottle.key.in_(list(keys))).with_for_update()
                )
            }
            waits = [
                r.blocked_until - now for r in rows.values() if r.blocked_until and r.blocked_until > now
            ]
            if waits:
                return max(waits)
            for key, limit in keys.items():
                row = rows[key]
                if now - row.window_started_at > self.policy.window:
                    row.failures, row.window_started_at, row.blocked_until = 0, now, None
                    s.flush()
                failures = s.execute(
                    update(SignInThrottle)
                    .where(SignInThrottle.key == key)
                    .values(failures=SignInThrottle.failures + 1)
                    .returning(SignInThrottle.failures)
                    .execution_options(synchronize_session=False)
                ).scalar_one()
                wait = limit.wait(failures)
                if wait is not None:
                    s.execute(
                        update(SignInThrottle)
                        .where(SignInThrottle.key == key)
                        .values(blocked_until=now + wait)
                        .execution_options(synchronize_session=False)
                    )
        return None

    def succeeded(self, username: str, address: str) -> None:
        """A correct password: forget the account's and the pair's failures, and take back the
        one this attempt added to the address (counted before the password was checked) without
        forgetting the address's others, which one's own account could otherwise reset between
        guesses at others. So a busy office address counts only failed sign-ins."""
        pair, address_key, account = self.keys(username, address)
        with self.store.write() as s:
            s.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key.in_([pair, account]))
                .values(failures=0, blocked_until=None)
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key == address_key, SignInThrottle.failures > 0)
                .values(failures=SignInThrottle.failures - 1)
                .execution_options(synchronize_session=False)
            )

    def _ensure(self, s: Session, keys: list[str], now: datetime) -> None:
        """Create the keys' rows that do not exist yet (a concurrent creator wins quietly)."""
        dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
        rows = [{"key": k, "failures": 0, "window_started_at": now, "blocked_until": None} for k in keys]
        s.execute(dialect.insert(SignInThrottle).values(rows).on_conflict_do_nothing())
