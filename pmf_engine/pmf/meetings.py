"""The committee calendar: meetings of CMT, Leadership Team, Cabinet, Scrutiny and any other
named body, imported from YAML, CSV or iCalendar, and an .ics export of a cycle's deadlines.
The bodies, and the words that mark an .ics event as one's meeting, are ``calendar.bodies`` in
``policies/framework.yaml``.

Moving a meeting recomputes every open deadline that depends on it, in the same transaction,
and both are recorded in the audit log. An import is all or nothing: every bad row is listed
with its file and line, and a file with any error imports nothing.

A recurring .ics event (RRULE, RDATE, EXDATE; a RECURRENCE-ID event moves one occurrence) is
expanded into its meetings, each with the uid ``UID/START`` of its first-scheduled start in UTC,
if it ends within ``HORIZON`` of its first meeting and holds at most ``MAX_OCCURRENCES``; a
longer or endless one is refused, never cut short silently. A time in a time zone that neither
the system's database nor the file's VTIMEZONE defines is refused, not read as London time.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import icalendar
from dateutil.rrule import rrule, rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core import values as checks
from pmf_engine.core.clock import LONDON, as_utc, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import (
    AlreadyExists,
    DataFileError,
    DefinitionError,
    InvalidInput,
    NotFound,
    Problem,
)
from pmf_engine.core.limits import id_of
from pmf_engine.core.provenance import stamp
from pmf_engine.core.reschedule import unpin_meeting
from pmf_engine.core.store import Deadline, Instance, Meeting, Organisation, find_organisation
from pmf_engine.core.yamlload import load_yaml
from pmf_engine.pmf import tabular
from pmf_engine.pmf.policy import CalendarPolicy
from pmf_engine.pmf.words import committee_name

_BODY = re.compile(r"^[a-z][a-z0-9_]*$")
_BROKEN = (ValueError, TypeError, AttributeError, OverflowError)
HORIZON = timedelta(days=2 * 365 + 1)
"""How far after its first meeting a recurring .ics event is expanded; one running longer is refused."""
MAX_OCCURRENCES = 200
"""The most meetings one recurring .ics event may stand for."""
YEARS = (1990, 2199)
"""The years a meeting may be in: beyond them a date is a typing slip (or an attack: an offset
that takes year 1 past the calendar's start)."""
NO_BODIES = CalendarPolicy(bodies={})
"""A calendar that guesses no event's body: .ics events must say it (``X-PMF-BODY`` or a category)."""


@dataclass(frozen=True)
class MeetingRow:
    """A meeting as an import file gives it."""

    body: str
    starts_at: datetime
    title: str = ""
    location: str = ""
    uid: str | None = None


@dataclass
class Imported:
    """What an import did: meetings added, moved and unchanged, and deadlines recomputed."""

    added: int = 0
    moved: int = 0
    unchanged: int = 0
    deadlines_recomputed: int = 0


def parse_when(value: object) -> datetime:
    """A meeting time: aware ISO 8601 kept as is; naive or date-only read as London time.
    ``ValueError`` for anything else, or a time outside the years ``YEARS`` (an offset that
    takes year 1 or 9999 past the calendar's end included)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(10, 0), tzinfo=LONDON)
    else:
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a date and time like 2024-09-11 18:00") from None
        if len(text) == 10:
            parsed = parsed.replace(hour=10)
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise ValueError(f"{parsed:%Y-%m-%d} is not a meeting date: use a year {YEARS[0]} to {YEARS[1]}")
    return as_utc(parsed)


def _check_body(body: str, policy: CalendarPolicy = NO_BODIES) -> str:
    """The committee's name, lower case; ``ValueError`` if it is not a name, or (when ``policy``
    declares bodies) not one of them, with the nearest declared name as a suggestion."""
    body = body.strip().lower()
    if not _BODY.match(body):
        raise ValueError(f"committee {body!r} must be a lower-case name like cabinet or scrutiny")
    if policy.bodies and body not in policy.bodies:
        known = sorted(policy.bodies)
        near = difflib.get_close_matches(body, known, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ValueError(
            f"unknown committee {body!r}: {hint}the committees are {', '.join(known)} "
            "(calendar.bodies in framework.yaml)"
        )
    return body


class CommitteeCalendar:
    """An organisation's committee meetings, which deadlines are reckoned from."""

    def __init__(self, engine: Engine, policy: CalendarPolicy = NO_BODIES) -> None:
        self.engine = engine
        self.store = engine.store
        self.policy = policy

    def add(
        self,
        organisation: str,
        body: str,
        starts_at: datetime,
        *,
        title: str = "",
        location: str = "",
        uid: str | None = None,
        by: str = "system",
    ) -> Meeting:
        """Add a meeting of ``body`` at ``starts_at`` (its uid made up if not given)."""
        try:
            checked = _check_body(body, self.policy)
        except ValueError as exc:
            raise InvalidInput("body", body, str(exc).split(": ", 1)[-1]) from None
        row = MeetingRow(checked, as_utc(starts_at), title, location, uid)
        with self.store.write() as s:
            org = self._org(s, organisation)
            return self._add(s, org, row, by)

    def add_in(self, s: Session, org: Organisation, row: MeetingRow, *, by: str) -> Meeting:
        """Add a meeting read from a file (``read_meetings``) inside the caller's transaction."""
        return self._add(s, org, row, by)

    def withdraw(
        self, organisation: str, ref: str, *, by: str, reason: str | None = None, cancelled: bool = True
    ) -> int:
        """Take a meeting (by id or uid) off the calendar: ``cancelled`` (it will not take place;
        a reason is required) or deleted (it was entered by mistake). Deadlines reckoned from it
        move to the body's next meeting (or wait for one), the cycles that had pinned it forget
        it, and the meeting's details stay in the audit log; how many deadlines were recomputed."""
        reason = (checks.check_text("reason", reason) or "").strip() or None
        if cancelled and reason is None:
            raise InvalidInput("reason", None, "cancelling a meeting needs a reason")
        with self.store.write() as s:
            org = self._org(s, organisation)
            return self.withdraw_in(
                s, org, self._meeting(s, org, ref), by=by, reason=reason, cancelled=cancelled
            )

    def withdraw_in(
        self, s: Session, org: Organisation, meeting: Meeting, *, by: str, reason: str | None, cancelled: bool
    ) -> int:
        """``withdraw`` inside the caller's transaction (a ModernGov sync cancelling a meeting)."""
        details = {
            "meeting": meeting.id,
            "body": meeting.body,
            "starts_at": audit.format_instant(meeting.starts_at),
            "title": meeting.title,
            "uid": meeting.uid,
        }
        meeting_id = meeting.id
        s.delete(meeting)
        unpinned = unpin_meeting(s, org.id, meeting_id)
        audit.record(
            s,
            audit.AuditRecord(
                event="meeting.cancelled" if cancelled else "meeting.deleted",
                organisation=org.code,
                actor=by,
                reason=reason,
                data=stamp({**details, "unpinned": unpinned}),
            ),
            self.engine.clock.now(),
        )
        return self.engine.recompute_deadlines(s, org.id, meeting_id, by=by)

    def list(self, organisation: str, body: str | None = None) -> list[Meeting]:
        """The organisation's meetings (of one ``body``), earliest first."""
        with self.store.read() as s:
            org = self._org(s, organisation)
            query = select(Meeting).where(Meeting.organisation_id == org.id).order_by(Meeting.starts_at)
            if body:
                query = query.where(Meeting.body == body)
            return list(s.scalars(query))

    def move(
        self, organisation: str, ref: str, starts_at: datetime, *, by: str, reason: str | None = None
    ) -> int:
        """Move a meeting (by id or uid); return how many deadlines were recomputed."""
        with self.store.write() as s:
            org = self._org(s, organisation)
            meeting = self._meeting(s, org, ref)
            return self._move(s, org, meeting, as_utc(starts_at), by, reason)

    def move_in(
        self,
        s: Session,
        org: Organisation,
        meeting: Meeting,
        starts_at: datetime,
        *,
        by: str,
        reason: str | None,
    ) -> int:
        """``move`` inside the caller's transaction (a ModernGov sync moving a meeting)."""
        return self._move(s, org, meeting, as_utc(starts_at), by, reason)

    def import_file(self, organisation: str, path: Path, *, by: str) -> Imported:
        """Add the meetings of a file and move those (matched by uid) whose time changed."""
        rows = read_meetings(path, self.policy, check_bodies=True)
        result = Imported()
        with self.store.write() as s:
            org = self._org(s, organisation)
            for row in rows:
                existing = (
                    s.scalar(select(Meeting).where(Meeting.organisation_id == org.id, Meeting.uid == row.uid))
                    if row.uid
                    else None
                )
                if existing is None:
                    self._add(s, org, row, by)
                    result.added += 1
                elif existing.starts_at != row.starts_at:
                    result.deadlines_recomputed += self._move(
                        s, org, existing, row.starts_at, by, f"imported from {path.name}"
                    )
                    result.moved += 1
                else:
                    result.unchanged += 1
        return result

    def export_ics(self, cycle: str) -> bytes:
        """An iCalendar feed of the cycle's and its returns' open deadlines."""
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//pmf-engine//deadlines//EN")
        calendar.add("version", "2.0")
        calendar.add("x-wr-calname", f"PMF deadlines {cycle}")
        with self.store.read() as s:
            rows = s.execute(
                select(Deadline.id, Deadline.state, Deadline.rule, Deadline.due_at, Instance.key)
                .join(Instance, Instance.id == Deadline.instance_id)
                .where(
                    (Instance.key == cycle) | Instance.key.startswith(cycle + "/", autoescape=True),
                    Deadline.closed_at.is_(None),
                    Deadline.due_at.is_not(None),
                )
                .order_by(Deadline.due_at)
            ).all()
            if not rows and s.scalar(select(Instance.id).where(Instance.key == cycle)) is None:
                raise NotFound("cycle", cycle)
        for deadline_id, state, rule, due_at, key in rows:
            assert due_at is not None  # filtered in the query
            event = icalendar.Event()
            event.add("uid", f"deadline-{deadline_id}@pmf-engine")
            event.add("summary", f"Deadline: {state.replace('_', ' ')} - {key}")
            event.add("description", f"Rule: {rule}")
            event.add("dtstart", london(due_at))
            event.add("dtend", london(due_at))
            event.add("dtstamp", self.engine.clock.now())
            calendar.add_component(event)
        return bytes(calendar.to_ical())

    # -- internals ------------------------------------------------------------------------

    def _add(self, s: Session, org: Organisation, row: MeetingRow, by: str) -> Meeting:
        uid = row.uid or f"{org.code}-{row.body}-{london(row.starts_at):%Y%m%dT%H%M}@pmf-engine"
        if s.scalar(select(Meeting.id).where(Meeting.organisation_id == org.id, Meeting.uid == uid)):
            raise AlreadyExists("meeting with uid", uid, org.code)
        meeting = Meeting(
            organisation_id=org.id,
            body=row.body,
            starts_at=row.starts_at,
            title=row.title or committee_name(row.body),
            location=row.location,
            uid=uid,
        )
        s.add(meeting)
        s.flush()  # the meeting's id goes into the audit record
        audit.record(
            s,
            audit.AuditRecord(
                event="meeting.added",
                organisation=org.code,
                actor=by,
                data=stamp(
                    {
                        "meeting": meeting.id,
                        "body": row.body,
                        "starts_at": audit.format_instant(row.starts_at),
                        "uid": uid,
                    }
                ),
            ),
            self.engine.clock.now(),
        )
        self.engine.recompute_deadlines(s, org.id, meeting.id, by=by)  # deadlines waiting for it
        return meeting

    def _move(
        self,
        s: Session,
        org: Organisation,
        meeting: Meeting,
        starts_at: datetime,
        by: str,
        reason: str | None,
    ) -> int:
        old = meeting.starts_at
        meeting.starts_at = starts_at
        audit.record(
            s,
            audit.AuditRecord(
                event="meeting.moved",
                organisation=org.code,
                actor=by,
                reason=reason,
                data=stamp(
                    {
                        "meeting": meeting.id,
                        "body": meeting.body,
                        "from": audit.format_instant(old),
                        "to": audit.format_instant(starts_at),
                    }
                ),
            ),
            self.engine.clock.now(),
        )
        return self.engine.recompute_deadlines(s, org.id, meeting.id, by=by)

    @staticmethod
    def _org(s: Session, code: str) -> Organisation:
        return find_organisation(s, code)

    @staticmethod
    def _meeting(s: Session, org: Organisation, ref: str) -> Meeting:
        query = select(Meeting).where(Meeting.organisation_id == org.id)
        number = id_of(ref)
        if number is None and ref.isdigit():  # digits out of the ids' range: no meeting has them
            raise NotFound("meeting", ref)
        query = query.where(Meeting.id == number) if number is not None else query.where(Meeting.uid == ref)
        meeting = s.scalar(query)
        if meeting is None:
            raise NotFound("meeting", ref)
        return meeting


def read_meetings(
    path: Path, policy: CalendarPolicy = NO_BODIES, *, check_bodies: bool = False
) -> list[MeetingRow]:
    """Meetings from a .yaml/.yml, .csv or .ics file; every bad row raises together. An .ics
    event with no ``X-PMF-BODY`` or category is the meeting of the body whose hint (in
    ``policy``) its summary contains. With ``check_bodies``, a body ``policy`` does not declare
    is a problem of its row (with a "did you mean")."""
    bodies = policy if check_bodies else NO_BODIES
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _from_yaml(raw.decode("utf-8", errors="replace"), str(path), bodies)
    if suffix == ".csv":
        return _from_csv(raw.decode("utf-8-sig", errors="replace"), str(path), bodies)
    if suffix == ".ics":
        return _from_ics(raw, str(path), policy, bodies)
    raise DataFileError([Problem(str(path), None, "", "use a .yaml, .csv or .ics file")])


def meeting_row(
    values: Mapping[str, Any],
    file: str,
    line: int | None,
    field_prefix: str,
    problems: list[Problem],
    bodies: CalendarPolicy = NO_BODIES,
) -> MeetingRow | None:
    """The meeting a row of a file gives (``body``, ``starts``, optional ``title``,
    ``location``, ``uid``), or ``None`` with its problem noted in ``problems``."""
    try:
        body = _check_body(str(values.get("body") or ""), bodies)
        starts = values.get("starts") or values.get("starts_at")
        if starts in (None, ""):
            raise ValueError("'starts' is missing")
        texts = {name: str(values.get(name) or "") for name in ("title", "location", "uid")}
        for name, text in texts.items():
            why = checks.text_problem(text)
            if why is not None:
                raise ValueError(f"{name} {why}")
        return MeetingRow(
            body=body,
            starts_at=parse_when(starts),
            title=texts["title"],
            location=texts["location"],
            uid=texts["uid"] or None,
        )
    except ValueError as exc:
        problems.append(Problem(file, line, field_prefix, str(exc)))
        return None


def _collect(rows: list[MeetingRow | None], problems: list[Problem]) -> list[MeetingRow]:
    if problems:
        raise DataFileError(problems)
    return [r for r in rows if r is not None]


def _from_yaml(text: str, file: str, bodies: CalendarPolicy) -> list[MeetingRow]:
    try:
        doc = load_yaml(text, file)
    except DefinitionError as exc:  # the YAML reader's own error; here the file is data
        raise DataFileError(exc.problems) from exc
    items = doc.data.get("meetings") if isinstance(doc.data, dict) else doc.data
    if not isinstance(items, list):
        raise DataFileError([doc.problem((), "expected a list of meetings (or a 'meetings:' key)")])
    prefix: tuple[str, ...] = ("meetings",) if isinstance(doc.data, dict) else ()
    problems: list[Problem] = []
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(doc.problem((*prefix, i), "each meeting is a mapping with body and starts"))
            continue
        where = ".".join(map(str, (*prefix, i)))
        rows.append(meeting_row(item, file, doc.line_of((*prefix, i)), where, problems, bodies))
    return _collect(rows, problems)


def _from_csv(text: str, file: str, bodies: CalendarPolicy) -> list[MeetingRow]:
    table = tabular.parse_csv(text, file, ("body", "starts"))
    rows = [
        meeting_row(row.cells, file, row.line, f"row {row.line}", table.problems, bodies)
        for row in table.rows
    ]
    return _collect(rows, table.problems)


def _from_ics(raw: bytes, file: str, policy: CalendarPolicy, bodies: CalendarPolicy) -> list[MeetingRow]:
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise DataFileError([Problem(file, None, "", f"not an iCalendar file: {exc}")]) from exc
    events = list(calendar.walk("VEVENT"))
    moved: set[tuple[str, datetime]] = set()  # occurrences that a RECURRENCE-ID event replaces
    for event in events:
        recurrence = event.get("recurrence-id")
        if recurrence is not None:
            with suppress(*_BROKEN):  # reported with the event itself, below
                moved.add((str(event.get("uid", "")), parse_when(_local(recurrence, "RECURRENCE-ID"))))
    problems: list[Problem] = []
    rows: list[MeetingRow | None] = []
    for n, event in enumerate(events, start=1):
        summary = str(event.get("summary", ""))
        where = f"VEVENT {n} ({summary[:60] or 'no summary'})"
        fields = {
            "body": str(event.get("x-pmf-body", "")) or _category(event) or policy.guess(summary),
            "title": summary,
            "location": str(event.get("location", "")),
        }
        try:
            starts = _occurrences(event, str(event.get("uid", "")), moved)
        except _BROKEN as exc:  # icalendar's broken properties raise these on access
            problems.append(Problem(file, None, where, str(exc)))
            continue
        rows += [
            meeting_row({**fields, "starts": at, "uid": u}, file, None, where, problems, bodies)
            for u, at in starts
        ]
    return _collect(rows, problems)


def _occurrences(
    event: Any, uid: str, moved: set[tuple[str, datetime]]
) -> list[tuple[str | None, datetime | None]]:
    """The (uid, start) of each meeting an event stands for: itself, or each occurrence of its
    recurrence (uid ``UID/START-IN-UTC`` of the occurrence as first scheduled, so re-importing
    a moved one moves it), less those a ``RECURRENCE-ID`` event of the file replaces."""
    start = event.get("dtstart")
    if start is None:
        return [(uid or None, None)]  # _row says 'starts' is missing
    first = _local(start, "DTSTART")
    recurrence = event.get("recurrence-id")
    if recurrence is not None:
        return [(_occurrence_uid(uid, parse_when(_local(recurrence, "RECURRENCE-ID"))), first)]
    if event.get("rrule") is None and event.get("rdate") is None:
        return [(uid or None, first)]
    found: list[tuple[str | None, datetime | None]] = []
    for at in _expand(event, first):
        instant = parse_when(at)
        if (uid, instant) not in moved:
            found.append((_occurrence_uid(uid, instant), at))
    return found


def _expand(event: Any, first: datetime) -> list[datetime]:
    """Every start of a recurring event (RRULE, RDATE, less EXDATE), in its own time zone so a
    weekly 18:00 stays at 18:00 across the clock change; ``ValueError`` for a recurrence that
    runs past ``HORIZON`` of its first meeting or to more than ``MAX_OCCURRENCES`` meetings."""
    horizon = first + HORIZON
    years = HORIZON.days // 365
    limits = f"only a recurrence within {years} years and {MAX_OCCURRENCES} meetings is imported"
    starts = {first} if event.get("rrule") is None else set()
    rules = event.get("rrule")
    if isinstance(rules, list):
        raise ValueError("more than one RRULE: give each series its own event")
    if rules is not None:
        freq = str((rules.get("FREQ") or [""])[0]).upper()
        if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
            raise ValueError(f"a committee does not meet {freq or 'without a FREQ'}: {limits}")
        count = int((rules.get("COUNT") or [0])[0])
        until = (rules.get("UNTIL") or [None])[0]
        if count > MAX_OCCURRENCES:
            raise ValueError(f"its RRULE has COUNT={count}, over {MAX_OCCURRENCES} meetings: {limits}")
        if not count and until is None:
            raise ValueError(f"its RRULE has no end (COUNT or UNTIL): {limits}")
        end = horizon
        if not count:  # an UNTIL: a date means the end of that day
            last = until if isinstance(until, datetime) else datetime.combine(until, time(23, 59))
            end = parse_when(last)
            if end > horizon:
                raise ValueError(f"its RRULE runs to {london(end):%Y-%m-%d}, past {years} years: {limits}")
        text = icalendar.vRecur({k: v for k, v in rules.items() if k not in ("COUNT", "UNTIL")})
        parsed = rrulestr(text.to_ical().decode(), dtstart=first)  # type: ignore[no-untyped-call]
        if not isinstance(parsed, rrule):
            raise ValueError(f"its RRULE is not one rule: {limits}")
        rule = parsed.replace(until=min(end, horizon).astimezone(first.tzinfo))
        found = list(islice(rule, MAX_OCCURRENCES + 1))
        if count and len(found) < count:
            raise ValueError(f"its RRULE has COUNT={count}, past {years} years: {limits}")
        starts |= set(found[:count] if count else found)
    starts |= set(_dates(event, "rdate"))
    starts -= set(_dates(event, "exdate"))
    if len(starts) > MAX_OCCURRENCES:
        raise ValueError(f"its recurrence makes {len(starts)} meetings: {limits}")
    return sorted(starts)


def _dates(event: Any, name: str) -> list[datetime]:
    """The times of an event's RDATE or EXDATE properties (each may hold several)."""
    found = event.get(name)
    props = found if isinstance(found, list) else [found] if found is not None else []
    return [_local(item, name.upper(), params=prop.params) for prop in props for item in prop.dts]


def _local(prop: Any, name: str, params: Any = None) -> datetime:
    """A date or time of an .ics property, aware in its own time zone (London when floating or
    a date); ``ValueError`` when it names a time zone neither the system nor the file knows."""
    value = prop.dt
    tzid = (params if params is not None else prop.params).get("TZID")
    if isinstance(value, datetime):
        if value.tzinfo is None and tzid:
            raise ValueError(
                f"{name} has an unknown time zone {str(tzid)[:60]!r}: use an IANA name like "
                "Europe/London, or include its VTIMEZONE"
            )
        local = value if value.tzinfo is not None else value.replace(tzinfo=LONDON)
    elif isinstance(value, date):
        local = datetime.combine(value, time(10, 0), tzinfo=LONDON)
    else:
        raise ValueError(f"{name} is not a date or a date and time")
    parse_when(local)  # the years a meeting may be in
    return local


def _occurrence_uid(uid: str, instant: datetime) -> str | None:
    return f"{uid}/{instant:%Y%m%dT%H%M%SZ}" if uid else None


def _category(event: Any) -> str:
    categories = event.get("categories")
    if categories is None:
        return ""
    values = categories.cats if hasattr(categories, "cats") else [categories]
    return str(values[0]) if values else ""
