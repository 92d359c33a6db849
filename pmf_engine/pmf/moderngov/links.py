"""Where a calendar meeting is on ModernGov: its page (``ieListDocuments.aspx?CId=..&MId=..``)
and, once its agenda is published, the performance report's item (``mgAi.aspx?ID=..``), for the
calendar page, each stage of a cycle (its page and the committee report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.deadlines import Meeting as MeetingAnchor
from pmf_engine.core.deadlines import parse_rule
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound
from pmf_engine.core.store import Deadline, Instance, Meeting, Organisation, Store
from pmf_engine.pmf.models import ModernGovMeeting
from pmf_engine.pmf.moderngov.policy import ModernGovPolicy, Site


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
    provisional: bool = False
    """ModernGov lists the meeting as Provisional: its date is pencilled in, not confirmed."""


def meeting_links(
    store: Store, policy: ModernGovPolicy, organisation: str, meeting_ids: Sequence[int]
) -> dict[int, MeetingLink]:
    """The ModernGov pages of those of ``meeting_ids`` that came from the organisation's site."""
    site = policy.site(organisation)
    if site is None or not meeting_ids:
        return {}
    with store.read() as s:
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


def stage_links(engine: Engine, policy: ModernGovPolicy, cycle: str) -> dict[str, MeetingLink]:
    """Each stage of a cycle that hangs on a committee meeting, with that meeting's ModernGov
    pages: the meeting its deadline was reckoned from (the latest, for a stage reached more
    than once), or, for a stage not reached yet, the meeting the cycle has pinned for its
    committee or that committee's next meeting (``expected``)."""
    if not policy.organisations:
        return {}  # no ModernGov site: not a query more on the cycle's page
    with engine.store.read() as s:
        inst = s.scalar(select(Instance).where(Instance.key == cycle))
        if inst is None:
            raise NotFound("cycle", cycle)
        code = s.scalar(select(Organisation.code).where(Organisation.id == inst.organisation_id)) or ""
        if policy.site(code) is None:
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
            found = _expected_meeting(s, inst.organisation_id, anchor, pins, now)
            if found is not None and inst.state != name:
                used[name] = found[0]
                expected.add(name)
    found_links = meeting_links(engine.store, policy, code, list(used.values()))
    return {
        state: (_expected(found_links[mid]) if state in expected else found_links[mid])
        for state, mid in used.items()
        if mid in found_links
    }


def _expected_meeting(
    s: Session, organisation_id: int, anchor: MeetingAnchor, pins: dict[str, int], now: datetime
) -> tuple[int, datetime] | None:
    """The meeting a rule's anchor will be, as things stand: the cycle's pinned meeting of its
    body, or the body's next one (after now, or for ``next B after A`` after A's)."""
    after = now
    if isinstance(anchor.after, MeetingAnchor):
        before = _expected_meeting(s, organisation_id, anchor.after, pins, now)
        if before is None:
            return None
        after = before[1]
    elif anchor.body in pins:
        row = s.execute(select(Meeting.id, Meeting.starts_at).where(Meeting.id == pins[anchor.body])).first()
        if row is not None:
            return int(row[0]), row[1]
    row = s.execute(
        select(Meeting.id, Meeting.starts_at)
        .where(
            Meeting.organisation_id == organisation_id, Meeting.body == anchor.body, Meeting.starts_at > after
        )
        .order_by(Meeting.starts_at)
        .limit(1)
    ).first()
    return (int(row[0]), row[1]) if row is not None else None


def _link(site: Site, meeting: Meeting, mg: ModernGovMeeting) -> MeetingLink:
    base = site.base_url
    return MeetingLink(
        body=meeting.body,
        starts_at=meeting.starts_at,
        title=meeting.title,
        url=f"{base}/ieListDocuments.aspx?CId={mg.committee_ref}&MId={mg.meeting_ref}",
        item_url=f"{base}/mgAi.aspx?ID={mg.agenda_item_ref}" if mg.agenda_item_ref is not None else None,
        item_title=mg.agenda_item_title,
        provisional=mg.provisional,
    )


def _expected(link: MeetingLink) -> MeetingLink:
    return replace(link, expected=True)
