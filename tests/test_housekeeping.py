"""The worker's housekeeping (``core/housekeeping.py``): web sessions long ended, throttle rows
whose window passed and idempotency answers older than a week are deleted; everything still in
use is kept. On both backends, at simulated times."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.housekeeping import EVERY, Housekeeping, purge
from pmf_engine.core.sessions import Sessions
from pmf_engine.core.store import AuditEntry, IdempotencyKey, SignInThrottle, WebSession
from pmf_engine.core.throttle import Throttle


def _count(engine: Engine, model: type) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _answered(engine: Engine, key: str, clock: ManualClock) -> None:
    """An API answer stored under the idempotency ``key`` now."""
    with engine.store.write() as s:
        s.add(
            IdempotencyKey(
                actor="perf",
                key=key,
                request_sha256="0" * 64,
                status_code=201,
                body="{}",
                created_at=clock.now(),
            )
        )


def test_purge_deletes_only_what_is_spent(engine: Engine, clock: ManualClock) -> None:
    sessions = Sessions(engine.store, clock)
    throttle = Throttle(engine.store)
    old = sessions.start("perf")  # will have ended 91 days before the purge
    sessions.end_all("perf", "signed_out")
    throttle.reserve("nobody", "10.0.0.1", clock.now())  # a spent window by then
    _answered(engine, "k-old", clock)
    clock.advance(timedelta(days=91))
    recent = sessions.start("sm_housing")  # live at the purge
    for _ in range(6):  # held back now: blocked_until lies ahead
        throttle.reserve("perf", "10.0.0.2", clock.now())
    _answered(engine, "k-new", clock)
    entries = _count(engine, AuditEntry)

    purged = purge(engine.store, clock.now())

    assert purged == {"web_sessions": 1, "sign_in_throttles": 3, "idempotency_keys": 1}
    assert sessions.user(recent) == "sm_housing" and sessions.user(old) is None
    with engine.store.read() as s:
        keys = set(s.scalars(select(SignInThrottle.key)))
        assert {k for k in keys if "10.0.0.1" in k or k == "acct:nobody"} == set()
        assert any("10.0.0.2" in k for k in keys)
        assert set(s.scalars(select(IdempotencyKey.key))) == {"k-new"}
    assert _count(engine, AuditEntry) == entries  # the record is never purged
    nothing = {"web_sessions": 0, "sign_in_throttles": 0, "idempotency_keys": 0}
    assert purge(engine.store, clock.now()) == nothing


def test_a_session_past_its_absolute_end_is_purged_after_the_retention(
    engine: Engine, clock: ManualClock
) -> None:
    """A session nobody signed out of ends by time-out; it goes 90 days after its absolute end."""
    sessions = Sessions(engine.store, clock)
    sessions.start("perf")
    clock.advance(timedelta(days=89))
    assert purge(engine.store, clock.now())["web_sessions"] == 0
    clock.advance(timedelta(days=2))
    assert purge(engine.store, clock.now())["web_sessions"] == 1
    assert _count(engine, WebSession) == 0


def test_the_job_purges_at_most_once_an_hour(engine: Engine, clock: ManualClock) -> None:
    sessions = Sessions(engine.store, clock)
    job = Housekeeping(engine.store)
    assert job(clock.now()) == 0  # nothing spent yet
    sessions.start("perf")
    sessions.end_all("perf", "signed_out")
    with engine.store.write() as s:  # ended long ago
        s.execute(update(WebSession).values(ended_at=clock.now() - timedelta(days=100)))
    assert job(clock.now() + EVERY - timedelta(seconds=1)) == 0  # not yet an hour since
    assert job(clock.now() + EVERY) == 1
