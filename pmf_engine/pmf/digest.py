"""The weekly e-mail of what a person needs to do: their to-do list (``dashboard.todo``), for
those who asked for it, queued in the outbox once a week.

From Monday 08:00 (London) each week the worker's tick queues one message per subscriber who
has something to do; its Message-ID comes from the person and the ISO week, so a second tick,
a second worker or a restart queues nothing more. Subscribing and unsubscribing are audited.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pmf_engine.core import audit, outbox
from pmf_engine.core.clock import london
from pmf_engine.core.directory import find_actor
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Actor, OutboxMessage
from pmf_engine.pmf.dashboard import ToDo, todo
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import DigestSubscription
from pmf_engine.pmf.reporting import audit_organisation, organisations_of

log = structlog.get_logger("pmf_engine.digest")
SEND_FROM_HOUR = 8
"""The hour (London time) on Monday from which the week's digest is queued."""


def subscribe(framework: Framework, username: str, weekly: bool, *, by: str) -> None:
    """Opt ``username`` in to (or out of) the weekly digest; audited in each of their organisations."""
    engine = framework.engine
    now = engine.clock.now()
    with engine.store.write() as s:
        actor = find_actor(s, username)
        row = s.get(DigestSubscription, actor.id)
        if row is None:
            s.add(DigestSubscription(actor_id=actor.id, weekly=weekly, updated_at=now, updated_by=by))
        else:
            row.weekly, row.updated_at, row.updated_by = weekly, now, by
        s.flush()
        event = "digest.subscribed" if weekly else "digest.unsubscribed"
        orgs = organisations_of(s, username)
        for org in orgs:
            audit_organisation(s, org, event, by, {"actor": username}, now)
        if not orgs:
            audit.record(s, audit.AuditRecord(event=event, actor=by, data=stamp({"actor": username})), now)


def subscribed(framework: Framework, username: str) -> bool:
    """Whether ``username`` gets the weekly digest."""
    with framework.engine.store.read() as s:
        row = s.execute(
            select(DigestSubscription.weekly)
            .join(Actor, Actor.id == DigestSubscription.actor_id)
            .where(Actor.username == username)
        ).scalar()
    return bool(row)


def week_of(now: datetime) -> str:
    """The ISO week (London) a digest belongs to: ``2026-W49``."""
    year, week, _ = london(now).isocalendar()
    return f"{year}-W{week:02d}"


def body(name: str, items: list[ToDo]) -> str:
    """The digest in words, the latest first."""
    lines = [f"Dear {name},", "", f"You have {len(items)} thing{'s' if len(items) != 1 else ''} to do:", ""]
    for item in items:
        when = f"due {london(item.due_at):%d %b %Y}" if item.due_at else "no deadline"
        late = f", {item.late_working_days} working days late" if item.late_working_days else ""
        doing = item.doing if item.steps else item.doing[:1].lower() + item.doing[1:]
        lines.append(f"- {item.key} ({item.what}): {doing}; {when}{late}")
    lines += ["", "Stop these e-mails from 'What you need to do' in pmf-engine."]
    return "\n".join(lines)


class WeeklyDigest:
    """The worker's job: this week's digest for every subscriber with something to do."""

    name = "weekly_digest"

    def __init__(self, framework: Framework) -> None:
        self.framework = framework

    def __call__(self, now: datetime) -> int:
        """Queue what is due at ``now``; how many messages were queued."""
        local = london(now)
        if local.weekday() == 0 and local.hour < SEND_FROM_HOUR:
            return 0
        week = week_of(now)
        store = self.framework.engine.store
        with store.read() as s:
            people = s.execute(
                select(Actor.username, Actor.name, Actor.email)
                .join(DigestSubscription, DigestSubscription.actor_id == Actor.id)
                .where(DigestSubscription.weekly.is_(True), Actor.active.is_(True))
            ).all()
        queued = 0
        for username, name, email in people:
            key = f"weekly|{username}|{week}"
            with store.read() as s:
                done = s.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.message_id == outbox.keyed_message_id(key))
                )
                codes = organisations_of(s, username)
            items = todo(self.framework, username, codes) if done is None else []
            if not items:
                continue
            try:
                with store.write() as s:
                    outbox.enqueue(
                        s,
                        organisation_id=None,
                        organisation="",
                        kind="digest",
                        recipient=username,
                        address=email,
                        subject=f"What you need to do this week ({len(items)})",
                        body=body(name, items),
                        step_ids=[],
                        now=now,
                        key=key,
                    )
            except IntegrityError:  # another worker queued it first
                continue
            queued += 1
            log.info("digest.queued", actor=username, week=week, items=len(items))
        return queued
