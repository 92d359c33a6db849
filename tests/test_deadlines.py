"""Deadline rules: parsing, and resolving against the period, the entry time and meetings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pmf_engine.core.clock import LONDON
from pmf_engine.core.deadlines import Entered, Meeting, MeetingInfo, PeriodEnd, parse_rule, resolve
from pmf_engine.core.escalation import Escalation, Ladder, Reminder, SendingHours, plan
from pmf_engine.core.workdays import WorkingDays


@pytest.mark.parametrize(
    ("text", "anchor", "offset", "unit"),
    [
        ("period_end + 10 working days", PeriodEnd(), 10, "working"),
        ("entered + 5 working days", Entered(), 5, "working"),
        ("cabinet - 7 working days", Meeting("cabinet"), -7, "working"),
        ("next scrutiny after cabinet", Meeting("scrutiny", Meeting("cabinet")), 0, "working"),
        ("entered + 2 weeks", Entered(), 14, "calendar"),
        ("Period_End + 1 working day", PeriodEnd(), 1, "working"),
    ],
)
def test_rules_parse(text: str, anchor: object, offset: int, unit: str) -> None:
    rule = parse_rule(text)
    assert (rule.anchor, rule.offset, rule.unit) == (anchor, offset, unit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("period_end + ten working days", "expected a number"),
        ("cabinet - 7 fortnights", "unknown unit"),
        ("next after cabinet", "not an anchor or a committee"),
        ("entered + 5 working", "ends early"),
        ("entered at 25:00", "not a time"),
        ("entered; drop table", "cannot read"),
    ],
)
def test_bad_rules_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(text)


MEETINGS = [
    MeetingInfo(1, "cabinet", datetime(2024, 8, 14, 17, tzinfo=UTC)),
    MeetingInfo(2, "cabinet", datetime(2024, 9, 11, 17, tzinfo=UTC)),
    MeetingInfo(3, "scrutiny", datetime(2024, 9, 24, 18, tzinfo=UTC)),
    MeetingInfo(4, "scrutiny", datetime(2024, 10, 22, 18, tzinfo=UTC)),
]


def _resolve(
    text: str, entered: datetime, pins: dict[str, int], arrived: datetime | None = None
) -> datetime | None:
    def find(body: str, moment: datetime, strictly: bool) -> MeetingInfo | None:
        return next(
            (
                m
                for m in MEETINGS
                if m.body == body and (m.starts_at > moment if strictly else m.starts_at >= moment)
            ),
            None,
        )

    return resolve(
        parse_rule(text),
        period_end=date(2024, 6, 30),
        entered=entered,
        workdays=WorkingDays("ENG"),
        find_meeting=find,
        get_meeting=lambda i: next((m for m in MEETINGS if m.id == i), None),
        pins=pins,
        arrived=arrived,
    ).due_at


def test_period_end_rule_lands_at_five_pm_london() -> None:
    assert _resolve("period_end + 10 working days", datetime(2024, 7, 1, tzinfo=UTC), {}) == datetime(
        2024, 7, 12, 16, tzinfo=UTC
    )


def test_entered_rule_across_october_clock_change() -> None:
    entered = datetime(2024, 10, 24, 10, tzinfo=LONDON)
    due = _resolve("entered + 5 working days", entered, {})
    assert due == datetime(2024, 10, 31, 17, tzinfo=LONDON)
    assert due == datetime(2024, 10, 31, 17, tzinfo=UTC)  # GMT again, still 17:00 local


def test_meeting_rules_pin_and_move_on() -> None:
    pins: dict[str, int] = {}
    first = _resolve("cabinet - 7 working days", datetime(2024, 8, 1, tzinfo=UTC), pins)
    assert first == datetime(2024, 8, 5, 17, tzinfo=LONDON) and pins == {"cabinet": 1}
    # Deferred after the meeting: the pinned meeting has passed, so the next one is used.
    again = _resolve("cabinet - 7 working days", datetime(2024, 8, 15, tzinfo=UTC), pins)
    assert again == datetime(2024, 9, 2, 17, tzinfo=LONDON) and pins["cabinet"] == 2
    # Scrutiny after the Cabinet meeting the cycle went to, even though it is in the past.
    scrutiny = _resolve("next scrutiny after cabinet", datetime(2024, 9, 12, tzinfo=UTC), pins)
    assert scrutiny == datetime(2024, 9, 24, 18, tzinfo=UTC) and pins["scrutiny"] == 3


def test_a_meeting_begun_by_the_arrival_is_passed_over() -> None:
    """The clock of a stay counts from its first entry, but the meeting is one the instance can
    still go to when it comes back (Cabinet deferring keeps the stage's clock)."""
    entered, back = datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 15, tzinfo=UTC)
    pins = {"cabinet": 1}
    assert _resolve("cabinet + 1 working day", entered, pins) == datetime(2024, 8, 15, 17, tzinfo=LONDON)
    assert _resolve("cabinet + 1 working day", entered, pins, back) == datetime(
        2024, 9, 12, 17, tzinfo=LONDON
    )
    assert pins == {"cabinet": 2}
    # ``next ... after``: after the anchor meeting, and not one begun by the arrival either.
    pins = {"cabinet": 1, "scrutiny": 3}
    late = datetime(2024, 9, 25, tzinfo=UTC)
    assert _resolve("next scrutiny after cabinet", entered, pins, late) == datetime(
        2024, 10, 22, 18, tzinfo=UTC
    )
    assert pins == {"cabinet": 1, "scrutiny": 4}


def test_missing_meeting_is_a_problem_not_a_crash() -> None:
    result = resolve(
        parse_rule("cmt - 2 working days"),
        period_end=date(2024, 6, 30),
        entered=datetime(2024, 7, 1, tzinfo=UTC),
        workdays=WorkingDays("ENG"),
        find_meeting=lambda *_: None,
        get_meeting=lambda _: None,
        pins={},
    )
    assert result.due_at is None and result.problem and "no cmt meeting" in result.problem


def test_plan_puts_steps_in_sending_hours() -> None:
    ladder = Ladder(
        reminders=(Reminder(before=5), Reminder(before=1)),
        escalations=(Escalation(after=0, to=("acting",)), Escalation(after=3, to=("cmt_member",))),
    )
    deadline = datetime(2024, 8, 27, 17, tzinfo=LONDON)  # Tuesday after the bank holiday
    steps = plan(deadline, ladder, WorkingDays("ENG"), SendingHours())
    got = [(s.kind, s.rung, s.due_at) for s in steps]
    assert got == [
        ("reminder", 1, datetime(2024, 8, 19, 8, tzinfo=LONDON)),
        ("reminder", 2, datetime(2024, 8, 23, 8, tzinfo=LONDON)),  # skips Monday 26th
        ("escalation", 1, deadline),
        ("escalation", 2, datetime(2024, 8, 30, 8, tzinfo=LONDON)),
    ]
