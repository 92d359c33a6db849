"""Re-entry: a transition back into the same state keeps that state's deadline clock (``entered +
N working days`` counts from the first arrival, reminders already sent are not sent again)
unless the transition declares ``restart_deadline: true``; a return to a state after the meeting
its deadline hangs on has begun follows the state's ``on_return`` (the committee's next meeting
unless it declares a rule)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.store import AuditEntry, Instance, Store
from pmf_engine.pmf import report
from pmf_engine.pmf.meetings import CommitteeCalendar
from tests.conftest import CYCLE, ORG, WORKFLOWS, services, settle_returns
from tests.test_versions import edited_catalog

NOTE = (
    "  - trigger: note\n    label: Add a note\n    source: service_review\n"
    "    dest: service_review\n    roles: [performance_officer]\n{extra}"
    "  - trigger: complete_service_review\n"
)


def _at_service_review(store: Store, clock: ManualClock, tmp_path: Path, extra: str) -> Engine:
    catalog = edited_catalog(
        tmp_path, "quarterly_cycle", "  - trigger: complete_service_review\n", NOTE.format(extra=extra)
    )
    engine = Engine(store, catalog, clock)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    return engine


def test_staying_in_a_state_keeps_its_deadline(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    engine = _at_service_review(store, clock, tmp_path, "")
    before = engine.status(CYCLE)
    assert before.state == "service_review" and before.deadline is not None
    clock.advance(timedelta(days=2))
    engine.fire(CYCLE, "note", "perf")
    after = engine.status(CYCLE)
    assert after.deadline is not None
    assert after.deadline.due_at == before.deadline.due_at, "entered + 5 working days from the arrival"
    assert after.entered_at == before.entered_at


def test_restart_deadline_starts_the_clock_again(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    engine = _at_service_review(store, clock, tmp_path, "    restart_deadline: true\n")
    before = engine.status(CYCLE)
    assert before.deadline is not None and before.deadline.due_at is not None
    clock.advance(timedelta(days=2))
    engine.fire(CYCLE, "note", "perf")
    after = engine.status(CYCLE)
    assert after.deadline is not None and after.deadline.due_at is not None
    assert after.deadline.due_at > before.deadline.due_at
    assert after.entered_at == clock.now()


@pytest.mark.parametrize("restart", [False, True])
def test_a_sent_reminder_is_not_sent_again_on_staying(
    store: Store, clock: ManualClock, tmp_path: Path, restart: bool
) -> None:
    """The reminders of the stage already sent stay sent; a restart plans the ladder afresh."""
    extra = "    restart_deadline: true\n" if restart else ""
    engine = _at_service_review(store, clock, tmp_path, extra)
    worker = make_worker(store, engine.catalog, clock, channel=LogChannel(), worker_id="w")
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None and deadline.due_at is not None
    clock.set(deadline.due_at - timedelta(hours=12))
    first = worker.sweep().fired
    assert first >= 1, "a reminder falls due before the deadline"
    engine.fire(CYCLE, "note", "perf")
    assert worker.sweep().fired == 0, "nothing already sent is sent again, and nothing new is due"
    planned = engine.status(CYCLE).deadline
    assert planned is not None and planned.next_step is not None
    kind, _, due = planned.next_step
    if restart:
        assert (kind, due > clock.now()) == ("reminder", True), "the ladder is planned afresh"
    else:
        assert kind == "escalation", "the reminders were sent; what is left is the escalation"


# -- returning to a stage whose deadline hangs on a meeting ---------------------------------

CMT_1 = datetime(2024, 7, 23, 10, 0, tzinfo=LONDON)
CMT_2 = datetime(2024, 8, 20, 10, 0, tzinfo=LONDON)
CABINET_1 = datetime(2024, 9, 11, 18, 0, tzinfo=LONDON)
CABINET_2 = datetime(2024, 10, 9, 18, 0, tzinfo=LONDON)


def _calendar(engine: Engine) -> dict[datetime, int]:
    """Two CMT and two Cabinet meetings; their ids by start."""
    calendar = CommitteeCalendar(engine)
    return {
        when: calendar.add(ORG, body, when, by="perf").id
        for body, when in (("cmt", CMT_1), ("cmt", CMT_2), ("cabinet", CABINET_1), ("cabinet", CABINET_2))
    }


def _to_cmt_review(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")


def _send_back_and_forward(engine: Engine, clock: ManualClock, back: datetime, forward: datetime) -> None:
    clock.set(back)
    engine.fire(
        CYCLE,
        "return_to_services",
        "cmt",
        reason="the housing narrative is missing",
        data={"services": ["HOUSING"]},
    )
    clock.set(forward)
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")


def _due(engine: Engine) -> datetime:
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None and deadline.due_at is not None, deadline
    return deadline.due_at


def _pins(engine: Engine) -> dict[str, int]:
    with engine.store.read() as s:
        context = s.scalar(select(Instance.context).where(Instance.key == CYCLE))
    assert context is not None
    return dict(context.get("meetings", {}))


def _with_on_return(tmp_path: Path, state_rule: str, on_return: str) -> Catalog:
    """The shipped cycle with ``on_return`` of the state whose deadline is ``state_rule`` replaced."""
    line = f"    deadline: {state_rule}\n"
    shipped = re.search(
        re.escape(line) + r"(?:    #[^\n]*\n)*(?:    on_return: [^\n]*\n)?",
        (WORKFLOWS / "quarterly_cycle.yaml").read_text(),
    )
    assert shipped is not None
    return edited_catalog(tmp_path, "quarterly_cycle", shipped[0], f"{line}    on_return: {on_return}\n")


def test_return_after_the_meeting_began_goes_to_the_next_meeting(engine: Engine, clock: ManualClock) -> None:
    """CMT met (and sent the report back): the report goes to CMT's next meeting, not the past one."""
    meetings = _calendar(engine)
    _to_cmt_review(engine)
    assert _due(engine) == datetime(2024, 7, 24, 17, 0, tzinfo=LONDON)
    _send_back_and_forward(
        engine, clock, CMT_1 + timedelta(hours=1), datetime(2024, 7, 29, 9, 0, tzinfo=LONDON)
    )
    assert _due(engine) == datetime(2024, 8, 21, 17, 0, tzinfo=LONDON), "the next CMT + 1 working day"
    assert _pins(engine)["cmt"] == meetings[CMT_2], "re-pinned, so later rules see the same meeting"
    assert engine.status(CYCLE).deadline.late_working_days == 0  # type: ignore[union-attr]


def test_return_before_the_meeting_began_keeps_the_pinned_meeting(engine: Engine, clock: ManualClock) -> None:
    meetings = _calendar(engine)
    _to_cmt_review(engine)
    _send_back_and_forward(
        engine, clock, datetime(2024, 7, 15, 9, 0, tzinfo=LONDON), datetime(2024, 7, 18, 9, 0, tzinfo=LONDON)
    )
    assert _due(engine) == datetime(2024, 7, 24, 17, 0, tzinfo=LONDON), "the same CMT still holds"
    assert _pins(engine)["cmt"] == meetings[CMT_1]


def test_a_declared_return_rule_is_used_once_the_meeting_began(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """``on_return: entered + 3 working days``: an urgent item for the members, not the next meeting."""
    engine = Engine(
        store, _with_on_return(tmp_path, "cmt + 1 working day", "entered + 3 working days"), clock
    )
    _calendar(engine)
    _to_cmt_review(engine)
    back = datetime(2024, 7, 29, 9, 0, tzinfo=LONDON)  # a Monday
    _send_back_and_forward(engine, clock, CMT_1 + timedelta(hours=1), back)
    assert _due(engine) == datetime(2024, 8, 1, 17, 0, tzinfo=LONDON), "3 working days from the return"
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None and deadline.rule == "entered + 3 working days"


def test_a_declared_return_rule_waits_while_the_meeting_has_not_begun(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    engine = Engine(
        store, _with_on_return(tmp_path, "cmt + 1 working day", "entered + 3 working days"), clock
    )
    _calendar(engine)
    _to_cmt_review(engine)
    _send_back_and_forward(
        engine, clock, datetime(2024, 7, 15, 9, 0, tzinfo=LONDON), datetime(2024, 7, 16, 9, 0, tzinfo=LONDON)
    )
    assert _due(engine) == datetime(2024, 7, 24, 17, 0, tzinfo=LONDON), "the pinned CMT still holds"


def _to_cabinet(engine: Engine, clock: ManualClock) -> None:
    _to_cmt_review(engine)
    engine.fire(CYCLE, "endorse", "cmt")
    engine.fire(CYCLE, "sign_off", "lead")
    clock.set(CABINET_1 + timedelta(hours=3))


def test_a_declared_return_rule_does_not_touch_the_first_arrival(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """Reaching Cabinet approval for the first time after the Cabinet (pinned at sign-off) met
    is not a return: the next Cabinet, as for any arrival, not the declared return rule."""
    catalog = _with_on_return(tmp_path, "cabinet + 1 working day", "entered + 2 working days")
    engine = Engine(store, catalog, clock)
    meetings = _calendar(engine)
    _to_cmt_review(engine)
    engine.fire(CYCLE, "endorse", "cmt")
    assert _pins(engine)["cabinet"] == meetings[CABINET_1]
    clock.set(CABINET_1 + timedelta(hours=3))
    engine.fire(CYCLE, "sign_off", "lead")
    assert _due(engine) == datetime(2024, 10, 10, 17, 0, tzinfo=LONDON)
    engine.fire(CYCLE, "defer", "clerk", reason="agenda overran", data={"next_meeting": "2024-10-09"})
    assert _due(engine) == datetime(2024, 10, 10, 17, 0, tzinfo=LONDON), "the next Cabinet has not met"
    clock.set(CABINET_2 + timedelta(hours=3))  # a Wednesday evening
    engine.fire(CYCLE, "defer", "clerk", reason="agenda overran", data={"next_meeting": "2024-11-13"})
    assert _due(engine) == datetime(2024, 10, 11, 17, 0, tzinfo=LONDON), "deferred after it met: the rule"


def test_cabinet_deferring_after_its_meeting_follows_to_the_next_cabinet(
    engine: Engine, clock: ManualClock
) -> None:
    """Found while adding ``on_return``: keeping the stage's clock on ``defer`` (a transition
    back into the same state) had kept the Cabinet that had just met, so the deadline stayed
    the morning after it and escalated at once."""
    meetings = _calendar(engine)
    _to_cabinet(engine, clock)
    assert _due(engine) == datetime(2024, 9, 12, 17, 0, tzinfo=LONDON)
    engine.fire(CYCLE, "defer", "clerk", reason="agenda overran", data={"next_meeting": "2024-10-09"})
    assert _due(engine) == datetime(2024, 10, 10, 17, 0, tzinfo=LONDON), "the next Cabinet + 1 working day"
    assert _pins(engine)["cabinet"] == meetings[CABINET_2]
    assert engine.status(CYCLE).entered_at < CABINET_1, "the stage's clock is still kept"


def test_a_return_after_the_meeting_began_escalates_nothing_at_once(
    engine: Engine, clock: ManualClock
) -> None:
    """The symptom councils saw: a stage returned to after its meeting began was late at once."""
    _calendar(engine)
    _to_cabinet(engine, clock)
    engine.fire(CYCLE, "defer", "clerk", reason="agenda overran", data={"next_meeting": "2024-10-09"})
    worker = make_worker(engine.store, engine.catalog, clock, channel=LogChannel(), worker_id="w")
    clock.advance(timedelta(days=2))
    worker.sweep()
    with engine.store.read() as s:
        events = list(s.scalars(select(AuditEntry.event).where(AuditEntry.instance == CYCLE)))
    assert "escalation.fired" not in events, events


@pytest.mark.parametrize(
    ("on_return", "message"),
    [
        ("entered + 3 fortnights", "unknown unit 'fortnights'"),
        ("next meeting", "expected 'next_meeting' or a deadline rule"),
    ],
)
def test_a_bad_return_rule_is_named_with_its_line(tmp_path: Path, on_return: str, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        _with_on_return(tmp_path, "cmt + 1 working day", on_return)
    (problem,) = [p for p in raised.value.problems if p.file.endswith("quarterly_cycle.yaml")]
    assert problem.field == "states.cmt_review.on_return" and message in problem.message
    text = Path(problem.file).read_text().splitlines()
    assert text[problem.line - 1] == f"    on_return: {on_return}"


def test_a_return_rule_on_a_deadline_without_a_meeting_is_refused(tmp_path: Path) -> None:
    """It could never apply: only a meeting can have begun."""
    with pytest.raises(DefinitionError) as raised:
        _with_on_return(tmp_path, "entered + 5 working days", "next_meeting")
    (problem,) = [p for p in raised.value.problems if p.file.endswith("quarterly_cycle.yaml")]
    assert problem.field.startswith("states.service_review") and "meeting" in problem.message


# -- timeliness: every arrival at a stage ---------------------------------------------------


def test_timeliness_records_every_arrival_in_order(
    engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    _calendar(engine)
    clock.set(datetime(2024, 7, 8, 9, 0, tzinfo=LONDON))
    _to_cmt_review(engine)
    _send_back_and_forward(
        engine, clock, CMT_1 + timedelta(hours=1), datetime(2024, 7, 29, 9, 0, tzinfo=LONDON)
    )
    rows = report.gather(services(engine), CYCLE).timeliness
    assert [(t.label, t.arrival) for t in rows] == [
        ("Data request", 1),
        ("Service review", 1),
        ("Portfolio Holder and CMT review", 1),
        ("Service review (2nd arrival)", 2),
        ("Portfolio Holder and CMT review (2nd arrival)", 2),
    ]
    assert [t.stage for t in rows][-1] == "Portfolio Holder and CMT review"
    assert [t.working_days for t in rows] == [6, 6, 6, 17, 21]
    assert [t.reached for t in rows] == sorted(t.reached for t in rows)
    page = report.html(report.gather(services(engine), CYCLE))
    assert "Portfolio Holder and CMT review (2nd arrival)" in page
    path = tmp_path / "report.xlsx"
    report.xlsx(report.gather(services(engine), CYCLE), path)
    sheet = list(openpyxl.load_workbook(path)["Timeliness"].iter_rows(values_only=True))
    assert sheet[0] == ("Stage", "Arrival", "Reached", "Working days after quarter end")
    assert sheet[-1] == ("Portfolio Holder and CMT review", 2, "2024-07-29 09:00", 21)


def test_staying_in_a_stage_is_not_another_arrival(engine: Engine, clock: ManualClock) -> None:
    """Cabinet deferring keeps the cycle in Cabinet approval: one arrival, not two."""
    _calendar(engine)
    _to_cabinet(engine, clock)
    engine.fire(CYCLE, "defer", "clerk", reason="agenda overran", data={"next_meeting": "2024-10-09"})
    rows = report.gather(services(engine), CYCLE).timeliness
    assert [t.label for t in rows].count("Cabinet approval") == 1
    assert all(t.arrival == 1 for t in rows)
