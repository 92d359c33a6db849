"""Synchronising an organisation's committee calendar with its ModernGov site, once a day
from the worker or when asked (``pmf calendar sync``, the calendar page's button).

A sync reads everything first (the committees; the meetings of those ``moderngov.yaml`` maps
to a body, deleted and expired committees left out; the agenda of each coming meeting when
a performance report item is looked for), then changes the calendar in one transaction:
a meeting new to it is added (or, if the calendar already has a meeting of that body at that
time, linked to it), a meeting whose date or time changed is moved, and a cancelled one is
cancelled, each through the calendar's own paths, so dependent open deadlines are reckoned
again and everything is audited. A response that cannot be fetched or read stops the sync
before anything is written; the ETags kept for conditional GETs are saved only with the rest.

``meeting_links`` gives a cycle's stages their meetings' ModernGov pages
(``ieListDocuments.aspx?CId=..&MId=..``) and report items (``mgAi.aspx?ID=..``).
"""

from __future__ import annotations

import calendar as months
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.clock import london
from pmf_engine.core.deadlines import Meeting as MeetingAnchor
from pmf_engine.core.deadlines import parse_rule
from pmf_engine.core.errors import NotFound
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Deadline, Instance, Meeting, Organisation, find_organisation
from pmf_engine.pmf.meetings import CommitteeCalendar, MeetingRow
from pmf_engine.pmf.models import ModernGovMeeting, ModernGovResponse
from pmf_engine.pmf.moderngov.client import AgendaItem, Client, Committee, Fetched, MeetingInfo
from pmf_engine.pmf.moderngov.policy import ModernGovPolicy, Site

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


@dataclass(frozen=True)
class MeetingLink:
    """A calendar meeting's pages on ModernGov."""

    body: str
    starts_at: datetime
    title: str
    url: str
    item_url: str | None = None
    item_title: str = ""
    expected: bool = False
    """Not yet the cycle's meeting: the body's next one, which the stage will go to if nothing changes."""


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
        return site.model_copy(update={"base_url": base_url.rstrip("/")}) if base_url else site

    def sync(self, organisation: str, *, by: str, base_url: str | None = None) -> Synced:
        """Bring the organisation's calendar into line with its ModernGov site: all or nothing."""
        site = self.site(organisation, base_url)
        store, clock = self.calendar.store, self.calendar.engine.clock
        now = clock.now()
        with store.read() as s:
            org = find_organisation(s, organisation)
            kept = {
                r.url: (r.etag, r.body)
                for r in s.scalars(
                    select(ModernGovResponse).where(ModernGovResponse.organisation_id == org.id)
                )
            }
        client = Client(site.base_url, timeout=site.timeout_seconds, cached=kept.get)
        read = _read(client, site, now)
        done = Synced(
            committees=len(read.committees),
            ignored=read.ignored,
            requests=len(read.fetched),
            not_modified=sum(f.not_modified for f in read.fetched),
        )
        with store.write() as s:
            org = find_organisation(s, organisation)
            for mg, body, title in read.meetings:
                self._apply(s, org, site, mg, body, title, read.items, by, done)
            _keep(s, org.id, read.fetched, now)
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
                    clock.now(),
                )
        log.info("moderngov.synced", organisation=organisation, actor=by, **_counts(done))
        return done

    def meeting_links(self, organisation: str, meeting_ids: Sequence[int]) -> dict[int, MeetingLink]:
        """The ModernGov pages of those of ``meeting_ids`` that came from the organisation's site."""
        site = self.policy.site(organisation)
        if site is None or not meeting_ids:
            return {}
        with self.calendar.store.read() as s:
            rows = s.execute(
                select(Meeting, ModernGovMeeting)
                .join(
                    ModernGovMeeting,
                    (ModernGovMeeting.organisation_id == Meeting.organisation_id)
                    & (ModernGovMeeting.uid == Meeting.uid),
                )
                .where(Meeting.id.in_(list(meeting_ids)))
            ).all()
        return {meeting.id: _link(site, meeting, mg) for meeting, mg in rows}

    def stage_links(self, cycle: str) -> dict[str, MeetingLink]:
        """Each stage of a cycle that hangs on a committee meeting, with that meeting's ModernGov
        pages: the meeting its deadline was reckoned from (the latest, for a stage reached more
        than once), or, for a stage not reached yet, the meeting the cycle has pinned for its
        committee or that committee's next meeting (``expected``)."""
        engine = self.calendar.engine
        with engine.store.read() as s:
            inst = s.scalar(select(Instance).where(Instance.key == cycle))
            if inst is None:
                raise NotFound("cycle", cycle)
            code = s.scalar(select(Organisation.code).where(Organisation.id == inst.organisation_id)) or ""
            if self.policy.site(code) is None:
                return {}
            wf = engine.definition(inst.workflow_version)
            used: dict[str, int] = {}
            for state, ids in s.execute(
                select(Deadline.state, Deadline.meeting_ids)
                .where(Deadline.instance_id == inst.id)
                .order_by(Deadline.id)
            ):
                if ids:
                    used[state] = ids[-1]  # the meeting the rule ends on (``next scrutiny after cabinet``)
            expected: set[str] = set()
            pins = dict((inst.context or {}).get("meetings", {}))
            now = engine.clock.now()
            for name, st in wf.states.items():
                if name in used or not st.deadline:
                    continue
                anchor = parse_rule(st.deadline).anchor
                if not isinstance(anchor, MeetingAnchor):
                    continue
                pinned = pins.get(anchor.body) if anchor.after is None else None
                found = pinned or s.scalar(
                    select(Meeting.id)
                    .where(
                        Meeting.organisation_id == inst.organisation_id,
                        Meeting.body == anchor.body,
                        Meeting.starts_at > now,
                    )
                    .order_by(Meeting.starts_at)
                    .limit(1)
                )
                if found is not None and inst.state != name:
                    used[name] = int(found)
                    expected.add(name)
        links = self.meeting_links(code, list(used.values()))
        return {
            state: (_expected(links[mid]) if state in expected else links[mid])
            for state, mid in used.items()
            if mid in links
        }

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
            if site.report_item and mg.status == "confirmed" and mg.starts_at <= agenda_until:
                items[mg.id] = next(
                    (i for i in client.agenda(mg.id) if any(w in i.title.lower() for w in site.report_item)),
                    None,
                )
    meetings.sort(key=lambda m: (m[0].starts_at, m[0].id))
    return _Read(committees, meetings, items, ignored, client.fetched)


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


def _link(site: Site, meeting: Meeting, mg: ModernGovMeeting) -> MeetingLink:
    base = site.base_url
    return MeetingLink(
        body=meeting.body,
        starts_at=meeting.starts_at,
        title=meeting.title,
        url=f"{base}/ieListDocuments.aspx?CId={mg.committee_ref}&MId={mg.meeting_ref}",
        item_url=f"{base}/mgAi.aspx?ID={mg.agenda_item_ref}" if mg.agenda_item_ref is not None else None,
        item_title=mg.agenda_item_title,
    )


def _expected(link: MeetingLink) -> MeetingLink:
    return MeetingLink(link.body, link.starts_at, link.title, link.url, link.item_url, link.item_title, True)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return day.replace(day=months.monthrange(day.year, day.month)[1])


def _counts(done: Synced) -> dict[str, int]:
    return {k: v for k, v in vars(done).items() if isinstance(v, int)}
