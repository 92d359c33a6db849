"""Synchronising an organisation's committee calendar with its ModernGov site, once a day
from the worker or when asked (``pmf calendar sync``, the calendar page's button).

A sync reads everything first (the committees; the meetings of those ``moderngov.yaml`` maps
to a body, deleted and expired committees left out; the agenda of each coming meeting when
a performance report item is looked for), then changes the calendar in one transaction:
a meeting new to it is added (or, if the calendar already has a meeting of that body at that
time, linked to it), a meeting whose date or time changed is moved, and a cancelled one is
cancelled (a provisional one is kept as a meeting, marked provisional on its ModernGov link
until a sync finds it confirmed, and logged), each through the calendar's own paths, so
dependent open deadlines are reckoned again and everything is audited. A response that cannot
be fetched or read stops the sync before anything is written; the ETags kept for conditional
GETs are saved only with the rest.

``meeting_links`` and ``stage_links`` (in ``links``) give meetings and a cycle's stages their
ModernGov pages (``ieListDocuments.aspx?CId=..&MId=..``) and report items (``mgAi.aspx?ID=..``).
"""

from __future__ import annotations

import calendar as months
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import LONDON, as_utc, london
from pmf_engine.core.errors import NotFound, NotNow
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Meeting, Organisation, find_organisation
from pmf_engine.pmf.meetings import CommitteeCalendar, MeetingRow
from pmf_engine.pmf.models import ModernGovMeeting, ModernGovResponse
from pmf_engine.pmf.moderngov import links
from pmf_engine.pmf.moderngov.client import AgendaItem, Client, Committee, Fetched, MeetingInfo
from pmf_engine.pmf.moderngov.links import MeetingLink
from pmf_engine.pmf.moderngov.policy import ModernGovPolicy, Site
from pmf_engine.pmf.siteurl import check_site_url

log = structlog.get_logger("pmf_engine.moderngov")
ACTOR = "system:moderngov"
"""Who the worker's daily sync acts as in the audit log."""


@dataclass
class Synced:
    """What a sync did."""

    committees: int = 0
    """Committees read that map to a body."""
    ignored: int = 0
    """Committees deleted, expired or not mapped."""
    added: int = 0
    linked: int = 0
    """Meetings the calendar already had (same body, same time), now linked to ModernGov."""
    moved: int = 0
    cancelled: int = 0
    unchanged: int = 0
    report_items: int = 0
    """Meetings whose performance report agenda item was found or changed."""
    deadlines_recomputed: int = 0
    requests: int = 0
    not_modified: int = 0
    """Requests the site answered 304 (the ETag matched)."""
    provisional: int = 0
    """Meetings ModernGov lists as Provisional: kept as meetings, marked provisional (their
    link's ``provisional``), each logged as ``moderngov.meeting_provisional``."""
    missing: int = 0
    """Meetings synced before, in the window asked for, that the site no longer lists: left as
    they are (ModernGov says Cancelled of a meeting that will not take place)."""

    @property
    def changed(self) -> bool:
        """Whether the calendar changed."""
        return bool(self.added or self.linked or self.moved or self.cancelled or self.report_items)

    def summary(self) -> str:
        """The sync in words, for the CLI and the page."""
        return (
            f"{self.added} added, {self.linked} linked, {self.moved} moved, {self.cancelled} cancelled, "
            f"{self.unchanged} unchanged; {self.deadlines_recomputed} deadline(s) recomputed; "
            f"{self.committees} committee(s) synced, {self.ignored} ignored; "
            f"{self.requests} request(s), {self.not_modified} not modified"
            + (f"; {self.provisional} provisional (kept as meetings)" if self.provisional else "")
            + (
                f"; {self.missing} meeting(s) no longer listed by ModernGov, left as they are"
                if self.missing
                else ""
            )
        )


@dataclass(frozen=True)
class _Read:
    """Everything one sync read from the site, before anything is written."""

    committees: list[tuple[Committee, str]]
    meetings: list[tuple[MeetingInfo, str, str]]
    """Each meeting with its body and its committee's title."""
    items: dict[int, AgendaItem | None]
    """The report item of each meeting whose agenda was read (``None``: not on it)."""
    ignored: int
    fetched: list[Fetched]
    first: date
    last: date


@dataclass
class ModernGov:
    """The ModernGov sync of the calendar ``calendar``, following ``policy``."""

    calendar: CommitteeCalendar
    policy: ModernGovPolicy

    def site(self, organisation: str, base_url: str | None = None) -> Site:
        """The organisation's site (at ``base_url`` if given); ``NotFound`` if it has none."""
        site = self.policy.site(organisation)
        if site is None:
            raise NotFound(
                "ModernGov site for organisation", organisation, "add it to policies/moderngov.yaml"
            )
        if not base_url:
            return site
        return site.model_copy(update={"base_url": check_site_url(base_url, "--url")})

    def sync(self, organisation: str, *, by: str, base_url: str | None = None) -> Synced:
        """Bring the organisation's calendar into line with its ModernGov site: all or nothing."""
        site = self.site(organisation, base_url)
        store = self.calendar.store
        now = self.calendar.engine.clock.now()
        with store.read() as s:
            org = find_organisation(s, organisation)
            kept = {
                r.url: (r.etag, r.body)
                for r in s.scalars(
                    select(ModernGovResponse).where(ModernGovResponse.organisation_id == org.id)
                )
            }
        with Client(site.base_url, timeout=site.timeout_seconds, cached=kept.get) as client:
            read = _read(client, site, now)
        done = Synced(
            committees=len(read.committees),
            ignored=read.ignored,
            requests=len(read.fetched),
            not_modified=sum(f.not_modified for f in read.fetched),
            provisional=sum(mg.status == "provisional" for mg, _body, _title in read.meetings),
        )
        try:
            with store.write() as s:
                self._write(s, organisation, site, read, by, done)
        except IntegrityError as exc:  # another sync of the organisation got in first (PostgreSQL)
            raise NotNow(
                f"the calendar of {organisation} was synchronised by another process meanwhile: try again"
            ) from exc
        for mg, body, _title in read.meetings:
            if mg.status == "provisional":  # kept as a meeting, marked on its link
                log.info(
                    "moderngov.meeting_provisional",
                    organisation=organisation,
                    meeting=mg.id,
                    committee=mg.committee_id,
                    body=body,
                    starts_at=mg.starts_at.isoformat(),
                )
        log.info("moderngov.synced", organisation=organisation, actor=by, **_counts(done))
        return done

    def _write(self, s: Session, organisation: str, site: Site, read: _Read, by: str, done: Synced) -> None:
        org = find_organisation(s, organisation)
        # One sync of an organisation at a time (SQLite's writers are one at a time anyway).
        s.execute(select(Organisation.id).where(Organisation.id == org.id).with_for_update())
        for mg, body, title in read.meetings:
            self._apply(s, org, site, mg, body, title, read.items, by, done)
        done.missing = _missing(s, org.id, read)
        _keep(s, org.id, read.fetched, self.calendar.engine.clock.now())
        if done.changed:
            audit.record(
                s,
                audit.AuditRecord(
                    event="moderngov.synced",
                    organisation=org.code,
                    actor=by,
                    data=stamp(
                        {
                            "site": site.base_url,
                            "added": done.added,
                            "linked": done.linked,
                            "moved": done.moved,
                            "cancelled": done.cancelled,
                            "report_items": done.report_items,
                            "deadlines_recomputed": done.deadlines_recomputed,
                        }
                    ),
                ),
                self.calendar.engine.clock.now(),
            )

    def meeting_links(self, organisation: str, meeting_ids: Sequence[int]) -> dict[int, MeetingLink]:
        """The ModernGov pages of those of ``meeting_ids`` that came from the organisation's site."""
        return links.meeting_links(self.calendar.store, self.policy, organisation, meeting_ids)

    def stage_links(self, cycle: str) -> dict[str, MeetingLink]:
        """Each stage of ``cycle`` that hangs on a meeting, with its pages (``links.stage_links``)."""
        return links.stage_links(self.calendar.engine, self.policy, cycle)

    # -- internals ------------------------------------------------------------------------

    def _apply(
        self,
        s: Session,
        org: Organisation,
        site: Site,
        mg: MeetingInfo,
        body: str,
        title: str,
        items: dict[int, AgendaItem | None],
        by: str,
        done: Synced,
    ) -> None:
        link = s.scalar(
            select(ModernGovMeeting).where(
                ModernGovMeeting.organisation_id == org.id, ModernGovMeeting.meeting_ref == mg.id
            )
        )
        uid = link.uid if link is not None else _uid(site, mg.id)
        meeting = s.scalar(select(Meeting).where(Meeting.organisation_id == org.id, Meeting.uid == uid))
        if mg.status == "cancelled":
            if meeting is not None:
                done.deadlines_recomputed += self.calendar.withdraw_in(
                    s, org, meeting, by=by, reason=f"cancelled in ModernGov (meeting {mg.id})", cancelled=True
                )
                done.cancelled += 1
            if link is not None:
                s.delete(link)
            return
        if meeting is None:
            meeting = self._same(s, org, body, mg.starts_at)
            if meeting is not None:
                done.linked += 1
                _audit_link(s, self.calendar, org, meeting, mg, by)
            else:
                row = MeetingRow(body, mg.starts_at, title=title[:200], location=mg.location, uid=uid)
                meeting = self.calendar.add_in(s, org, row, by=by)
                done.added += 1
        elif meeting.starts_at != mg.starts_at:
            done.deadlines_recomputed += self.calendar.move_in(
                s, org, meeting, mg.starts_at, by=by, reason=f"moved in ModernGov (meeting {mg.id})"
            )
            done.moved += 1
        else:
            done.unchanged += 1
        if link is None:
            link = ModernGovMeeting(
                organisation_id=org.id,
                meeting_ref=mg.id,
                committee_ref=mg.committee_id,
                uid=meeting.uid,
                agenda_item_ref=None,
                agenda_item_title="",
            )
            s.add(link)
        link.uid, link.committee_ref = meeting.uid, mg.committee_id
        link.provisional = mg.status == "provisional"
        if mg.id in items:
            item = items[mg.id]
            ref, item_title = (item.id, item.title) if item else (None, "")
            if (ref, item_title) != (link.agenda_item_ref, link.agenda_item_title) and item is not None:
                done.report_items += 1
            link.agenda_item_ref, link.agenda_item_title = ref, item_title
        s.flush()

    @staticmethod
    def _same(s: Session, org: Organisation, body: str, starts_at: datetime) -> Meeting | None:
        """A meeting of ``body`` at ``starts_at`` the calendar has from elsewhere (an import)."""
        linked = select(ModernGovMeeting.uid).where(ModernGovMeeting.organisation_id == org.id)
        return s.scalar(
            select(Meeting).where(
                Meeting.organisation_id == org.id,
                Meeting.body == body,
                Meeting.starts_at == starts_at,
                Meeting.uid.not_in(linked),
            )
        )


def _read(client: Client, site: Site, now: datetime) -> _Read:
    """Everything the sync needs from the site; ``ModernGovError`` (nothing written) if any part fails."""
    today = london(now).date()
    first = _month_start(today - timedelta(days=site.days_back))
    last = _month_end(today + timedelta(days=site.days_ahead))
    committees: list[tuple[Committee, str]] = []
    ignored = 0
    for committee in client.committees():
        body = site.body_of(committee.id, committee.title)
        if committee.deleted or committee.expired or body is None:
            ignored += 1
            continue
        committees.append((committee, body))
    meetings: list[tuple[MeetingInfo, str, str]] = []
    items: dict[int, AgendaItem | None] = {}
    agenda_until = now + timedelta(days=site.agenda_days_ahead)
    for committee, body in committees:
        for mg in client.meetings(committee.id, first, last):
            meetings.append((mg, body, committee.title))
            if site.report_item and mg.status != "cancelled" and mg.starts_at <= agenda_until:
                items[mg.id] = next(
                    (i for i in client.agenda(mg.id) if any(w in i.title.lower() for w in site.report_item)),
                    None,
                )
    meetings.sort(key=lambda m: (m[0].starts_at, m[0].id))
    return _Read(committees, meetings, items, ignored, client.fetched, first, last)


def _missing(s: Session, organisation_id: int, read: _Read) -> int:
    """How many meetings synced before, of the committees read and in the window asked for,
    the site no longer lists (logged; left as they are)."""
    seen = {mg.id for mg, _body, _title in read.meetings}
    start = as_utc(datetime.combine(read.first, time(0), tzinfo=LONDON))
    end = as_utc(datetime.combine(read.last + timedelta(days=1), time(0), tzinfo=LONDON))
    refs = [
        ref
        for ref in s.scalars(
            select(ModernGovMeeting.meeting_ref)
            .join(
                Meeting,
                (Meeting.organisation_id == ModernGovMeeting.organisation_id)
                & (Meeting.uid == ModernGovMeeting.uid),
            )
            .where(
                ModernGovMeeting.organisation_id == organisation_id,
                ModernGovMeeting.committee_ref.in_([c.id for c, _body in read.committees]),
                Meeting.starts_at >= start,
                Meeting.starts_at < end,
            )
        )
        if ref not in seen
    ]
    if refs:
        log.warning("moderngov.meetings_missing", organisation_id=organisation_id, meetings=sorted(refs))
    return len(refs)


def _keep(s: Session, organisation_id: int, fetched: list[Fetched], now: datetime) -> None:
    """Keep the ETag and body of each response that came with one, for the next sync."""
    for f in fetched:
        if f.not_modified or not f.etag or len(f.etag) > 200 or len(f.url) > 700:
            continue
        row = s.scalar(
            select(ModernGovResponse).where(
                ModernGovResponse.organisation_id == organisation_id, ModernGovResponse.url == f.url
            )
        )
        if row is None:
            s.add(
                ModernGovResponse(
                    organisation_id=organisation_id, url=f.url, etag=f.etag, body=f.body, fetched_at=now
                )
            )
        else:
            row.etag, row.body, row.fetched_at = f.etag, f.body, now


def _audit_link(
    s: Session, calendar: CommitteeCalendar, org: Organisation, meeting: Meeting, mg: MeetingInfo, by: str
) -> None:
    audit.record(
        s,
        audit.AuditRecord(
            event="moderngov.linked",
            organisation=org.code,
            actor=by,
            data=stamp(
                {
                    "meeting": meeting.id,
                    "body": meeting.body,
                    "uid": meeting.uid,
                    "moderngov_meeting": mg.id,
                    "moderngov_committee": mg.committee_id,
                }
            ),
        ),
        calendar.engine.clock.now(),
    )


def _uid(site: Site, meeting_ref: int) -> str:
    return f"moderngov-{meeting_ref}@{urlsplit(site.base_url).hostname}"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return day.replace(day=months.monthrange(day.year, day.month)[1])


def _counts(done: Synced) -> dict[str, int]:
    return {k: v for k, v in vars(done).items() if isinstance(v, int)}
