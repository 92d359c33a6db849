"""Chasing now: the performance team queues a reminder, at once, to whoever must act on a cycle,
return or action at its current stage, instead of waiting for the ladder's next reminder.

The people chased are those the stage's first reminder would go to (``policies/escalation.yaml``:
``acting``, the roles of the way forward out of the state, within the instance's service;
``assignee``, the person an action was given to; or roles named there). Who may chase is the
``cycles.chase`` permission of ``roles.yaml``. An instance is chased at most once in
``THROTTLE`` (by anyone): the message, the audit entry (``chase.queued``) and the check are
one transaction, with the instance's row locked, so two people pressing at once chase once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import as_utc, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound, NotNow, NotPermitted
from pmf_engine.core.escalation import ACTING, ASSIGNEE, sending_time
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Actor, AuditEntry, Deadline, Instance, Organisation, OutboxMessage
from pmf_engine.core.timekeeper import Timekeeper
from pmf_engine.core.workdays import WorkingDays

log = structlog.get_logger()

CYCLES_CHASE = "cycles.chase"
"""The permission to chase (``roles.yaml``)."""
THROTTLE = timedelta(days=1)
EVENT = "chase.queued"


@dataclass(frozen=True)
class LastChase:
    """The newest chase of an instance: who, when, and when it may be chased again."""

    actor: str
    at: datetime
    again_at: datetime


@dataclass(frozen=True)
class Chased:
    """A chase done: the people a reminder was queued for."""

    key: str
    recipients: tuple[str, ...]


class Chasing:
    """Chasing the people who must act on an instance now."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    def may_chase(self, key: str, username: str) -> bool:
        """Whether ``username`` holds ``cycles.chase`` in the instance's organisation."""
        try:
            self.engine.directory.authorise(username, CYCLES_CHASE, InstanceKey.organisation_of(key))
        except (NotPermitted, NotFound):
            return False
        return True

    def last(self, key: str) -> LastChase | None:
        """The instance's newest chase, if it was ever chased."""
        with self.store.read() as s:
            return _last(s, key)

    def chase(self, key: str, *, by: str) -> Chased:
        """Queue a reminder now to everyone who must act on ``key`` at its stage; audited.
        ``NotPermitted`` without ``cycles.chase``; ``NotNow`` when it was chased less than a day
        ago, is finished, or nobody holds the roles that act at its stage."""
        organisation = InstanceKey.organisation_of(key)
        self.engine.directory.authorise(by, CYCLES_CHASE, organisation)
        now = self.engine.clock.now()
        with self.store.write() as s:
            inst = s.scalar(select(Instance).where(Instance.key == key).with_for_update())
            if inst is None:
                raise NotFound("cycle, return or action", key)
            org = s.get(Organisation, inst.organisation_id)
            assert org is not None  # the foreign key holds it
            previous = _last(s, key)
            if previous is not None and now < previous.again_at:
                raise NotNow(
                    f"{key} was chased by {previous.actor} at {london(previous.at):%d %b %Y %H:%M}: "
                    f"it can be chased again from {london(previous.again_at):%d %b %Y %H:%M}"
                )
            wf = self.engine.definition(inst.workflow_version)
            state = wf.states[inst.state]
            if state.terminal:
                raise NotNow(f"{key} is {state.label}: there is nobody to chase")
            recipients = self._recipients(s, inst, wf.name, wf.acting_roles(inst.state))
            if not recipients:
                raise NotNow(f"nobody holds the roles that act on {key} at {state.label}: nobody to chase")
            deadline = s.scalar(
                select(Deadline.due_at).where(Deadline.instance_id == inst.id, Deadline.closed_at.is_(None))
            )
            due = f"due {london(deadline):%a %d %b %Y %H:%M}" if deadline else "with no deadline"
            steps = ", ".join(t.label or t.trigger for t in wf.allowed_from(inst.state)) or "none"
            chaser = s.scalar(select(Actor.name).where(Actor.username == by)) or by
            send_from = sending_time(
                now, WorkingDays(org.holiday_subdivision), self.engine.catalog.escalation.sending_hours
            )
            people = dict(
                s.execute(select(Actor.username, Actor.email).where(Actor.username.in_(recipients))).all()
            )
            for username in recipients:
                digest = hashlib.sha256(
                    f"{org.code}|{username}|{key}|chase|{now.isoformat()}".encode()
                ).hexdigest()[:24]
                s.add(
                    OutboxMessage(
                        organisation_id=org.id,
                        created_at=now,
                        kind="reminder",
                        recipient=username,
                        address=people.get(username),
                        subject=f"Reminder: {state.label} for {key} is {due}",
                        body=(
                            f"{chaser} of the performance team asks you to act on {key} now.\n\n"
                            f"Stage: {state.label}, {due}.\nWhat can be done: {steps}.\n"
                        ),
                        message_id=f"<pmf.{digest}@pmf-engine.invalid>",
                        step_ids=[],
                        status="pending",
                        attempts=0,
                        next_attempt_at=send_from,
                    )
                )
            data = {
                "recipients": list(recipients),
                "state": inst.state,
                "deadline": audit.format_instant(deadline) if deadline else None,
            }
            record = audit.AuditRecord(
                event=EVENT, organisation=org.code, instance=key, actor=by, data=stamp(data)
            )
            audit.record(s, record, now)  # after the messages: they reach the database first
        log.info("instance.chased", instance=key, actor=by, recipients=list(recipients))
        return Chased(key, recipients)

    def _recipients(
        self, s: Session, inst: Instance, workflow: str, acting: tuple[str, ...]
    ) -> tuple[str, ...]:
        """Those the stage's first reminder goes to (the acting roles' holders if it has none)."""
        ladder = self.engine.catalog.escalation.ladder(workflow, inst.state)
        names = ladder.reminders[0].to if ladder.reminders else (ACTING,)
        roles = {r for name in names if name != ASSIGNEE for r in (acting if name == ACTING else (name,))}
        holders = Timekeeper(self.engine.catalog).holders(s, inst.organisation_id, roles, inst.service_id)
        defined = self.engine.catalog.roles.roles
        found = {
            h.username
            for h in holders
            if h.role in roles
            and (
                h.role not in defined
                or defined[h.role].scope == "organisation"
                or (h.service_id is not None and h.service_id == inst.service_id)
            )
        }
        assignee = inst.context.get("assignee")
        if ASSIGNEE in names and isinstance(assignee, str) and assignee:
            found.add(assignee)
        return tuple(sorted(found))


def _last(s: Session, key: str) -> LastChase | None:
    row = s.execute(
        select(AuditEntry.actor, AuditEntry.at, AuditEntry.as_of)
        .where(
            AuditEntry.chain == InstanceKey.organisation_of(key),
            AuditEntry.instance == key,
            AuditEntry.event == EVENT,
        )
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    at = as_utc(datetime.fromisoformat((row.as_of or row.at).replace("Z", "+00:00")))
    return LastChase(str(row.actor), at, at + THROTTLE)
