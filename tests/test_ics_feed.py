"""Calendar subscriptions (``pmf/calendar_feed.py``, ``interfaces/web/pages/subscriptions.py``,
``pmf actor calendar-url``), on SQLite and PostgreSQL: a person's deadlines (those they act on
or are reminded of) as an .ics feed Outlook reads (PRODID, VERSION, METHOD:PUBLISH, UTC times,
stable UIDs, DTSTAMP) at a secret address stored hashed; a revoked, replaced, unknown or
deactivated person's address is not found; making and stopping one are audited."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, Deadline, Instance
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.calendar_feed import CalendarFeeds
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import CalendarFeed
from tests.conftest import CYCLE, ORG, POLICIES, SHIPPED_POLICIES, WORKFLOWS, settle_returns

PASSWORD = "correct horse battery"


@pytest.fixture
def app(engine: Engine, cycle: str) -> tuple[TestClient, CalendarFeeds]:
    """The test council's Q1 cycle open, its three returns requested (each with a deadline)."""
    del cycle
    framework = Framework(engine, SHIPPED_POLICIES)
    web = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    return TestClient(web, follow_redirects=False), CalendarFeeds(framework)


def _events(body: bytes) -> list[Any]:
    calendar = icalendar.Calendar.from_ical(body)
    return [c for c in calendar.walk("VEVENT")]


def _deadline_of(engine: Engine, key: str) -> tuple[str, Any]:
    """The UID the feed gives the open deadline of ``key``, and its due time."""
    with engine.store.read() as s:
        row = s.execute(
            select(Deadline.instance_id, Deadline.state, Deadline.opened_at, Deadline.due_at)
            .join(Instance, Instance.id == Deadline.instance_id)
            .where(Instance.key == key, Deadline.closed_at.is_(None))
        ).one()
    opened = row[2].astimezone(UTC)
    return f"deadline-I{row[0]}-{row[1]}-{opened:%Y%m%dT%H%M%SZ}@pmf-engine", row[3]


def _path(token: str) -> str:
    return f"/calendar/{token}.ics"


def test_the_feed_holds_the_deadlines_a_person_acts_on_in_outlooks_shape(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    http, feeds = app
    token = feeds.create("sm_housing", by="sm_housing")
    answer = http.get(_path(token))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    text = answer.text
    for line in ("BEGIN:VCALENDAR", "VERSION:2.0", "METHOD:PUBLISH", "PRODID:-//pmf-engine//"):
        assert line in text, line
    uid, due = _deadline_of(engine, f"{CYCLE}/HOUSING")
    events = _events(answer.content)
    assert [str(e["uid"]) for e in events] == [uid]
    event = events[0]
    assert event.decoded("dtstart") == due and event.decoded("dtstart").utcoffset() == timedelta(0)
    assert re.search(r"DTSTART:\d{8}T\d{6}Z", text) and re.search(r"DTSTAMP:\d{8}T\d{6}Z", text)
    assert "TZID" not in text, "every time is UTC: no VTIMEZONE is needed"
    assert f"{CYCLE}/HOUSING" in str(event["summary"]) and "PLANNING" not in text
    assert "\r\n" in text, "lines end CRLF"
    again = _events(http.get(_path(token)).content)
    assert [str(e["uid"]) for e in again] == [str(e["uid"]) for e in events], "UIDs are stable"


def test_the_feed_holds_deadlines_a_person_is_only_reminded_of(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    """CMT members are escalated to three working days after a return is late (escalation.yaml)."""
    http, feeds = app
    events = _events(http.get(_path(feeds.create("cmt", by="cmt"))).content)
    wanted = {_deadline_of(engine, f"{CYCLE}/{s}")[0] for s in ("HOUSING", "PLANNING", "WASTE")}
    assert wanted <= {str(e["uid"]) for e in events}
    assert any("Escalation to you" in str(e["description"]) for e in events)


def test_a_revoked_replaced_or_unknown_address_is_not_found(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    http, feeds = app
    first = feeds.create("sm_housing", by="sm_housing")
    second = feeds.create("sm_housing", by="sm_housing")
    assert http.get(_path(first)).status_code == 404, "a new address stops the one before"
    assert http.get(_path(second)).status_code == 200
    assert feeds.revoke("sm_housing", by="sm_housing") == 1
    assert http.get(_path(second)).status_code == 404
    assert http.get(_path("pmfcal_" + "x" * 43)).status_code == 404
    assert http.get(_path("nonsense")).status_code == 404
    third = feeds.create("sm_planning", by="sm_planning")
    engine.directory.deactivate("sm_planning", by="perf", handover="perf")
    assert http.get(_path(third)).status_code == 404, "a leaver's address finds nothing"


def test_only_the_digest_of_the_token_is_stored_and_changes_are_audited(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    _, feeds = app
    token = feeds.create("sm_housing", by="sm_housing")
    feeds.revoke("sm_housing", by="sm_housing")
    with engine.store.read() as s:
        stored = list(s.scalars(select(CalendarFeed.token_sha256)))
        entries = s.execute(
            select(AuditEntry.event, AuditEntry.actor, AuditEntry.organisation).where(
                AuditEntry.event.like("calendar_feed.%")
            )
        ).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert [tuple(e) for e in entries] == [
        ("calendar_feed.created", "sm_housing", ORG),
        ("calendar_feed.revoked", "sm_housing", ORG),
    ]


def test_a_person_makes_sees_and_stops_their_address_on_a_page(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    http, _ = app
    Accounts(engine.store, engine.clock).set_password("sm_housing", PASSWORD, by="test")
    assert http.get("/todo/calendar").status_code == 303, "the page needs a sign-in"
    form = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/sign-in").text)
    assert form is not None
    http.post("/sign-in", data={"username": "sm_housing", "password": PASSWORD, "csrf_token": form.group(1)})
    page = http.get("/todo/calendar")
    assert "You have no calendar address" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    made = http.post("/todo/calendar", data={"csrf_token": csrf.group(1), "action": "create"})
    address = re.search(r'value="http://testserver(/calendar/pmfcal_[^"]+\.ics)"', made.text)
    assert made.status_code == 200 and address is not None
    assert http.get(address.group(1)).status_code == 200
    seen = http.get("/todo/calendar").text
    assert "Your address was made on" in seen and "pmfcal_" not in seen, "shown once only"
    assert http.post("/todo/calendar", data={"action": "create"}).status_code in (403, 422), "CSRF"
    stopped = http.post("/todo/calendar", data={"csrf_token": csrf.group(1), "action": "revoke"})
    assert stopped.status_code == 303
    assert http.get(address.group(1)).status_code == 404


def test_the_cli_prints_an_address_and_revokes_it(
    app: tuple[TestClient, CalendarFeeds], store_url: str, clock: ManualClock
) -> None:
    http, _ = app
    del clock

    def pmf(*args: str) -> Any:
        return CliRunner().invoke(
            main,
            ["--db", store_url, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            catch_exceptions=False,
        )

    made = pmf(
        "actor", "calendar-url", "sm_housing", "--as", "sm_housing", "--base-url", "https://pmf.example"
    )
    assert made.exit_code == 0, made.output
    address = made.output.strip().splitlines()[-1]  # after the log line
    assert address.startswith("https://pmf.example/calendar/pmfcal_") and address.endswith(".ics")
    path = address.removeprefix("https://pmf.example")
    assert http.get(path).status_code == 200
    refused = pmf("actor", "calendar-url", "sm_housing", "--as", "sm_planning")
    assert refused.exit_code != 0
    revoked = pmf("actor", "calendar-url", "sm_housing", "--revoke", "--as", "sm_housing")
    assert revoked.exit_code == 0 and "1 calendar address" in revoked.output
    assert http.get(path).status_code == 404


def test_a_moved_meeting_moves_the_event_under_the_same_uid(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    """The CMT review is due the working day after CMT meets; CMT's meeting moves a week: the
    deadline is recomputed (a new row), the event keeps its UID and moves."""
    http, feeds = app
    calendar = Framework(engine, SHIPPED_POLICIES).calendar
    meeting = calendar.add(ORG, "cmt", datetime(2024, 7, 23, 10, tzinfo=LONDON), by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    path = _path(feeds.create("cmt", by="cmt"))
    before = {str(e["uid"]): e.decoded("dtstart") for e in _events(http.get(path).content)}
    uid, due = _deadline_of(engine, CYCLE)
    assert before[uid] == due
    assert calendar.move(ORG, str(meeting.id), datetime(2024, 7, 30, 10, tzinfo=LONDON), by="perf") == 1
    after = {str(e["uid"]): e.decoded("dtstart") for e in _events(http.get(path).content)}
    assert _deadline_of(engine, CYCLE)[0] == uid
    assert after[uid] - before[uid] == timedelta(days=7)


def test_a_scrutiny_action_is_in_its_assignees_feed(
    app: tuple[TestClient, CalendarFeeds], engine: Engine
) -> None:
    http, feeds = app
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    engine.fire(CYCLE, "endorse", "cmt")
    engine.fire(CYCLE, "sign_off", "lead")
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/7"})
    action = Framework(engine, SHIPPED_POLICIES).actions.add(
        CYCLE, "Report on re-let times", assignee="sm_waste", due="2024-10-15", by="scrutiny"
    )
    events = _events(http.get(_path(feeds.create("sm_waste", by="sm_waste"))).content)
    mine = [e for e in events if action.key in str(e["summary"])]
    assert len(mine) == 1, [str(e["summary"]) for e in events]
    assert "Report on re-let times" in str(mine[0]["summary"])
    assert london(mine[0].decoded("dtstart")) == datetime(2024, 10, 15, 17, tzinfo=LONDON), "due by 17:00"
    assert "Reminder to you" in str(mine[0]["description"])
    assert str(mine[0]["url"]) == f"http://testserver/instances/{action.key}"
