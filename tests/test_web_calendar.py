"""The performance team in the browser: committee meetings added, moved and cancelled (the
deadlines that hang on them following), and the next quarter's cycle started from the
organisation's page; refused or invalid forms change nothing and say why."""

from __future__ import annotations

import html
import re
from datetime import datetime

from fastapi.testclient import TestClient

from pmf_engine.core.clock import LONDON
from pmf_engine.core.engine import Engine
from tests.conftest import CYCLE, ORG, services, settle_returns
from tests.test_web import client, csrf, sign_in

__all__ = ["client"]  # the fixture, imported to be used here

MEETINGS = f"/orgs/{ORG}/meetings"


def _ids(engine: Engine) -> dict[str, int]:
    return {
        f"{m.body} {m.starts_at.astimezone(LONDON):%Y-%m-%d %H:%M}": m.id
        for m in services(engine).calendar.list(ORG)
    }


def test_meetings_are_added_moved_and_cancelled_from_the_calendar_page(
    client: TestClient, engine: Engine
) -> None:
    """The performance officer adds a CMT meeting (the cycle's waiting deadline is reckoned
    from it), moves it (the deadline follows) and cancels it with a reason (the deadline waits
    again); each change is said on the page that follows."""
    settle_returns(engine)
    for trigger in ("close_data_request", "complete_service_review"):
        engine.fire(CYCLE, trigger, "perf")
    waiting = engine.status(CYCLE).deadline
    assert waiting is not None and waiting.due_at is None
    sign_in(client, "perf")
    token = csrf(client, MEETINGS)
    added = client.post(MEETINGS, data={"csrf_token": token, "body": "cmt", "when": "2024-07-23 10:00"})
    assert added.status_code == 303
    assert "Meeting added" in client.get(added.headers["location"]).text
    due = engine.status(CYCLE).deadline
    assert due is not None and due.due_at == datetime(2024, 7, 24, 17, tzinfo=LONDON)

    meeting = _ids(engine)["cmt 2024-07-23 10:00"]
    page = client.get(MEETINGS).text
    assert 'value="2024-07-23 10:00"' in page, "the move form offers the time as it takes it back"
    assert 'Move<span class="govuk-visually-hidden"> the CMT meeting of 23 Jul 2024 10:00' in page
    assert '<option value="cmt">CMT</option>' in page, "a committee by its name as people write it"
    moved = client.post(
        f"{MEETINGS}/{meeting}/move",
        data={"csrf_token": token, "when": "2024-07-30 10:00", "reason": "Clash"},
    )
    assert moved.status_code == 303
    assert "Meeting moved: 1 deadline reckoned again" in client.get(moved.headers["location"]).text
    due = engine.status(CYCLE).deadline
    assert due is not None and due.due_at == datetime(2024, 7, 31, 17, tzinfo=LONDON)

    cancelled = client.post(f"{MEETINGS}/{meeting}/cancel", data={"csrf_token": token, "reason": "No quorum"})
    assert cancelled.status_code == 303
    assert "Meeting cancelled: 1 deadline reckoned" in client.get(cancelled.headers["location"]).text
    assert _ids(engine) == {}
    waiting = engine.status(CYCLE).deadline
    assert waiting is not None and waiting.due_at is None


def test_bad_or_refused_meeting_forms_change_nothing_and_say_why(client: TestClient, engine: Engine) -> None:
    """A date that is not one is named with what was typed; a reasonless cancellation is
    refused; a service manager may look at the calendar but not change it (403)."""
    sign_in(client, "perf")
    token = csrf(client, MEETINGS)
    bad = client.post(MEETINGS, data={"csrf_token": token, "body": "cmt", "when": "next Tuesday"})
    said = html.unescape(bad.text)
    assert bad.status_code == 422 and "govuk-error-summary" in bad.text
    assert "Date and time: 'next Tuesday' is not a date and time like 2024-09-11 18:00" in said
    assert 'value="next Tuesday"' in bad.text, "what was typed is kept"
    assert _ids(engine) == {}
    client.post(MEETINGS, data={"csrf_token": token, "body": "cabinet", "when": "2024-08-14 18:00"})
    cabinet = _ids(engine)["cabinet 2024-08-14 18:00"]
    reasonless = client.post(f"{MEETINGS}/{cabinet}/cancel", data={"csrf_token": token, "reason": ""})
    assert reasonless.status_code == 422 and "cancelling a meeting needs a reason" in reasonless.text
    assert cabinet in _ids(engine).values()

    sign_in(client, "sm_housing")
    page = client.get(MEETINGS).text
    assert "Cabinet" in page and "Add the meeting" not in page and "/cancel" not in page
    token = csrf(client, MEETINGS)
    forged = client.post(f"{MEETINGS}/{cabinet}/cancel", data={"csrf_token": token, "reason": "Mine now"})
    assert forged.status_code == 403 and cabinet in _ids(engine).values()


def test_the_next_quarter_is_started_from_the_organisations_page(client: TestClient, engine: Engine) -> None:
    """Once the quarter after the newest cycle has begun, the performance officer's page offers
    to start it, and starting it opens its page with a return per service; a service manager is
    offered nothing, and a forged start is refused (403) and starts nothing."""
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}").text
    assert "Start Quarter 2 2024-25" in page
    sign_in(client, "sm_housing")
    assert "Start Quarter 2 2024-25" not in client.get(f"/orgs/{ORG}").text
    token = csrf(client, f"/orgs/{ORG}")
    forged = client.post(f"/orgs/{ORG}/cycles", data={"csrf_token": token, "period": "2024-25-Q2"})
    assert forged.status_code == 403 and "You cannot start Quarter 2 2024-25" in forged.text
    assert [c.key for c in engine.cycles(ORG)] == [CYCLE]

    sign_in(client, "perf")
    token = csrf(client, f"/orgs/{ORG}")
    started = client.post(f"/orgs/{ORG}/cycles", data={"csrf_token": token, "period": "2024-25-Q2"})
    assert started.status_code == 303 and started.headers["location"] == f"/instances/{ORG}/2024-25-Q2"
    assert len(engine.status(f"{ORG}/2024-25-Q2").children) == 3
    assert "Start 2024-25-Q3" not in client.get(f"/orgs/{ORG}").text, "Q3 has not begun"
    again = client.post(f"/orgs/{ORG}/cycles", data={"csrf_token": token, "period": "2024-25-Q2"})
    assert again.status_code == 409 and re.search("already", again.text)
