"""The committee calendar: imports from YAML, CSV and iCalendar (all or nothing), moves
that deadlines follow, and an .ics export of a cycle's deadlines that a calendar app reads."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from pmf_engine.core import audit
from pmf_engine.core.clock import LONDON
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError
from pmf_engine.core.store import AuditEntry
from pmf_engine.pmf.meetings import CommitteeCalendar, read_meetings
from pmf_engine.pmf.words import committee_name
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, settle_returns

FIXTURES = Path(__file__).parent / "fixtures" / "calendar"


def test_yaml_and_csv_import_then_reimport_is_idempotent(engine: Engine) -> None:
    calendar = CommitteeCalendar(engine)
    first = calendar.import_file(ORG, FIXTURES / "committees.yaml", by="perf")
    assert (first.added, first.moved, first.unchanged) == (5, 0, 0)
    again = calendar.import_file(ORG, FIXTURES / "committees.yaml", by="perf")
    assert (again.added, again.unchanged) == (0, 5)
    calendar.import_file(ORG, FIXTURES / "committees.csv", by="perf")
    bodies = [(m.body, m.starts_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")) for m in calendar.list(ORG)]
    assert bodies[0] == ("cmt", "2024-07-23 10:00") and bodies[-1] == ("cabinet", "2024-11-13 18:00")
    assert len(bodies) == 7


def test_bad_rows_are_all_listed_and_nothing_is_imported(engine: Engine) -> None:
    with pytest.raises(DataFileError) as raised:
        CommitteeCalendar(engine).import_file(ORG, FIXTURES / "bad.csv", by="perf")
    problems = raised.value.problems
    assert [p.line for p in problems] == [3, 4]
    assert "must be a lower-case name" in problems[0].message and "not a date" in problems[1].message
    assert CommitteeCalendar(engine).list(ORG) == []


def test_ics_import(tmp_path: Path) -> None:
    cal = icalendar.Calendar()
    for uid, summary, start in [
        ("a@x", "Cabinet", datetime(2024, 9, 11, 18, tzinfo=LONDON)),
        ("b@x", "Overview and Scrutiny Committee", datetime(2024, 9, 24, 19, tzinfo=LONDON)),
    ]:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("summary", summary)
        event.add("dtstart", start)
        cal.add_component(event)
    path = tmp_path / "council.ics"
    path.write_bytes(cal.to_ical())
    rows = read_meetings(path, SHIPPED_POLICIES.framework.calendar)  # guessed from the summary
    assert [(r.body, r.uid) for r in rows] == [("cabinet", "a@x"), ("scrutiny", "b@x")]
    assert rows[0].starts_at == datetime(2024, 9, 11, 18, tzinfo=LONDON)


def test_reimport_with_a_moved_meeting_moves_deadlines(engine: Engine, tmp_path: Path) -> None:
    calendar = CommitteeCalendar(engine)
    calendar.import_file(ORG, FIXTURES / "committees.yaml", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    for trigger in ("close_data_request", "complete_service_review"):
        engine.fire(CYCLE, trigger, "perf")
    status = engine.status(CYCLE).deadline
    assert status is not None and status.due_at == datetime(2024, 7, 24, 17, tzinfo=LONDON)
    moved = tmp_path / "committees.yaml"
    moved.write_text(
        (FIXTURES / "committees.yaml").read_text().replace("2024-07-23 10:00", "2024-07-30 10:00")
    )
    result = calendar.import_file(ORG, moved, by="perf")
    assert (result.moved, result.unchanged, result.deadlines_recomputed) == (1, 4, 1)
    status = engine.status(CYCLE).deadline
    assert status is not None and status.due_at == datetime(2024, 7, 31, 17, tzinfo=LONDON)


def test_ics_export_of_a_cycles_deadlines(engine: Engine) -> None:
    calendar = CommitteeCalendar(engine)
    calendar.import_file(ORG, FIXTURES / "committees.yaml", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    parsed = icalendar.Calendar.from_ical(calendar.export_ics(CYCLE))
    events = list(parsed.walk("VEVENT"))
    assert len(events) == 4  # the cycle and its three returns, all in data request
    starts = {e["dtstart"].dt for e in events}
    assert starts == {datetime(2024, 7, 12, 17, tzinfo=LONDON)}
    assert all(str(e["uid"]).startswith("deadline-") for e in events)


def test_added_and_moved_meetings_are_audited_with_their_ids(engine: Engine) -> None:
    calendar = CommitteeCalendar(engine)
    calendar.import_file(ORG, FIXTURES / "committees.yaml", by="perf")
    first = calendar.list(ORG)[0]
    calendar.move(ORG, str(first.id), datetime(2024, 7, 25, 10, tzinfo=LONDON), by="perf", reason="clash")
    with engine.store.read() as s:
        entries = [
            (event, json.loads(data))
            for event, data in s.execute(
                select(AuditEntry.event, AuditEntry.data)
                .where(AuditEntry.event.in_(("meeting.added", "meeting.moved")))
                .order_by(AuditEntry.seq)
            ).all()
        ]
    added = [data["meeting"] for event, data in entries if event == "meeting.added"]
    assert added == sorted(m.id for m in calendar.list(ORG))
    assert entries[-1][0] == "meeting.moved" and entries[-1][1]["meeting"] == first.id


def test_a_deadline_waiting_for_a_meeting_resolves_when_it_is_added(engine: Engine) -> None:
    """Found by a new user: a stage reached before its committee's meeting was in the calendar
    stayed "no cmt meeting in the calendar" for good, so it got no reminders or escalations."""
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    for trigger in ("close_data_request", "complete_service_review"):
        engine.fire(CYCLE, trigger, "perf")
    waiting = engine.status(CYCLE).deadline
    assert waiting is not None and waiting.due_at is None and "cmt" in (waiting.problem or "")
    CommitteeCalendar(engine).add(ORG, "cmt", datetime(2024, 7, 23, 10, 0, tzinfo=LONDON), by="perf")
    resolved = engine.status(CYCLE).deadline
    assert resolved is not None and resolved.problem is None
    assert resolved.due_at is not None and resolved.due_at > datetime(2024, 7, 23, 10, 0, tzinfo=LONDON)
    with engine.store.read() as s:
        events = [e.event for e in audit.trail(s, CYCLE)]
    assert events[-1] == "deadline.recomputed"


def test_a_meeting_added_without_a_title_is_named_from_its_body() -> None:
    """Found by a new user: the demo's meetings of ``cmt`` were titled "Cmt" on the meetings page."""
    bodies = ("cmt", "cabinet", "audit_committee", "overview_and_scrutiny", "ldp_panel", "")
    assert [committee_name(b) for b in bodies] == [
        "CMT", "Cabinet", "Audit committee", "Overview and scrutiny", "LDP panel", "",
    ]  # fmt: skip


def test_an_added_meeting_keeps_the_default_title(engine: Engine) -> None:
    added = CommitteeCalendar(engine).add(ORG, "cmt", datetime(2024, 7, 23, 10, 0, tzinfo=LONDON), by="perf")
    named = CommitteeCalendar(engine).add(
        ORG, "cmt", datetime(2024, 8, 23, 10, 0, tzinfo=LONDON), title="CMT (budget)", by="perf"
    )
    assert (added.title, named.title) == ("CMT", "CMT (budget)")
