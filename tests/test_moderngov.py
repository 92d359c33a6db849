"""The ModernGov committee-calendar sync, against a real HTTP server on 127.0.0.1 serving XML
in ModernGov's shapes (``tests/fixtures/moderngov``), on SQLite and PostgreSQL: meetings added
in London time, moved and cancelled ones followed by their deadlines, deleted and expired
committees ignored, conditional GETs, and all or nothing on every kind of bad answer."""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from structlog.testing import capture_logs

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError, InvalidInput
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.meetings import CommitteeCalendar
from pmf_engine.pmf.models import ModernGovMeeting, ModernGovResponse, ModernGovSync
from pmf_engine.pmf.moderngov.client import MAX_BYTES, ModernGovError
from pmf_engine.pmf.moderngov.daily import RETRY, DailySync
from pmf_engine.pmf.moderngov.policy import ModernGovPolicy, read_moderngov
from pmf_engine.pmf.moderngov.sync import ACTOR, ModernGov
from tests.conftest import CYCLE, ORG, ROOT, SHIPPED_POLICIES, settle_returns
from tests.moderngov_server import FIXTURES, Site, moderngov_site
from tests.test_web import PASSWORD, csrf, sign_in

BODIES = frozenset(SHIPPED_POLICIES.framework.calendar.bodies)


@pytest.fixture
def site() -> Iterator[Site]:
    with moderngov_site() as running:
        yield running


def _policy(tmp_path: Path, site: Site, **replace: str) -> ModernGovPolicy:
    text = (FIXTURES / "moderngov.yaml").read_text().replace("BASE", site.base_url)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "moderngov.yaml"
    path.write_text(text)
    return read_moderngov(path, BODIES)


@pytest.fixture
def moderngov(engine: Engine, site: Site, tmp_path: Path) -> ModernGov:
    return ModernGov(CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar), _policy(tmp_path, site))


def _calendar(engine: Engine) -> dict[str, str]:
    return {
        m.uid: f"{m.body} {m.starts_at.astimezone(LONDON):%Y-%m-%d %H:%M}"
        for m in CommitteeCalendar(engine).list(ORG)
    }


def _audit(engine: Engine, event: str | None = None) -> int:
    with engine.store.read() as s:
        query = select(func.count()).select_from(AuditEntry)
        if event:
            query = query.where(AuditEntry.event == event)
        return int(s.scalar(query) or 0)


def _at_cmt_review(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    for trigger in ("close_data_request", "complete_service_review"):
        engine.fire(CYCLE, trigger, "perf")


def _due(engine: Engine) -> datetime | None:
    deadline = engine.status(CYCLE).deadline
    assert deadline is not None
    return deadline.due_at


def test_a_sync_adds_the_mapped_committees_meetings_in_london_time(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """Cabinet (mapped by id), Scrutiny (by title, spaces as the site has them), CMT and
    Leadership are read; the deleted and the expired committee (though mapped) and the unmapped
    one are not even asked for; a meeting outside the window the server ignored is left out;
    times are London time (BST in September, GMT in November)."""
    done = moderngov.sync(ORG, by="perf")
    assert (done.added, done.committees, done.ignored, done.report_items) == (7, 4, 3, 1)
    host = "127.0.0.1"
    assert _calendar(engine) == {
        f"moderngov-4201@{host}": "cmt 2024-07-23 10:00",
        f"moderngov-4301@{host}": "leadership 2024-07-30 14:00",
        f"moderngov-4202@{host}": "cmt 2024-08-20 10:00",
        f"moderngov-4001@{host}": "cabinet 2024-09-11 18:00",
        f"moderngov-4101@{host}": "scrutiny 2024-09-24 19:00",
        f"moderngov-4002@{host}": "cabinet 2024-11-13 18:00",
        f"moderngov-4102@{host}": "scrutiny 2024-11-26 19:00",
    }
    cabinet = next(m for m in CommitteeCalendar(engine).list(ORG, "cabinet") if "4002" in m.uid)
    assert cabinet.starts_at == datetime(2024, 11, 13, 18, tzinfo=LONDON) and cabinet.title == "Cabinet"
    asked = site.of("GetMeetings")
    assert sorted(int(r.query["lCommitteeId"]) for r in asked) == [134, 140, 150, 151]
    assert {(r.query["sFromDate"], r.query["sToDate"]) for r in asked} == {("01/05/2024", "31/08/2025")}, (
        "both dates are sent, whole months (31 days back, 400 ahead) so the address, and its ETag, holds"
    )
    assert sorted(r.query["lMeetingId"] for r in site.of("GetMeeting")) == ["4201", "4202", "4301"], (
        "agendas are read for meetings within 60 days only"
    )
    assert _audit(engine, "meeting.added") == 7 and _audit(engine, "moderngov.synced") == 1


def test_a_second_sync_asks_with_etags_and_changes_nothing(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """The site's ETags are kept: the next sync's requests are conditional, every one answered
    304 from the kept body, and the calendar and the audit log stay as they were."""
    moderngov.sync(ORG, by="perf")
    entries, first = _audit(engine), len(site.requests)
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(ModernGovResponse)) == first
    again = moderngov.sync(ORG, by="perf")
    second = site.requests[first:]
    assert all(r.if_none_match and r.status == 304 for r in second) and len(second) == first
    assert (again.added, again.unchanged, again.not_modified, again.changed) == (0, 7, first, False)
    assert _audit(engine) == entries


def test_a_site_without_etags_is_asked_plainly(moderngov: ModernGov, site: Site) -> None:
    site.etags = False
    moderngov.sync(ORG, by="perf")
    moderngov.sync(ORG, by="perf")
    assert all(r.if_none_match is None and r.status == 200 for r in site.requests)


def test_a_meeting_moved_in_moderngov_moves_its_dependent_deadline(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """CMT of 23 July moves to 30 July: the cycle at CMT review (due the working day after
    CMT) is due on 31 July, and the move and the recomputed deadline are audited."""
    moderngov.sync(ORG, by="perf")
    _at_cmt_review(engine)
    assert _due(engine) == datetime(2024, 7, 24, 17, tzinfo=LONDON)
    site.scenario = "moved"
    done = moderngov.sync(ORG, by=ACTOR)
    assert (done.moved, done.added, done.deadlines_recomputed) == (1, 0, 1)
    assert _due(engine) == datetime(2024, 7, 31, 17, tzinfo=LONDON)
    with engine.store.read() as s:
        moved = s.scalars(select(AuditEntry).where(AuditEntry.event == "meeting.moved")).one()
        recomputed = s.scalars(select(AuditEntry).where(AuditEntry.event == "deadline.recomputed")).all()
    assert moved.actor == ACTOR and moved.reason == "moved in ModernGov (meeting 4201)"
    assert [r.instance for r in recomputed] == [CYCLE]


def test_a_meeting_cancelled_in_moderngov_sends_its_deadlines_to_the_next_meeting(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    moderngov.sync(ORG, by="perf")
    _at_cmt_review(engine)
    site.scenario = "cancelled"
    done = moderngov.sync(ORG, by=ACTOR)
    assert (done.cancelled, done.deadlines_recomputed) == (1, 1)
    assert _due(engine) == datetime(2024, 8, 21, 17, tzinfo=LONDON), "the working day after CMT of 20 August"
    assert "moderngov-4201@127.0.0.1" not in _calendar(engine)
    with engine.store.read() as s:
        cancelled = s.scalars(select(AuditEntry).where(AuditEntry.event == "meeting.cancelled")).one()
        assert s.scalar(select(ModernGovMeeting).where(ModernGovMeeting.meeting_ref == 4201)) is None
    assert cancelled.reason == "cancelled in ModernGov (meeting 4201)"
    assert moderngov.sync(ORG, by=ACTOR).cancelled == 0, "a cancelled meeting is not added again"


def test_a_provisional_meeting_is_kept_as_a_meeting_and_logged(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """ModernGov's Provisional (a date pencilled in) was refused, so a council that pencils in
    its CMTs could not sync at all. The calendar has no place to mark a meeting provisional, so
    it is kept as a meeting: deadlines are reckoned from it and its agenda is read; each sync
    logs it (``moderngov.meeting_provisional``) and says how many there were. Confirmed later,
    nothing changes; cancelled later, it is cancelled."""
    site.scenario = "provisional"
    with capture_logs() as logs:
        done = moderngov.sync(ORG, by="perf")
    assert (done.added, done.provisional, done.report_items) == (7, 1, 1)
    assert "1 provisional (kept as meetings)" in done.summary()
    (event,) = [e for e in logs if e["event"] == "moderngov.meeting_provisional"]
    assert (event["organisation"], event["meeting"], event["committee"], event["body"]) == (
        ORG,
        4201,
        150,
        "cmt",
    )
    assert event["starts_at"] == "2024-07-23T09:00:00+00:00"
    _at_cmt_review(engine)
    assert _due(engine) == datetime(2024, 7, 24, 17, tzinfo=LONDON), "the working day after that CMT"
    site.scenario = ""
    confirmed = moderngov.sync(ORG, by="perf")
    assert (confirmed.provisional, confirmed.unchanged, confirmed.changed) == (0, 7, False)
    site.scenario = "cancelled"
    assert moderngov.sync(ORG, by="perf").cancelled == 1


def test_a_meeting_the_calendar_already_has_is_linked_not_doubled(
    moderngov: ModernGov, engine: Engine
) -> None:
    calendar = CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar)
    calendar.add(ORG, "cmt", datetime(2024, 7, 23, 10, tzinfo=LONDON), uid="cmt-july@intranet", by="perf")
    done = moderngov.sync(ORG, by="perf")
    assert (done.linked, done.added) == (1, 6)
    assert _calendar(engine)["cmt-july@intranet"] == "cmt 2024-07-23 10:00"
    meeting = next(m for m in calendar.list(ORG) if m.uid == "cmt-july@intranet")
    links = moderngov.meeting_links(ORG, [meeting.id])
    assert links[meeting.id].url.endswith("/ieListDocuments.aspx?CId=150&MId=4201")
    assert _audit(engine, "moderngov.linked") == 1


def test_a_meeting_the_site_no_longer_lists_is_left_and_said(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """ModernGov says Cancelled of a meeting that will not take place; one that simply vanished
    from the list is counted and logged, not guessed at."""
    moderngov.sync(ORG, by="perf")
    before = _calendar(engine)
    site.scenario = "vanished"
    done = moderngov.sync(ORG, by="perf")
    assert (done.missing, done.cancelled, done.unchanged) == (1, 0, 6)
    assert "1 meeting(s) no longer listed by ModernGov, left as they are" in done.summary()
    assert _calendar(engine) == before


def test_url_given_is_checked_and_used(moderngov: ModernGov, site: Site) -> None:
    with pytest.raises(InvalidInput) as raised:
        moderngov.sync(ORG, by="perf", base_url="file:///etc/passwd")
    assert raised.value.field == "--url"
    with pytest.raises(InvalidInput, match="must start with https://") as raised:
        moderngov.sync(ORG, by="perf", base_url="http://democracy.example.gov.uk")
    assert raised.value.field == "--url"
    with pytest.raises(InvalidInput, match="user name or password") as raised:
        moderngov.sync(ORG, by="perf", base_url="https://clerk:hunter2@democracy.example.gov.uk")
    assert "hunter2" not in str(raised.value)
    assert moderngov.sync(ORG, by="perf", base_url=site.base_url + "/").added == 7


def test_meeting_times_as_sites_write_them(moderngov: ModernGov, engine: Engine, site: Site) -> None:
    """``2.00 pm``, ``6pm``, ``18:30``, ``12 noon``, none (10:00, as a date-only import) and
    ``12.15 a.m.``, in elements of a namespace some sites use: London time each."""
    site.scenario = "times"
    moderngov.sync(ORG, by="perf")
    leadership = sorted(t for t in _calendar(engine).values() if t.startswith("leadership"))
    assert leadership == [
        "leadership 2024-07-30 14:00",
        "leadership 2024-08-06 18:00",
        "leadership 2024-08-13 18:30",
        "leadership 2024-08-20 12:00",
        "leadership 2024-08-27 10:00",
        "leadership 2024-09-03 00:15",
    ]


def test_an_answer_too_large_is_refused(moderngov: ModernGov, engine: Engine, site: Site) -> None:
    site.bodies = {"GetCommittees": b"<committees>" + b" " * (MAX_BYTES + 1) + b"</committees>"}
    with pytest.raises(ModernGovError, match="over 5,000,000 bytes"):
        moderngov.sync(ORG, by="perf")
    assert _calendar(engine) == {}


def test_a_site_that_trickles_its_answer_times_out(engine: Engine, site: Site, tmp_path: Path) -> None:
    """httpx's time-out is per read: a body sent a byte at a time is cut off by the whole
    request's, and changes nothing."""
    moderngov = ModernGov(
        CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar),
        _policy(tmp_path, site, **{"timeout_seconds: 2": "timeout_seconds: 0.5"}),
    )
    site.trickle = {"GetCommittees": 0.02}
    started = time.monotonic()
    with pytest.raises(ModernGovError, match=r"no answer within 0.5 s"):
        moderngov.sync(ORG, by="perf")
    assert time.monotonic() - started < 2
    assert _calendar(engine) == {}


BAD_ANSWERS = [
    pytest.param("malformed", {}, {}, "GetMeetings", "", "not well-formed XML", id="malformed-xml"),
    pytest.param(
        "bad_field",
        {},
        {},
        "GetMeetings",
        "meeting 2: meetingdate",
        "'31/02/2024' is not a date",
        id="bad-date",
    ),
    pytest.param(
        "bad_time",
        {},
        {},
        "GetMeetings",
        "meeting 1: meetingtime",
        "'13.00 pm' is not a time of day",
        id="bad-time",
    ),
    pytest.param(
        "bomb", {}, {}, "GetCommittees", "", "declares a DTD or entities (refused)", id="entity-bomb"
    ),
    pytest.param("", {"GetMeeting": 500}, {}, "GetMeeting", "", "HTTP 500", id="http-500"),
    pytest.param("", {}, {"GetMeetings": 3.0}, "GetMeetings", "", "no answer within 0.5 s", id="time-out"),
]


@pytest.mark.parametrize(("scenario", "fail", "slow", "operation", "field", "message"), BAD_ANSWERS)
def test_a_bad_answer_stops_the_sync_and_changes_nothing(
    engine: Engine,
    site: Site,
    tmp_path: Path,
    scenario: str,
    fail: dict[str, int],
    slow: dict[str, float],
    operation: str,
    field: str,
    message: str,
) -> None:
    """Malformed XML, a field that is not what it should be, an entity bomb (refused by
    defusedxml, never expanded), an HTTP 500 and a time-out: one error naming the operation,
    its address and the field, and nothing written (no meeting, no audit entry, no ETag)."""
    moderngov = ModernGov(
        CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar),
        _policy(tmp_path, site, **{"timeout_seconds: 2": "timeout_seconds: 0.5"}),
    )
    site.scenario, site.fail, site.slow = scenario, fail, slow
    entries = _audit(engine)
    started = time.monotonic()  # real time: the time-out is real
    with pytest.raises(ModernGovError) as raised:
        moderngov.sync(ORG, by="perf")
    assert time.monotonic() - started < 2.5
    problem = raised.value.problems[0]
    assert problem.file.startswith(f"{operation} {site.base_url}/mgWebService.asmx/{operation}")
    assert problem.field == field and message in problem.message, problem
    assert _calendar(engine) == {} and _audit(engine) == entries
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(ModernGovResponse)) == 0


def test_a_redirect_is_not_followed(moderngov: ModernGov, engine: Engine, site: Site) -> None:
    """A site that answers 302 to somewhere else (an address inside the council's network) is
    an error naming the status; the other address is never asked, and nothing it holds can
    reach the error shown on the calendar page. Found by a security review."""
    with moderngov_site() as inside:
        site.redirect = {"GetCommittees": f"{inside.base_url}/mgWebService.asmx/GetCommittees"}
        entries = _audit(engine)
        with pytest.raises(ModernGovError) as raised:
            moderngov.sync(ORG, by="perf")
        assert "HTTP 302" in raised.value.problems[0].message
        assert inside.requests == [] and _calendar(engine) == {} and _audit(engine) == entries


def test_a_bad_answer_after_a_good_sync_leaves_the_calendar_as_it_was(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """The move CMT's answer brings is not made when a later answer (Leadership's agenda) fails."""
    moderngov.sync(ORG, by="perf")
    before = _calendar(engine)
    site.scenario, site.fail = "moved", {"GetMeeting": 500}
    with pytest.raises(ModernGovError):
        moderngov.sync(ORG, by="perf")
    assert _calendar(engine) == before


def test_policy_problems_name_the_file_line_and_field(tmp_path: Path, site: Site) -> None:
    with pytest.raises(DefinitionError) as raised:
        _policy(tmp_path, site, **{"151: leadership": "151: leadersihp", "timeout_seconds: 2": "timeout: 2"})
    found = {(p.line, p.field) for p in raised.value.problems}
    assert (13, "organisations.TDC.timeout") in found
    with pytest.raises(DefinitionError) as raised:
        _policy(tmp_path, site, **{"151: leadership": "151: leadersihp"})
    problem = raised.value.problems[0]
    assert problem.file.endswith("moderngov.yaml") and (problem.line, problem.field) == (
        9,
        "organisations.TDC.committees.151",
    )
    assert "unknown body 'leadersihp'" in problem.message
    with pytest.raises(DefinitionError) as raised:
        _policy(tmp_path, site, **{site.base_url: "ftp://x"})
    assert raised.value.problems[0].field == "organisations.TDC.base_url"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://democracy.example.gov.uk", "must start with https:// (plain http:// only for 127.0.0.1"),
        ("https://clerk:hunter2@democracy.example.gov.uk", "must not hold a user name or password"),
    ],
)
def test_a_site_is_asked_over_https_without_credentials(
    tmp_path: Path, site: Site, url: str, why: str
) -> None:
    """Plain HTTP is refused but to this machine (the tests' site is on 127.0.0.1), and so is an
    address with a user name or password in it, naming the file, line and field; the password
    is not repeated."""
    with pytest.raises(DefinitionError) as raised:
        _policy(tmp_path, site, **{site.base_url: url})
    (problem,) = raised.value.problems
    assert problem.file.endswith("moderngov.yaml")
    assert (problem.line, problem.field) == (4, "organisations.TDC.base_url")
    assert why in problem.message and "hunter2" not in str(raised.value)
    for local in ("http://localhost:8080", "http://[::1]:8080"):
        assert _policy(tmp_path, site, **{site.base_url: local}).organisations[ORG].base_url == local


def test_stages_link_to_their_meetings_and_report_item(
    moderngov: ModernGov, engine: Engine, site: Site
) -> None:
    """At CMT review the stage links to CMT's meeting and its performance report item; the
    Cabinet stages, not reached yet, to the Cabinet meeting they will go to, and Scrutiny to
    the next one after that Cabinet (not August's, before it)."""
    site.scenario = "early_scrutiny"
    moderngov.sync(ORG, by="perf")
    _at_cmt_review(engine)
    links = moderngov.stage_links(CYCLE)
    base = moderngov.policy.organisations[ORG].base_url
    cmt = links["cmt_review"]
    assert cmt.url == f"{base}/ieListDocuments.aspx?CId=150&MId=4201" and not cmt.expected
    assert cmt.item_url == f"{base}/mgAi.aspx?ID=9101" and "Performance Report" in cmt.item_title
    assert links["cabinet_approval"].url.endswith("CId=134&MId=4001") and links["cabinet_approval"].expected
    assert links["scrutiny"].url.endswith("CId=140&MId=4101"), "the next Scrutiny after that Cabinet"
    assert "data_request" not in links


def test_the_daily_job_syncs_each_organisation_once_a_day_and_retries_a_failure(
    engine: Engine, site: Site, tmp_path: Path, clock: ManualClock
) -> None:
    """Two workers' jobs at once sync once; later the same day nothing is asked; a failure is
    recorded and tried again an hour later; the next day's sync is from 06:00 London."""
    policy = _policy(tmp_path, site)
    calendar = CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar)
    first, second = DailySync(ModernGov(calendar, policy)), DailySync(ModernGov(calendar, policy))
    now = clock.now()
    assert first(now) == 1 and second(now) == 0
    asked = len(site.requests)
    assert first(now + timedelta(hours=3)) == 0 and len(site.requests) == asked
    tomorrow = datetime(2024, 7, 2, 6, 0, tzinfo=LONDON)
    site.fail = {"GetCommittees": 500}
    assert second(tomorrow - timedelta(minutes=1)) == 0 and len(site.requests) == asked
    assert second(tomorrow) == 0 and len(site.requests) == asked + 1
    with engine.store.read() as s:
        row = s.scalars(select(ModernGovSync)).one()
    assert row.last_error is not None and "HTTP 500" in row.last_error
    assert row.next_at == tomorrow + RETRY
    site.fail, site.scenario = {}, "moved"
    assert first(tomorrow + RETRY) == 1
    with engine.store.read() as s:
        row = s.scalars(select(ModernGovSync)).one()
    assert row.last_error is None and row.next_at == datetime(2024, 7, 3, 6, 0, tzinfo=LONDON)


def test_without_a_policy_file_there_is_no_site(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(Path(__file__).parent.parent / "policies", folder)
    assert load_policies(folder).moderngov.organisations == {}
    (folder / "moderngov.yaml").write_text(
        "organisations:\n  TDC:\n    base_url: https://democracy.example.gov.uk\n"
        "    committees: {134: cabinet}\n"
    )
    assert load_policies(folder).moderngov.organisations["TDC"].body_of(134, "") == "cabinet"


def test_pmf_calendar_sync_through_the_cli(site: Site, tmp_path: Path) -> None:
    """``pmf calendar sync --org ORG`` with the site of ``moderngov.yaml``; ``--url`` another
    address (here nothing listens: a clear error, nothing changed); ``pmf tick`` runs the
    worker's daily sync; an organisation with no site is named."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    _policy(tmp_path, site)
    shutil.move(tmp_path / "moderngov.yaml", policies / "moderngov.yaml")
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def pmf(*args: str) -> Result:
        result = CliRunner().invoke(
            main, ["--db", db, "--workflows", str(ROOT / "workflows"), "--policies", str(policies), *args]
        )
        assert "Traceback" not in result.output
        return result

    checked = pmf("workflow", "validate")
    assert checked.exit_code == 0 and f"{policies / 'moderngov.yaml'}: valid" in checked.output
    bad = tmp_path / "bad"
    shutil.copytree(policies, bad)
    (bad / "moderngov.yaml").write_text(
        (policies / "moderngov.yaml").read_text().replace("151: leadership", "151: ledership")
    )
    refused = pmf("workflow", "validate", str(ROOT / "workflows"), str(bad))
    assert (
        refused.exit_code == 1
        and "moderngov.yaml:9: [organisations.TDC.committees.151] unknown body 'ledership'" in refused.output
    )
    assert pmf("db", "upgrade", "--rehearsal").exit_code == 0
    assert pmf("org", "add", ORG, "Test District Council", "--bootstrap").exit_code == 0
    assert (
        pmf("actor", "add", "admin", "--name", "A", "--role", f"administrator:{ORG}", "--bootstrap").exit_code
        == 0
    )
    now = ("--now", "2024-07-01 09:00")
    refused = pmf(*now, "calendar", "sync", "--org", ORG, "--url", "http://127.0.0.1:9", "--as", "admin")
    assert refused.exit_code != 0 and "cannot reach the site" in refused.output
    assert "GetCommittees http://127.0.0.1:9/mgWebService.asmx/GetCommittees" in refused.output
    assert pmf("calendar", "list", "--org", ORG).stdout == ""
    for url, why in (
        ("http://democracy.example.gov.uk", "must start with https://"),
        ("https://clerk:hunter2@democracy.example.gov.uk", "must not hold a user name or password"),
    ):
        refused = pmf(*now, "calendar", "sync", "--org", ORG, "--url", url, "--as", "admin")
        assert refused.exit_code == 1 and "--url" in refused.output and why in refused.output
        assert "hunter2" not in refused.output
    ticked = pmf("tick", "--at", "2024-07-01 09:00")
    assert ticked.exit_code == 0, ticked.output
    assert pmf("calendar", "list", "--org", ORG).stdout.count("Cabinet") == 2, "the worker's daily job synced"
    site.scenario = "moved"
    synced = pmf(*now, "calendar", "sync", "--org", ORG, "--as", "admin")
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.startswith("0 added, 0 linked, 1 moved, 0 cancelled, 6 unchanged")
    assert "0 moved" in pmf(*now, "calendar", "sync", "--org", ORG).stdout, "as system:moderngov"
    assert pmf("org", "add", "OTH", "Other Council", "--as", "admin").exit_code == 0
    missing = pmf(*now, "calendar", "sync", "--org", "OTH")
    assert missing.exit_code != 0 and "no ModernGov site for organisation 'OTH'" in missing.output


def _web(engine: Engine, policy: ModernGovPolicy) -> TestClient:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing"):
        accounts.set_password(user, PASSWORD, by="test")
    framework = Framework(engine, replace(SHIPPED_POLICIES, moderngov=policy))
    app = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    return TestClient(app, follow_redirects=False)


def test_the_calendar_page_syncs_with_moderngov(engine: Engine, site: Site, tmp_path: Path) -> None:
    """The performance officer's "Sync with ModernGov" (a POST with the CSRF token) brings the
    meetings in, each with a link to its papers; the site down is said on the page and changes
    nothing; a service manager may not sync (403)."""
    client = _web(engine, _policy(tmp_path, site))
    page = f"/orgs/{ORG}/meetings"
    sign_in(client, "perf")
    token = csrf(client, page)
    assert "Sync with ModernGov" in client.get(page).text
    site.fail = {"GetCommittees": 500}
    failed = client.post(f"{page}/sync", data={"csrf_token": token})
    assert failed.status_code >= 400 and "HTTP 500" in html.unescape(failed.text)
    assert 'href="#moderngov-sync"' in failed.text and _calendar(engine) == {}
    site.fail = {}
    synced = client.post(f"{page}/sync", data={"csrf_token": token})
    assert synced.status_code == 303
    shown = client.get(synced.headers["location"]).text
    assert "Synchronised with ModernGov: 7 meetings added, moved or cancelled" in shown
    assert f'href="{site.base_url}/ieListDocuments.aspx?CId=134&amp;MId=4001"' in shown
    assert _audit(engine, "meeting.added") == 7
    trail = html.unescape(client.get(f"/orgs/{ORG}/audit").text)
    assert "Synchronised with ModernGov: 7 added, 0 moved, 0 cancelled, 0 linked" in trail
    client.post("/sign-out", data={"csrf_token": token})
    sign_in(client, "sm_housing")
    token = csrf(client, page)
    assert "Sync with ModernGov" not in client.get(page).text
    assert client.post(f"{page}/sync", data={"csrf_token": token}).status_code == 403


def test_the_cycle_page_and_the_report_link_each_stage_to_its_meeting(
    engine: Engine, site: Site, tmp_path: Path
) -> None:
    """At CMT review: the cycle page's stages and the committee report link CMT's meeting and
    its performance report item, and the Cabinet meeting the cycle will go to."""
    client = _web(engine, _policy(tmp_path, site))
    framework = Framework(engine, replace(SHIPPED_POLICIES, moderngov=_policy(tmp_path, site)))
    framework.moderngov.sync(ORG, by="perf")
    _at_cmt_review(engine)
    sign_in(client, "perf")
    cmt = f"{site.base_url}/ieListDocuments.aspx?CId=150&amp;MId=4201"
    item = f"{site.base_url}/mgAi.aspx?ID=9101"
    cabinet = f"{site.base_url}/ieListDocuments.aspx?CId=134&amp;MId=4001"
    page = client.get(f"/instances/{CYCLE}").text
    stages = page[page.index('id="stage-meetings"') :]
    stages = stages[: stages.index("</table>")]
    assert f'href="{cmt}"' in stages and f'href="{item}"' in stages and f'href="{cabinet}"' in stages
    assert "Portfolio Holder and CMT review" in stages and "(expected)" in stages
    report = client.get(f"/instances/{CYCLE}/report").text
    meetings = report[report.index('id="meetings"') :]
    assert f'href="{cmt}"' in meetings and f'href="{item}"' in meetings and f'href="{cabinet}"' in meetings
    assert "agenda item: Quarterly Performance Report: Quarter 1 2024/25" in meetings


def test_a_provisional_meeting_is_marked_provisional_until_confirmed(
    engine: Engine, site: Site, tmp_path: Path
) -> None:
    """The calendar kept a ModernGov Provisional meeting as a plain meeting with nothing to say it
    was only pencilled in: its link says so, and the calendar page tags it, until a sync finds it
    confirmed."""
    policy = _policy(tmp_path, site)
    moderngov = ModernGov(CommitteeCalendar(engine, SHIPPED_POLICIES.framework.calendar), policy)
    site.scenario = "provisional"
    moderngov.sync(ORG, by="perf")
    listed = CommitteeCalendar(engine).list(ORG)
    links = moderngov.meeting_links(ORG, [m.id for m in listed])
    provisional = {links[m.id].starts_at for m in listed if links[m.id].provisional}
    assert provisional == {datetime(2024, 7, 23, 9, tzinfo=UTC)}
    client = _web(engine, policy)
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}/meetings").text
    assert page.count('<strong class="govuk-tag govuk-tag--yellow">Provisional</strong>') == 1
    site.scenario = ""
    moderngov.sync(ORG, by="perf")
    links = moderngov.meeting_links(ORG, [m.id for m in listed])
    assert not any(link.provisional for link in links.values())
    assert "Provisional</strong>" not in client.get(f"/orgs/{ORG}/meetings").text
