"""Re-entry: a transition back into the same state keeps that state's deadline clock (``entered +
N working days`` counts from the first arrival, reminders already sent are not sent again)
unless the transition declares ``restart_deadline: true``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store
from tests.conftest import CYCLE, ORG, settle_returns
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
