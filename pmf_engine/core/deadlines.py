"""Deadline rules: small expressions in the workflow YAML, parsed at load time, resolved per
instance against its period, the time it entered the state, and the committee calendar.

    rule    := anchor [("+" | "-") N unit] ["at" HH:MM]
    anchor  := "period_end" | "entered" | "due" | BODY | "next" BODY "after" anchor
    unit    := "working day(s)" | "day(s)" | "week(s)"

``BODY`` is a committee (``cmt``, ``leadership``, ``cabinet``, ``scrutiny`` or any other name in
the calendar) and means the meeting of that body the cycle goes to: the first one after the
moment the state was entered, pinned in the cycle's context so later rules (``next
scrutiny after cabinet``) see the same meeting. A pinned meeting that has already started
when an instance arrives at a state, or comes back to it (Cabinet deferred, Scrutiny
referred back), is replaced by the next one, unless the state declares another rule for a
return (``on_return``, chosen by the timekeeper). ``due`` is a date the instance carries
(a Scrutiny action's "when").
Date-based deadlines fall at 17:00 London time unless ``at`` says otherwise; a
deadline on a meeting with no offset is the meeting's start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from pmf_engine.core.clock import london
from pmf_engine.core.workdays import WorkingDays, local_instant

DEFAULT_TIME = time(17, 0)


@dataclass(frozen=True)
class PeriodEnd:
    """The anchor ``period_end``: the last day of the instance's reporting quarter."""

    def __str__(self) -> str:
        return "period_end"


@dataclass(frozen=True)
class Entered:
    """The anchor ``entered``: the moment the instance entered the state the deadline belongs to."""

    def __str__(self) -> str:
        return "entered"


@dataclass(frozen=True)
class Meeting:
    """A committee anchor: the cycle's meeting of ``body``, or with ``after`` the next one after that."""

    body: str
    after: Anchor | None = None

    def __str__(self) -> str:
        return f"next {self.body} after {self.after}" if self.after else self.body


@dataclass(frozen=True)
class Due:
    """The anchor ``due``: a date the instance carries, such as when a Scrutiny action is to be done by."""

    def __str__(self) -> str:
        return "due"


Anchor = PeriodEnd | Entered | Due | Meeting

NEXT_MEETING = "next_meeting"
"""``on_return: next_meeting``: a return after the meeting began goes to the committee's next one."""


@dataclass(frozen=True)
class DeadlineRule:
    """A parsed rule: ``offset`` working or calendar days from ``anchor`` (weeks stored as calendar days).

    ``at`` of ``None`` means 17:00, or with no offset from a meeting or ``entered``, that moment itself;
    ``text`` is the rule as written, for messages, and plays no part in comparing rules.
    """

    anchor: Anchor
    offset: int = 0
    unit: Literal["working", "calendar"] = "working"
    at: time | None = None
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text or repr(self)


_TOKEN = re.compile(r"\s*(?:(?P<time>\d{1,2}:\d{2})|(?P<num>\d+)|(?P<word>[a-z_][a-z0-9_]*)|(?P<sign>[+-]))")
_UNITS = {
    "working": "working",
    "day": "calendar",
    "days": "calendar",
    "week": "week",
    "weeks": "week",
}


def parse_rule(text: str) -> DeadlineRule:
    """Parse a rule; ``ValueError`` says what is wrong (the loader adds file and line)."""
    tokens = _tokenise(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        token = peek()
        if token is None:
            raise ValueError(
                f"deadline rule {text!r} ends early" + (f"; expected {expected!r}" if expected else "")
            )
        if expected is not None and token != expected:
            raise ValueError(f"deadline rule {text!r}: expected {expected!r}, found {token!r}")
        pos += 1
        return token

    def anchor() -> Anchor:
        word = take()
        if word == "period_end":
            return PeriodEnd()
        if word == "entered":
            return Entered()
        if word == "due":
            return Due()
        if word == "next":
            body = take()
            _check_body(text, body)
            take("after")
            return Meeting(body, anchor())
        _check_body(text, word)
        return Meeting(word)

    start = anchor()
    offset, unit = 0, "working"
    if peek() in ("+", "-"):
        sign = -1 if take() == "-" else 1
        number = take()
        if not number.isdigit():
            raise ValueError(
                f"deadline rule {text!r}: expected a number of days after {'-' if sign < 0 else '+'}"
            )
        word = take()
        if word == "working":
            following = take()
            if following not in ("day", "days"):
                raise ValueError(f"deadline rule {text!r}: expected 'working days'")
            unit = "working"
        elif word in _UNITS:
            unit = _UNITS[word]
        else:
            raise ValueError(f"deadline rule {text!r}: unknown unit {word!r} (working days, days, weeks)")
        offset = sign * int(number)
        if unit == "week":
            offset, unit = offset * 7, "calendar"
    at: time | None = None
    if peek() == "at":
        take()
        raw = take()
        try:
            hours, minutes = (int(p) for p in raw.split(":"))
            at = time(hours, minutes)
        except ValueError:
            raise ValueError(f"deadline rule {text!r}: {raw!r} is not a time like 17:00") from None
    if peek() is not None:
        raise ValueError(f"deadline rule {text!r}: unexpected {peek()!r}")
    return DeadlineRule(start, offset, "working" if unit == "working" else "calendar", at, text.strip())


_RESERVED = {"period_end", "entered", "due", "next", "after", "at", "working", "day", "days", "week", "weeks"}


def _check_body(text: str, body: str) -> None:
    if body in _RESERVED or not re.fullmatch(r"[a-z][a-z0-9_]*", body):
        raise ValueError(f"deadline rule {text!r}: {body!r} is not an anchor or a committee name")


def _tokenise(text: str) -> list[str]:
    tokens: list[str] = []
    source = text.strip().lower()
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"deadline rule {text!r}: cannot read {source[pos:]!r}")
        tokens.append(match.group().strip())
        pos = match.end()
    if not tokens:
        raise ValueError("empty deadline rule")
    return tokens


@dataclass(frozen=True)
class MeetingInfo:
    """A committee meeting as a rule sees it; ``id`` is what the cycle's context pins."""

    id: int
    body: str
    starts_at: datetime


def hangs_on_meeting(rule: DeadlineRule | None) -> bool:
    """Whether ``rule`` is reckoned from a committee meeting (``cmt + 1 working day``)."""
    return rule is not None and isinstance(rule.anchor, Meeting)


MeetingFinder = Callable[[str, datetime, bool], MeetingInfo | None]
"""``find(body, moment, strictly_after)``: the first meeting of ``body`` at or after ``moment``."""
MeetingLookup = Callable[[int], MeetingInfo | None]


@dataclass
class Resolution:
    """A rule resolved for one instance: ``due_at``, and the ids of the meetings it was reckoned from.

    ``due_at`` is ``None`` when the rule cannot be resolved (no such meeting, no due date); ``problem``
    then says why, in words a page can show.
    """

    due_at: datetime | None
    meetings: list[int]
    problem: str | None = None


def resolve(
    rule: DeadlineRule,
    *,
    period_end: date,
    entered: datetime,
    workdays: WorkingDays,
    find_meeting: MeetingFinder,
    get_meeting: MeetingLookup,
    pins: MutableMapping[str, int],
    due: date | None = None,
    arrived: datetime | None = None,
) -> Resolution:
    """When ``rule`` falls due for an instance; ``pins`` (the cycle's chosen meetings) is
    updated in place. A rule that needs a meeting the calendar lacks resolves to no date,
    with ``problem`` saying which.

    ``arrived`` is when the instance arrived at the state or came back to it (by default
    ``entered``; later when a transition back into the state kept its clock): the meeting the
    rule hangs on must not have begun by then."""
    used: list[int] = []
    arrival = arrived or entered

    def moment(anchor: Anchor, direct: bool) -> datetime | None:
        if isinstance(anchor, PeriodEnd):
            return local_instant(period_end, DEFAULT_TIME)
        if isinstance(anchor, Entered):
            return entered
        if isinstance(anchor, Due):
            return local_instant(due, DEFAULT_TIME) if due is not None else None
        pinned = get_meeting(pins[anchor.body]) if anchor.body in pins else None
        # A meeting that has started (or is starting) as the instance arrives is no longer
        # one it can go to: take the next.
        if anchor.after is not None:
            base = moment(anchor.after, False)
            if base is None:
                return None
            floor = max(base, arrival) if direct else base
            if pinned is None or pinned.starts_at <= floor:
                pinned = find_meeting(anchor.body, floor, True)
        elif pinned is None or (direct and pinned.starts_at <= arrival):
            pinned = find_meeting(anchor.body, arrival if direct else entered, True)
        if pinned is None:
            return None
        pins[anchor.body] = pinned.id
        used.append(pinned.id)
        return pinned.starts_at

    base = moment(rule.anchor, True)
    if base is None and isinstance(rule.anchor, Due):
        return Resolution(None, used, f"no due date set for {rule}")
    if base is None:
        return Resolution(None, used, f"no {_bodies(rule.anchor)} meeting in the calendar for {rule}")
    if rule.offset == 0 and rule.at is None and isinstance(rule.anchor, (Meeting, Entered)):
        return Resolution(base, used)
    day = london(base).date()
    day = workdays.add(day, rule.offset) if rule.unit == "working" else day + timedelta(days=rule.offset)
    return Resolution(local_instant(day, rule.at or DEFAULT_TIME), used)


def meeting_begun(
    rule: DeadlineRule, pins: Mapping[str, int], get_meeting: MeetingLookup, moment: datetime
) -> bool:
    """Whether the meeting ``rule`` hangs on, as the cycle pinned it, has begun by ``moment``."""
    if not isinstance(rule.anchor, Meeting) or rule.anchor.body not in pins:
        return False
    pinned = get_meeting(pins[rule.anchor.body])
    return pinned is not None and pinned.starts_at <= moment


def _bodies(anchor: Anchor) -> str:
    if isinstance(anchor, Meeting):
        return anchor.body if anchor.after is None else f"{anchor.body}/{_bodies(anchor.after)}"
    return str(anchor)
