"""Calendar subscriptions: each person's deadlines as an iCalendar feed at a secret address,
for Outlook, Google or Apple calendars to subscribe to.

The feed holds the open deadlines a person acts on (an instance where their roles allow a step
now: ``Engine.agenda``) or is reminded of (a reminder or escalation step of the deadline names
them), and the open Scrutiny actions assigned to them that no such deadline covers. Times are
UTC. Each event's UID names the instance, the state and when the stay began
(``deadline-I12-cmt_review-20240801T090000Z@pmf-engine``): a deadline recomputed because its
meeting moved is a new row but the same stay, so the calendar moves the event it has rather than
adding one; a second stay in the state (after a return) is a new event.

The address holds a random token (256 bits) of which only the SHA-256 is stored, as for API
tokens and sessions: it is shown once, when made. A person has at most one live address: a new
one revokes the one before; a revoked or unknown token, or a deactivated person's, finds
nothing. Making and revoking are audited in each of the person's organisations.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import icalendar
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import as_utc, london
from pmf_engine.core.errors import NotFound
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Actor, Deadline, Instance, Organisation, Step
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import CalendarFeed
from pmf_engine.pmf.reporting import audit_organisation, organisations_of

log = structlog.get_logger("pmf_engine.calendar_feed")
PREFIX = "pmfcal_"
"""How a calendar token starts (so a leaked one is recognised for what it is)."""
MAX_TOKEN = 128
"""Longer tokens are not looked up."""
REFRESH = "PT1H"
"""How often a subscribed calendar is asked to fetch the feed again."""
REFRESH_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One entry of the feed: a deadline (``due_at``) or an action's due day (``due_on``)."""

    uid: str
    key: str
    summary: str
    description: str
    due_at: datetime | None = None
    due_on: date | None = None


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A person's live calendar address, as their page shows it (the token is never kept)."""

    created_at: datetime
    created_by: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeeds:
    """Making, finding and revoking calendar addresses, and the feed behind them."""

    def __init__(self, framework: Framework) -> None:
        self.framework = framework
        self.store = framework.engine.store
        self.clock = framework.engine.clock

    def create(self, username: str, *, by: str) -> str:
        """A new secret token for ``username``'s feed (shown only now); the one before stops working."""
        token = PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.store.write() as s:
            actor_id = _actor_id(s, username)
            revoked = _revoke(s, actor_id, now)
            s.add(CalendarFeed(actor_id=actor_id, token_sha256=_digest(token), created_at=now, created_by=by))
            s.flush()
            _audit(s, username, "calendar_feed.created", by, {"actor": username, "replaced": revoked}, now)
        log.info("calendar_feed.created", actor=username, by=by, replaced=revoked)
        return token

    def revoke(self, username: str, *, by: str) -> int:
        """Stop ``username``'s live address; how many were stopped (0 or 1). Audited either way."""
        now = self.clock.now()
        with self.store.write() as s:
            revoked = _revoke(s, _actor_id(s, username), now)
            _audit(s, username, "calendar_feed.revoked", by, {"actor": username, "count": revoked}, now)
        log.info("calendar_feed.revoked", actor=username, by=by, count=revoked)
        return revoked

    def current(self, username: str) -> FeedInfo | None:
        """``username``'s live address, if they have one."""
        with self.store.read() as s:
            row = s.execute(
                select(CalendarFeed.created_at, CalendarFeed.created_by)
                .join(Actor, Actor.id == CalendarFeed.actor_id)
                .where(Actor.username == username, CalendarFeed.revoked_at.is_(None))
            ).first()
        return FeedInfo(row[0], row[1]) if row else None

    def owner(self, token: str) -> str | None:
        """The active person whose live address holds ``token``; ``None`` otherwise."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
            return None
        with self.store.read() as s:
            row = s.execute(
                select(Actor.username, Actor.active)
                .join(CalendarFeed, CalendarFeed.actor_id == Actor.id)
                .where(CalendarFeed.token_sha256 == _digest(token), CalendarFeed.revoked_at.is_(None))
            ).first()
        return str(row[0]) if row and row[1] else None

    def feed(self, token: str, base_url: str = "") -> bytes:
        """The .ics feed behind ``token``; ``NotFound`` for a revoked or unknown one."""
        username = self.owner(token)
        if username is None:
            raise NotFound("calendar", "this address")
        return to_ics(username, events_for(self.framework, username), self.clock.now(), base_url)


def _actor_id(s: Session, username: str) -> int:
    actor_id = s.scalar(select(Actor.id).where(Actor.username == username))
    if actor_id is None:
        raise NotFound("actor", username)
    return int(actor_id)


def _revoke(s: Session, actor_id: int, now: datetime) -> int:
    result = s.execute(
        update(CalendarFeed)
        .where(CalendarFeed.actor_id == actor_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _audit(s: Session, username: str, event: str, by: str, data: dict[str, object], now: datetime) -> None:
    orgs = organisations_of(s, username)
    for org in orgs:
        audit_organisation(s, org, event, by, data, now)
    if not orgs:
        audit.record(s, audit.AuditRecord(event=event, actor=by, data=stamp(data)), now)


# -- what the feed holds ----------------------------------------------------------------------


def events_for(framework: Framework, username: str) -> list[FeedEvent]:
    """``username``'s open deadlines (acted on or reminded of) and uncovered actions, soonest first."""
    engine = framework.engine
    offers = {o.key: o for o in engine.agenda(username)}
    with engine.store.read() as s:
        orgs = organisations_of(s, username)
        if not orgs:
            return []
        deadlines = s.execute(
            select(
                Deadline.id,
                Deadline.state,
                Deadline.due_at,
                Instance.key,
                Instance.workflow_version_id,
                Deadline.instance_id,
                Deadline.opened_at,
            )
            .join(Instance, Instance.id == Deadline.instance_id)
            .join(Organisation, Organisation.id == Instance.organisation_id)
            .where(Organisation.code.in_(orgs), Deadline.closed_at.is_(None), Deadline.due_at.is_not(None))
        ).all()
        reminders: dict[int, list[tuple[str, datetime]]] = {}
        if deadlines:
            for deadline_id, kind, due, recipients in s.execute(
                select(Step.deadline_id, Step.kind, Step.due_at, Step.recipients).where(
                    Step.deadline_id.in_([d[0] for d in deadlines]), Step.status != "cancelled"
                )
            ).all():
                if username in (recipients or []):
                    reminders.setdefault(deadline_id, []).append((kind, due))
        labels = {
            (version_id, state): engine.stored.by_id(s, version_id).state_label(state)
            for _, state, _, _, version_id, _, _ in deadlines
        }
    assigned = {
        a.key: a
        for org in orgs
        for a in framework.actions.list_for(org)
        if a.assignee == username and not a.closed
    }
    events: list[FeedEvent] = []
    covered: set[str] = set()
    for deadline_id, state, due_at, key, version_id, instance_id, opened_at in deadlines:
        offer, mine = offers.get(key), sorted(reminders.get(deadline_id, []), key=lambda r: r[1])
        if offer is None and not mine:
            continue
        covered.add(key)
        lines = [f"Stage: {labels[(version_id, state)]}"]
        if offer is not None:
            lines.append("You can: " + ", ".join(step.label for step in offer.steps))
        lines += [f"{kind.capitalize()} to you: {london(due):%d %b %Y %H:%M}" for kind, due in mine]
        doing = ", ".join(step.label for step in offer.steps) if offer else labels[(version_id, state)]
        if key in assigned:
            doing = f"{framework.words.action}: {assigned[key].what}"
        events.append(
            FeedEvent(
                uid=f"deadline-I{instance_id}-{state}-{as_utc(opened_at):%Y%m%dT%H%M%SZ}@pmf-engine",
                key=key,
                summary=f"Due: {doing} - {key}",
                description="\n".join(lines),
                due_at=due_at,
            )
        )
    for action in assigned.values():
        if action.key in covered or not action.due:
            continue
        events.append(
            FeedEvent(
                uid=f"action-{action.key}@pmf-engine",
                key=action.key,
                summary=f"{framework.words.action} due: {action.what} - {action.key}",
                description=f"{framework.words.action} {action.key}: {action.what}",
                due_on=date.fromisoformat(action.due[:10]),
            )
        )
    return sorted(events, key=_when)


def _when(event: FeedEvent) -> tuple[datetime, str]:
    """Soonest first: a deadline at its time, an action's day from its start (London)."""
    if event.due_at is not None:
        return as_utc(event.due_at), event.uid
    day = event.due_on or date.max
    return as_utc(datetime.combine(day, time.min)), event.uid


def to_ics(username: str, events: list[FeedEvent], now: datetime, base_url: str = "") -> bytes:
    """The feed as iCalendar for a subscription (``METHOD:PUBLISH``), times in UTC; each
    event transparent (a deadline does not make its person busy)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//pmf-engine//calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"PMF deadlines: {username}")
    calendar.add("x-wr-caldesc", "Your deadlines in the quarterly performance cycle")
    calendar.add("x-published-ttl", REFRESH)
    calendar.add("refresh-interval", REFRESH_EVERY, parameters={"VALUE": "DURATION"})
    for item in events:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", as_utc(now))
        event.add("summary", item.summary)
        event.add("description", item.description)
        if item.due_at is not None:
            event.add("dtstart", as_utc(item.due_at))  # an instant: no DTEND (RFC 5545 3.6.1)
        else:
            assert item.due_on is not None
            event.add("dtstart", item.due_on)
        if base_url:
            event.add("url", f"{base_url.rstrip('/')}/instances/{item.key}")
        event.add("transp", "TRANSPARENT")
        event.add("x-microsoft-cdo-busystatus", "FREE")
        event.add("categories", ["Deadline"])
        calendar.add_component(event)
    return bytes(calendar.to_ical())
