"""The worker's daily ModernGov sync: each organisation of ``moderngov.yaml`` once a day, from
its ``daily_at`` hour (London time), by whichever worker claims it first.

The claim is a conditional UPDATE of the organisation's ``moderngov_syncs`` row (its first, an
INSERT that a second worker's fails), so any number of workers sync each organisation once. A
sync that fails (the site down, a malformed response) changes nothing, is recorded on the row
and tried again after ``RETRY``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from pmf_engine.core.clock import LONDON, as_utc, london
from pmf_engine.core.errors import NotFound
from pmf_engine.core.store import find_organisation
from pmf_engine.pmf.models import ModernGovSync
from pmf_engine.pmf.moderngov.sync import ACTOR, ModernGov

log = structlog.get_logger("pmf_engine.moderngov")
LEASE = timedelta(minutes=30)
"""How long a claimed sync is a worker's before another may take it (one that crashed)."""
RETRY = timedelta(hours=1)
"""How long after a failed sync it is tried again."""


def next_daily(now: datetime, hour: int) -> datetime:
    """The next day's ``hour`` o'clock, London time, after ``now``."""
    day = london(now).date() + timedelta(days=1)
    return as_utc(datetime.combine(day, time(hour), tzinfo=LONDON))


class DailySync:
    """The worker's job: sync each organisation whose day's sync is due; how many were synced."""

    name = "moderngov_sync"

    def __init__(self, moderngov: ModernGov) -> None:
        self.moderngov = moderngov

    def __call__(self, now: datetime) -> int:
        """Sync every organisation due at ``now``; how many syncs changed a calendar."""
        synced = 0
        for code, site in self.moderngov.policy.organisations.items():
            org_id = self._claim(code, now)
            if org_id is None:
                continue
            try:
                done = self.moderngov.sync(code, by=ACTOR)
            except Exception as exc:  # any failure: nothing was written; record it and retry later
                log.warning("moderngov.sync_failed", organisation=code, error=str(exc)[:500])
                self._finish(org_id, now + RETRY, None, str(exc)[:2000] or type(exc).__name__)
                continue
            self._finish(org_id, next_daily(now, site.daily_at), now, None)
            synced += 1 if done.changed else 0
        return synced

    def _claim(self, code: str, now: datetime) -> int | None:
        """The organisation's id if this worker is to sync it now, else ``None``."""
        store = self.moderngov.calendar.store
        try:
            with store.write() as s:
                try:
                    org = find_organisation(s, code)
                except NotFound:
                    return None  # moderngov.yaml names an organisation this database does not hold
                row = s.get(ModernGovSync, org.id)
                if row is None:
                    s.add(ModernGovSync(organisation_id=org.id, next_at=now + LEASE))
                    return org.id
                taken = s.execute(
                    update(ModernGovSync)
                    .where(ModernGovSync.organisation_id == org.id, ModernGovSync.next_at <= now)
                    .values(next_at=now + LEASE)
                )
                return org.id if taken.rowcount else None  # type: ignore[attr-defined]
        except IntegrityError:  # another worker inserted the row first: it is syncing
            return None

    def _finish(self, org_id: int, next_at: datetime, ok_at: datetime | None, error: str | None) -> None:
        values: dict[str, object] = {"next_at": next_at, "last_error": error}
        if ok_at is not None:
            values["last_ok_at"] = ok_at
        with self.moderngov.calendar.store.write() as s:
            s.execute(update(ModernGovSync).where(ModernGovSync.organisation_id == org_id).values(**values))
