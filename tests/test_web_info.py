"""Information where people need it: why a return was sent back, at the top of its page; what a
Scrutiny action asks, of whom, by when and on which measure; a cycle's returns with their stage
and lateness; the figures an exception report is about; reminders, escalations and chasing in
the timeline; and "Chase now", the performance team's reminder to whoever must act, once a day."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotNow
from pmf_engine.core.store import AuditEntry, OutboxMessage
from tests.conftest import CYCLE, account_for_missing, services, settle_returns
from tests.test_web import client, csrf, sign_in

__all__ = ["client"]  # the fixture, imported to be used here


@pytest.fixture
def complete(client: TestClient, engine: Engine) -> None:
    """Each measure of the quarter has a figure or a reason it is missing (``return_complete``)."""
    del client  # made first: it imports the measures and starts the quarter
    account_for_missing(engine)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _section(html: str, element_id: str) -> str:
    """The text of the element with ``element_id``, to its matching closing tag."""
    start = re.search(rf'<(\w+)[^>]*\bid="{element_id}"', html)
    assert start, f"no #{element_id} on the page"
    tag, depth, at = start.group(1), 0, start.start()
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", html[at:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return _text(html[at : at + found.end()])
    raise AssertionError(f"#{element_id} is not closed")


def test_why_a_return_was_sent_back_is_at_the_top_of_its_page(
    client: TestClient, engine: Engine, complete: None
) -> None:
    """The reason given with "return for correction", who gave it and when, stand above the
    return's heading while it waits for correction, and go once it is resubmitted."""
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    why = "The figure leaves out the sheltered housing voids"
    engine.fire(f"{CYCLE}/HOUSING", "return_for_correction", "perf", reason=why)
    sign_in(client, "sm_housing")
    page = client.get(f"/instances/{CYCLE}/HOUSING").text
    assert 'id="arrival"' in page and page.index('id="arrival"') < page.index("<h1")
    banner = _section(page, "arrival")
    assert why in banner and "perf" in banner and "Return for correction" in banner
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    assert 'id="arrival"' not in client.get(f"/instances/{CYCLE}/HOUSING").text


def test_the_cycle_page_lists_its_returns_with_stage_and_lateness(
    client: TestClient, engine: Engine, complete: None
) -> None:
    """Each return, linked, with its stage, deadline and working days late once past it."""
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=21))  # past 12 July, the data request's deadline
    sign_in(client, "perf")
    table = _section(client.get(f"/instances/{CYCLE}").text, "children")
    assert "HOUSING Accepted done" in table
    assert re.search(r"WASTE Requested 12 Jul 2024 17:00 \d+ working days late", table), table
    assert f'href="/instances/{CYCLE}/WASTE"' in client.get(f"/instances/{CYCLE}").text


def _to_scrutiny(engine: Engine) -> None:
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    engine.fire(CYCLE, "endorse", "cmt")
    engine.fire(CYCLE, "sign_off", "lead")
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/1"})


def test_an_action_page_says_what_of_whom_by_when_and_on_which_measure(
    client: TestClient, engine: Engine
) -> None:
    """The action's page shows what Scrutiny asked, whose it is, its due date and the linked
    measure with its title, actual, target and status."""
    services(engine).performance.record_actual(CYCLE, "HOU-01", 29, narrative="Voids", by="sm_housing")
    _to_scrutiny(engine)
    action = services(engine).actions.add(
        CYCLE, "Report on the voids recovery plan", assignee="sm_housing", due="2024-12-31", by="scrutiny",
        link="HOU-01",
    )  # fmt: skip
    sign_in(client, "auditor")
    page = client.get(f"/instances/{action.key}").text
    text = _text(page)
    assert "What is asked Report on the voids recovery plan" in text
    assert "Of whom sm_housing" in text and "By when 31 December 2024" in text
    measure = next(m for m in services(engine).performance.status(CYCLE) if m.code == "HOU-01")
    linked = _section(page, "action-link")
    assert f"HOU-01: {measure.title}" in linked and "actual 29" in linked
    assert f"{measure.target:g}" in linked and measure.rag.status.capitalize() in linked


def test_an_exception_form_shows_the_measures_title_actual_and_target(
    client: TestClient, engine: Engine
) -> None:
    """The form for a red measure's exception report names the measure and its figures."""
    services(engine).performance.record_actual(CYCLE, "WAS-01", 10, narrative="Strike", by="sm_waste")
    measure = next(m for m in services(engine).performance.status(CYCLE) if m.code == "WAS-01")
    assert measure.rag.status == "red"
    sign_in(client, "perf")
    text = _text(client.get(f"/instances/{CYCLE}").text)
    assert f"WAS-01: {measure.title}: actual 10" in text and f"against a target of {measure.target:g}" in text


def test_reminders_and_escalations_are_in_the_timeline(client: TestClient, engine: Engine) -> None:
    """The worker's reminders and escalations about the cycle are listed with whom they went to."""
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=4, hours=1))  # Fri 5 July 10:00: the first reminder is due
    make_worker(engine.store, engine.catalog, clock, channel=LogChannel()).tick(LogChannel())
    clock.advance(timedelta(days=14))  # past the deadline: escalations
    make_worker(engine.store, engine.catalog, clock, channel=LogChannel()).tick(LogChannel())
    sign_in(client, "perf")
    timeline = _section(client.get(f"/instances/{CYCLE}").text, "timeline")
    assert "Reminder sent to both, perf, perf2" in timeline and "Deadline: Fri 12 Jul 2024 17:00" in timeline
    assert "Escalation sent to" in timeline


def _queued(engine: Engine) -> list[tuple[str, str]]:
    with engine.store.read() as s:
        return [(m.recipient, m.subject) for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_chase_now_reminds_whoever_must_act_once_a_day(client: TestClient, engine: Engine) -> None:
    """The performance officer's "Chase now" on a return queues a reminder to its service
    managers, is audited and shown in the timeline; a second chase the same day is refused
    (409) and queues nothing; the next day it is allowed again. A service manager has no
    button, and a forged chase is refused (403) with nothing queued."""
    key = f"{CYCLE}/HOUSING"
    sign_in(client, "sm_housing")
    assert "Chase now" not in client.get(f"/instances/{key}").text
    forged = client.post(f"/instances/{key}/chase", data={"csrf_token": csrf(client, f"/instances/{key}")})
    assert forged.status_code == 403 and _queued(engine) == []

    sign_in(client, "perf")
    assert "Chase now" in client.get(f"/instances/{key}").text
    done = client.post(f"/instances/{key}/chase", data={"csrf_token": csrf(client, f"/instances/{key}")})
    assert done.status_code == 303 and done.headers["location"] == f"/instances/{key}?chased=2"
    queued = _queued(engine)
    assert sorted(r for r, _ in queued) == ["both", "sm_housing"] and key in queued[0][1]
    page = client.get(f"/instances/{key}?chased=2").text
    assert "A reminder is queued for 2 people" in page and "Chase now" not in page
    assert "Chased: a reminder queued for both, sm_housing" in _section(page, "timeline")
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).where(AuditEntry.event == "chase.queued")) == 1

    again = client.post(f"/instances/{key}/chase", data={"csrf_token": csrf(client, f"/instances/{key}")})
    assert again.status_code == 409 and "can be chased again from" in again.text
    assert len(_queued(engine)) == 2

    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=1))
    sign_in(client, "perf")  # the session has timed out meanwhile
    later = client.post(f"/instances/{key}/chase", data={"csrf_token": csrf(client, f"/instances/{key}")})
    assert later.status_code == 303 and len(_queued(engine)) == 4


def test_chasing_a_cycle_reaches_the_acting_roles_and_not_a_finished_instance(
    engine: Engine, cycle: str
) -> None:
    """A cycle at the data request is chased to the performance officers (who act on it); a
    closed instance has nobody to chase."""
    chasing = services(engine).chasing
    done = chasing.chase(CYCLE, by="perf")
    assert set(done.recipients) == {"perf", "perf2", "both"}
    settle_returns(engine)
    with pytest.raises(NotNow, match="nobody to chase"):
        chasing.chase(f"{cycle}/HOUSING", by="perf")
