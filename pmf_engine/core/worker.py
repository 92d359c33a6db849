"""The worker: sweeps due reminder and escalation steps and fires each exactly once.

Any number of workers may run against one database. A sweep claims due steps with one
conditional UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers take disjoint rows;
``BEGIN IMMEDIATE`` on SQLite) and a lease, so a crashed worker's claims are taken again once
the lease runs out. Firing a claimed step marks it fired only if this worker still holds it,
and writes its audit entry and outbox message in the same transaction: a step is fired once
or not at all. All steps a recipient has in one sweep fold into one message, so a worker
that comes back after days away sends one digest per person, not a flood.

APScheduler (3.x, in-memory job store, never shared) only wakes the sweep up; the database is
the source of truth.
"""

from __future__ import annotations

import os
import signal
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from pmf_engine.core import audit, outbox
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock, SystemClock, london
from pmf_engine.core.escalation import sending_time
from pmf_engine.core.leases import LeasedQueue
from pmf_engine.core.store import Actor, Deadline, Instance, Organisation, Step, Store
from pmf_engine.core.versions import StoredWorkflows
from pmf_engine.core.workdays import WorkingDays

log = structlog.get_logger("pmf_engine.worker")
_STEPS = cast(Table, Step.__table__)
_STEP_QUEUE = LeasedQueue(_STEPS, due="due_at", free="pending", taken="claimed")


def default_worker_id() -> str:
    """An id unique to this process (``host:pid``), recorded on the steps it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class SweepResult:
    """Counts from a sweep: steps claimed and fired, and messages queued (one per recipient per round)."""

    claimed: int = 0
    fired: int = 0
    messages: int = 0
    lost: int = 0
    """Claimed, but another worker took them over after our lease ran out."""


@dataclass(frozen=True)
class _Due:
    step_id: int
    kind: str
    rung: int
    due_at: datetime
    recipients: list[str]
    instance: str
    state: str
    deadline_at: datetime
    organisation_id: int
    organisation: str
    subdivision: str
    version_id: int


@dataclass
class _Item:
    """What a template shows about one step."""

    kind: str
    rung: int
    instance: str
    stage: str
    due_text: str
    late_text: str
    days_left: int
    actions: str
    step_id: int = field(repr=False)

    @property
    def detail(self) -> str:
        if self.kind == "reminder":
            return f"reminder, {self.days_left} working day{'s' if self.days_left != 1 else ''} left"
        return f"{self.late_text} (escalation step {self.rung})"


class Worker:
    """Fires due reminder and escalation steps and delivers the outbox; many may share a database."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        clock: Clock,
        *,
        worker_id: str | None = None,
        batch: int = 1000,
        templates: outbox.Renderer,
        channel: outbox.Channel,
        jobs: Sequence[Callable[[datetime], int]] = (),
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.worker_id = worker_id or default_worker_id()
        self.batch = batch
        self.templates = templates
        self.channel = channel
        self.lease = timedelta(minutes=catalog.escalation.lease_minutes)
        self._definitions = StoredWorkflows()
        self.jobs = tuple(jobs)
        """What the application queues in the outbox on each tick (the weekly digest): each
        takes the time and returns how many messages it queued; it must be safe to repeat."""

    # -- sweeping steps -------------------------------------------------------------------

    def sweep(self) -> SweepResult:
        """Claim and fire due steps until none are left; return what was done."""
        total = SweepResult()
        while True:
            now = self.clock.now()
            claimed = self.claim(now)
            if not claimed:
                return total
            result = self.fire(claimed, now)
            total.claimed += len(claimed)
            total.fired += result.fired
            total.messages += result.messages
            total.lost += result.lost
            if len(claimed) < self.batch:
                return total

    def claim(self, now: datetime) -> list[int]:
        """Take up to ``batch`` due steps (or steps whose lease ran out) for this worker."""
        with self.store.write() as s:
            rows = _STEP_QUEUE.claim(
                s, now, now + self.lease, self.batch, [_STEPS.c.id], claimed_by=self.worker_id
            )
        return sorted(row[0] for row in rows)

    def fire(self, step_ids: Sequence[int], now: datetime) -> SweepResult:
        """Fire the claimed steps this worker still holds: audit entries and folded messages."""
        result = SweepResult(claimed=len(step_ids))
        with self.store.write() as s:
            held = set(
                s.scalars(
                    update(_STEPS)
                    .where(
                        _STEPS.c.id.in_(list(step_ids)),
                        _STEPS.c.status == "claimed",
                        _STEPS.c.claimed_by == self.worker_id,
                    )
                    .values(status="fired", fired_at=now)
                    .returning(_STEPS.c.id)
                )
            )
            result.lost = len(step_ids) - len(held)
            if not held:
                return result
            due = self._load(s, sorted(held))
            for d in due:
                audit.append(
                    s,
                    audit.AuditRecord(
                        event=f"{d.kind}.fired",
                        organisation=d.organisation,
                        instance=d.instance,
                        from_state=d.state,
                        actor="system:worker",
                        data={
                            "step": d.step_id,
                            "rung": d.rung,
                            "due_at": audit.format_instant(d.due_at),
                            "deadline": audit.format_instant(d.deadline_at),
                            "recipients": d.recipients,
                            "worker": self.worker_id,
                        },
                    ),
                    now,
                )
            result.fired = len(due)
            result.messages = self._enqueue(s, due, now)
        log.info(
            "steps.fired",
            worker=self.worker_id,
            fired=result.fired,
            messages=result.messages,
            lost=result.lost,
        )
        return result

    def _load(self, s: Session, step_ids: Sequence[int]) -> list[_Due]:
        rows = s.execute(
            select(
                Step.id,
                Step.kind,
                Step.rung,
                Step.due_at,
                Step.recipients,
                Instance.key,
                Deadline.state,
                Deadline.due_at,
                Organisation.id,
                Organisation.code,
                Organisation.holiday_subdivision,
                Instance.workflow_version_id,
            )
            .join(Instance, Instance.id == Step.instance_id)
            .join(Deadline, Deadline.id == Step.deadline_id)
            .join(Organisation, Organisation.id == Step.organisation_id)
            .where(Step.id.in_(list(step_ids)))
            .order_by(Step.due_at, Step.id)
        )
        return [_Due(*row) for row in rows]  # type: ignore[arg-type, call-arg]

    def _enqueue(self, s: Session, due: Sequence[_Due], now: datetime) -> int:
        by_recipient: dict[tuple[int, str], list[_Due]] = defaultdict(list)
        for d in due:
            if not d.recipients:
                log.warning("step.no_recipients", instance=d.instance, kind=d.kind, rung=d.rung)
            for username in d.recipients:
                by_recipient[(d.organisation_id, username)].append(d)
        people = {
            username: (name, email)
            for username, name, email in s.execute(
                select(Actor.username, Actor.name, Actor.email).where(
                    Actor.username.in_({u for _, u in by_recipient})
                )
            )
        }
        for (org_id, username), items in by_recipient.items():
            name, email = people.get(username, (username, None))
            shown = [self._item(s, d, now) for d in items]
            template = "digest" if len(shown) > 1 else shown[0].kind
            subject, body = self.templates.render(
                template,
                recipient={"username": username, "name": name},
                organisation=items[0].organisation,
                item=shown[0],
                items=shown,
            )
            outbox.enqueue(
                s,
                send_from=sending_time(
                    now, WorkingDays(items[0].subdivision), self.catalog.escalation.sending_hours
                ),
                organisation_id=org_id,
                organisation=items[0].organisation,
                kind=template,
                recipient=username,
                address=email,
                subject=subject,
                body=body,
                step_ids=[d.step_id for d in items],
                now=now,
            )
        return len(by_recipient)

    def _item(self, s: Session, d: _Due, now: datetime) -> _Item:
        workdays = WorkingDays(d.subdivision)
        due_local = london(d.deadline_at)
        now_local = london(now).date()
        late = workdays.between(due_local.date(), now_local) if now > d.deadline_at else 0
        left = workdays.between(now_local, due_local.date()) if now <= d.deadline_at else 0
        label, actions = self._stage(s, d)
        return _Item(
            kind=d.kind,
            rung=d.rung,
            instance=d.instance,
            stage=label,
            due_text=f"{due_local:%a %d %b %Y %H:%M}",
            late_text=_late_text(late, now - d.deadline_at),
            days_left=left,
            actions=actions,
            step_id=d.step_id,
        )

    def _stage(self, s: Session, d: _Due) -> tuple[str, str]:
        wf = self._definitions.by_id(s, d.version_id)
        steps = ", ".join(t.shown_label for t in wf.allowed_from(d.state))
        return wf.states[d.state].label if d.state in wf.states else d.state, steps

    # -- delivering messages --------------------------------------------------------------

    def deliver(self, channel: outbox.Channel | None = None) -> outbox.Delivered:
        """Send what is due in the outbox through ``channel`` (the worker's own by default)."""
        delivery = self.catalog.escalation.delivery
        queue = outbox.Outbox(self.store, delivery, self.worker_id, self.lease)
        return queue.deliver(channel or self.channel, self.clock)

    def tick(self, channel: outbox.Channel | None = None) -> tuple[SweepResult, outbox.Delivered]:
        """One sweep, the application's jobs, and one delivery round: what the scheduler runs
        every interval. A job that fails is logged; the sweep and delivery still happen."""
        swept = self.sweep()
        for job in self.jobs:
            try:
                queued = job(self.clock.now())
            except Exception:
                log.exception("worker.job_failed", worker=self.worker_id, job=getattr(job, "name", repr(job)))
                continue
            if queued:
                log.info(
                    "worker.job", worker=self.worker_id, job=getattr(job, "name", repr(job)), queued=queued
                )
        return swept, self.deliver(channel=channel)


def _late_text(working_days: int, overdue: timedelta) -> str:
    if working_days:
        return f"{working_days} working day{'s' if working_days != 1 else ''} late"
    if overdue > timedelta(0):
        hours, minutes = divmod(int(overdue.total_seconds()) // 60, 60)
        return f"overdue by {hours} h {minutes:02d} min"
    return "due now"


def run_forever(worker: Worker, interval: float, channel: outbox.Channel | None = None) -> None:
    """Run ``tick`` every ``interval`` seconds under APScheduler until interrupted.

    The first tick runs at once, so whatever fell due while no worker ran is caught up (and
    folded) at start. One job, never overlapping; missed runs coalesce into one.
    """
    scheduler = BlockingScheduler(timezone="UTC")

    def tick() -> None:
        try:
            swept, delivered = worker.tick(channel)
            busy = swept.fired or delivered.sent or delivered.failed or delivered.dead or delivered.lost
            (log.info if busy else log.debug)(
                "worker.tick",
                worker=worker.worker_id,
                fired=swept.fired,
                sent=delivered.sent,
                failed=delivered.failed,
                lost=delivered.lost,
            )
        except Exception:
            log.exception("worker.tick_failed", worker=worker.worker_id)

    # APScheduler keeps real time (it only wakes the sweep up); the sweep itself asks the
    # injected clock what time it is.
    scheduler.add_job(
        tick, "interval", seconds=interval, next_run_time=SystemClock().now(), max_instances=1, coalesce=True
    )

    def stop(signum: int, _frame: object) -> None:
        log.info("worker.stopping", worker=worker.worker_id, signal=signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("worker.started", worker=worker.worker_id, interval=interval)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=True)  # let a running sweep finish its transaction
        log.info("worker.stopped", worker=worker.worker_id)
