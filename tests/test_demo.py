"""The example council is built in the present: the quarter that ended most recently is open at
the stage it would have reached, with closed history before it and meetings ahead; a demo
database that is there is kept unless ``--reset`` asks for a new one."""

from __future__ import annotations

import calendar
import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.app.demo import DEMO_PASSWORD, ORG, DemoQuarters, prepare_demo, run_demo
from pmf_engine.app.wiring import load_catalog, make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock, as_utc
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.period import Period
from pmf_engine.core.store import AuditEntry, Deadline, Instance, Meeting, OutboxMessage, Store, sqlite_url
from pmf_engine.interfaces import main as entry
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.models import Actual, ExceptionReport, Project, ProjectUpdate
from pmf_engine.pmf.risk_models import Risk, RiskReview
from tests.pg import PostgresServer

ROOT = Path(__file__).parent.parent
POLICIES = load_policies(ROOT / "policies")


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(ROOT / "workflows", ROOT / "policies")


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize(
    ("now", "opened", "stage", "year"),
    [
        (datetime(2026, 12, 2, 10, 0, tzinfo=LONDON), "2026-27-Q2", "scrutiny", "2025-26"),
        (datetime(2031, 5, 17, 15, 30, tzinfo=LONDON), "2030-31-Q4", "scrutiny", "2030-31"),
        (datetime(2027, 1, 8, 12, 0, tzinfo=LONDON), "2026-27-Q3", "data_request", "2025-26"),
        (datetime(2026, 8, 20, 10, 0, tzinfo=LONDON), "2026-27-Q1", "scrutiny", "2025-26"),  # story is a Q4
    ],
)
def test_the_demo_is_built_in_the_present(
    shipped: Catalog, tmp_path: Path, now: datetime, opened: str, stage: str, year: str
) -> None:
    """Built at four dates: the open cycle is the quarter that ended most recently, at the stage
    its timetable reaches by then with no deadline missed, after a closed quarter and eight of
    figures before it; the calendar has meetings in the coming months; nothing is late, so a
    worker waking now sends no escalation. The year ends as ``_assert_the_year_end`` says."""
    db = tmp_path / "pmf-demo.db"
    assert run_demo(db, shipped, POLICIES, _quiet, now=now)
    assert str(DemoQuarters.at(now).open) == opened
    _assert_the_year_end(sqlite_url(db), shipped, now, year)
    _assert_reasons_fit_their_quarters(sqlite_url(db))
    store = Store(sqlite_url(db))
    clock = ManualClock(now)
    engine = Engine(store, shipped, clock)
    cycle = engine.status(f"{ORG}/{opened}")
    assert cycle.state == stage
    story = Period.parse(opened).previous()
    assert engine.status(f"{ORG}/{story}").state == "closed"
    with store.read() as s:
        late = s.scalar(
            select(func.count()).where(
                Deadline.closed_at.is_(None), Deadline.due_at.is_not(None), Deadline.due_at <= as_utc(now)
            )
        )
        assert late == 0, "no deadline has passed when the demo starts"
        open_deadlines = s.scalars(select(Deadline.due_at).where(Deadline.closed_at.is_(None))).all()
        assert open_deadlines and all(d is not None and d > as_utc(now) for d in open_deadlines)
        ahead = s.scalars(select(Meeting.body).where(Meeting.starts_at > as_utc(now))).all()
        assert {"cmt", "leadership", "cabinet", "scrutiny"} <= set(ahead)
        periods = set(s.scalars(select(Actual.period)))
        assert str(story) in periods and opened in periods
        assert str(story.previous().previous().previous()) in periods, "history before the closed quarter"
        assert audit.verify(s).ok
        escalated = s.scalar(select(func.count()).where(AuditEntry.event == "escalation.fired"))
    clock.set(now + timedelta(seconds=30))
    make_worker(store, shipped, clock, channel=LogChannel()).tick(LogChannel())
    with store.read() as s:
        assert s.scalar(select(func.count()).where(AuditEntry.event == "escalation.fired")) == escalated
        assert not s.scalar(select(func.count()).where(OutboxMessage.kind.in_(("escalation", "digest")),
                                                       OutboxMessage.created_at > as_utc(now)))  # fmt: skip
    assert Accounts(store, clock).authenticate("audrey", DEMO_PASSWORD) == "audrey"
    store.dispose()


def _assert_the_year_end(url: str, shipped: Catalog, now: datetime, year: str) -> None:
    """What a new user of the demo at ``now`` finds of its years: ``year``'s annual report frozen
    at its Q4 sign-off by the engine, intact (``pmf report annual --verify``) and published on
    the open-data pages (HTML and CSV) with its Q4 figures; the council's own comparator values
    equal to its outturn; each quarter's theme headlines its own; and a mid-year revision of a
    target, approved and audited, in force for the story quarter and listed in its frozen report."""
    store = Store(url)
    try:
        framework = Framework(Engine(store, shipped, ManualClock(now)), POLICIES)
        quarters = DemoQuarters.at(now)
        annual = report.annual_report(framework, ORG, year)
        assert annual.frozen is not None, f"the {year} annual report is frozen, not a draft"
        q4 = f"{year}-Q4"
        assert framework.engine.status(f"{ORG}/{q4}").state in ("scrutiny", "closed")
        with store.read() as s:
            frozen = [e for e in audit.trail(s, f"{ORG}/{q4}") if e.event == "annual_report.frozen"]
            assert len(frozen) == 1 and json.loads(frozen[0].data)["sha256"] == annual.frozen.sha256
            refused = [e for e in audit.trail(s, f"{ORG}/{q4}") if e.event == "refused"]
            assert not refused or Period.parse(q4) == quarters.story, "a quiet year end: nothing refused"
        verified = CliRunner().invoke(
            entry.main,
            ["--db", url, "--workflows", str(ROOT / "workflows"), "--policies", str(ROOT / "policies"),
             "--now", f"{now:%Y-%m-%d %H:%M}", "report", "annual", "--org", ORG, "--year", year, "--verify"],
        )  # fmt: skip
        assert verified.exit_code == 0, verified.output
        assert f"{year}: frozen annual report intact (sha256 {annual.frozen.sha256}" in verified.output

        client = TestClient(
            create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
        )
        page = client.get(f"/open/{ORG}/annual/{year}")
        assert page.status_code == 200 and "Average days to re-let council homes" in page.text
        published = client.get(f"/open/{ORG}/annual/{year}.csv")
        assert published.status_code == 200
        rows = {r["measure"]: r for r in csv.DictReader(io.StringIO(published.text))}
        public = {m.code: m for m in report.annual_report(framework, ORG, year, public=True).measures}
        assert set(rows) == set(public) and "HOU-01" in rows and "WAS-06" not in rows  # not for publication
        assert rows["HOU-01"]["q4"] and float(rows["HOU-01"]["q4"]) == public["HOU-01"].quarters[3].value
        _assert_the_year_is_whole(framework, page.text, rows, year)

        positions = framework.comparators.positions(ORG)
        assert positions
        for code, found in positions.items():
            for position in found:
                outturn = next(
                    m.outturn
                    for m in report.annual_report(framework, ORG, position.period.replace("/", "-")).measures
                    if m.code == code
                )
                assert position.own is not None and position.own.value == outturn, code

        said = {}
        for period in dict.fromkeys((Period.parse(q4), quarters.story, quarters.open)):
            texts = tuple(h.narrative for h in report.gather(framework, f"{ORG}/{period}").content.headlines)
            if any(texts):
                assert texts not in said.values(), f"{period}'s headlines repeat another quarter's"
                said[period] = texts
        assert quarters.story in said

        story = report.gather(framework, f"{ORG}/{quarters.story}")
        assert story.frozen is not None
        revised = {r.code: r for r in story.content.revised_targets}
        assert "REV-03" in revised, "the story's frozen report lists the revision in force"
        rev = revised["REV-03"]
        assert (rev.original, rev.revised, rev.revised_from) == (18, 21, str(quarters.story)) and rev.reason
        lifecycle = [
            t
            for t in framework.targets.list(ORG, code="REV-03")
            if t.kind == "revision" and t.state == "agreed"
        ]
        assert lifecycle and lifecycle[0].proposed_by == "rita" and lifecycle[0].decisions[-1].by == "lena"
        with store.read() as s:
            events = s.scalars(select(AuditEntry.data).where(AuditEntry.event == "target.revision_proposed"))
            proposed = [d for d in map(json.loads, events) if d["measure"] == "REV-03"]
        assert [(d["measure"], d["value"], d["effective_from"]) for d in proposed] == [
            ("REV-03", 21, str(quarters.story))
        ], "the revision is in the audit log with its reason"
        assert proposed[0]["reason"] == rev.reason
    finally:
        store.dispose()


def _assert_the_year_is_whole(
    framework: Framework, page: str, rows: dict[str, dict[str, str]], year: str
) -> None:
    """Found in a new-user trial: the public annual report of the demo's year showed Q1-Q3 as
    "not published yet" (imported history, withheld by ``history_published: false``) and its
    Q4 had no risk review or project updates. Every quarter of the year now came through a cycle
    that Cabinet approved, so the public page and CSV have all four quarters' figures, and the
    year's Q4 has its review of the register and its projects' updates."""
    published = POLICIES.framework.open_data.published_in["quarterly_cycle"]
    for quarter in (1, 2, 3, 4):
        state = framework.engine.status(f"{ORG}/{year}-Q{quarter}").state
        assert state in published, f"{year}-Q{quarter} came through a cycle Cabinet approved: {state}"
    assert "not published yet" not in page
    held = {m.code: m for m in report.annual_report(framework, ORG, year).measures}
    unpublished = {
        f"{code} Q{i}"
        for code, row in rows.items()
        for i, figure in enumerate(held[code].quarters, 1)
        if bool(row[f"q{i}"]) != (figure.value is not None)
    }
    assert not unpublished, "the CSV has every figure the council holds (a waived return's are none)"
    assert all(rows["HOU-01"][f"q{i}"] for i in (1, 2, 3, 4))
    assert not report.annual_report(framework, ORG, year, public=True).withheld
    q4 = f"{year}-Q4"
    with framework.engine.store.read() as s:
        reviewed = set(s.scalars(select(Risk.code).join(RiskReview).where(RiskReview.period == q4)))
        imported = set(s.scalars(select(Risk.code).where(Risk.code.like("R-%"))))
        updated = set(s.scalars(select(Project.code).join(ProjectUpdate).where(ProjectUpdate.period == q4)))
        projects = set(s.scalars(select(Project.code)))
    assert imported and reviewed >= imported, f"{q4}'s risk review covers the register"
    assert projects and updated == projects, f"{q4} has every project's update"


def _assert_reasons_fit_their_quarters(url: str) -> None:
    """Found in a new-user trial: the demo's Q2 dashboard gave exception reasons that named Q1's
    months (the story's words, written for a Q1). Every month an exception report of the demo
    names is one of its own quarter's, and some do name one."""
    names = {name for name in calendar.month_name if name}
    store = Store(url)
    try:
        with store.read() as s:
            found = s.execute(
                select(Instance.period, ExceptionReport.reason).join(
                    Instance, Instance.id == ExceptionReport.instance_id
                )
            ).all()
    finally:
        store.dispose()
    assert found
    named = 0
    for period, reason in found:
        start = Period.parse(period).start
        own = {calendar.month_name[(start.month - 1 + i) % 12 + 1] for i in range(3)}
        months = {word.strip(".,;:") for word in reason.split()} & names
        assert months <= own, f"{period}: {reason!r} names {sorted(months - own)}"
        named += bool(months)
    assert named, "the reasons say when"


@pytest.mark.postgres
def test_the_demo_is_built_in_postgresql(
    shipped: Catalog, tmp_path: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pmf --db postgresql://... demo`` builds the example council in an empty PostgreSQL
    database, as on SQLite (its year end too), and refuses to build it a second time there;
    given ``--db-file`` too, it builds in that file as before."""
    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)
    url = pg_server.url(pg_server.create_database())
    args = ["--db", url, "--workflows", str(ROOT / "workflows"), "--policies", str(ROOT / "policies"),
            "--now", f"{now:%Y-%m-%d %H:%M}", "demo"]  # fmt: skip
    built = CliRunner().invoke(entry.main, args)
    assert built.exit_code == 0, built.output
    assert "audit log verified" in built.output and (tmp_path / "pmf-demo-report.html").exists()
    assert not (tmp_path / "pmf-demo.db").exists(), "built in PostgreSQL, not in a SQLite file"
    store = Store(url)
    engine = Engine(store, shipped, ManualClock(now))
    assert engine.status(f"{ORG}/2026-27-Q2").state == "scrutiny"
    assert engine.status(f"{ORG}/2026-27-Q1").state == "closed"
    with store.read() as s:
        assert audit.verify(s).ok
    store.dispose()
    _assert_the_year_end(url, shipped, now, "2025-26")
    _assert_reasons_fit_their_quarters(url)
    again = CliRunner().invoke(entry.main, args)
    assert again.exit_code == 1 and "holds organisations already" in again.output
    reset = CliRunner().invoke(entry.main, [*args, "--reset"])
    assert reset.exit_code == 1 and "replaces a --db-file only" in reset.output
    in_file = CliRunner().invoke(entry.main, [*args, "--db-file", str(tmp_path / "file.db")])
    assert in_file.exit_code == 0 and (tmp_path / "file.db").exists()


@pytest.mark.slow
def test_serve_demo_keeps_the_database_unless_reset(
    shipped: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pmf serve --demo`` builds pmf-demo.db when it is not there, keeps it (and what was done
    in it) on the next start, and builds it afresh with ``--reset``, leaving nothing half-built."""
    monkeypatch.chdir(tmp_path)
    served: list[Any] = []
    monkeypatch.setattr(entry, "serve", lambda app, **kw: served.append((app, kw)))

    def serve(*args: str) -> str:
        result = CliRunner().invoke(
            entry.main,
            ["--workflows", str(ROOT / "workflows"), "--policies", str(ROOT / "policies"),
             "--now", "2031-05-17 15:30", "serve", "--demo", *args],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return result.output

    first = serve()
    assert "built afresh" in first and "open cycle WDC/2030-31-Q4" in first
    for username in ("priya", "hannah", "lena", "audrey", "scott", "adam"):
        assert username in first
    db = tmp_path / "pmf-demo.db"
    assert served[-1][0].settings.database_url == sqlite_url(Path("pmf-demo.db"))
    assert served[-1][1]["secure_cookies"] is False and "plain HTTP" in first, "its passwords are public"
    store = Store(sqlite_url(db))
    with store.write() as s:
        s.add(Meeting(organisation_id=1, body="cmt", starts_at=as_utc(datetime(2031, 6, 3, 10)), uid="kept"))
    with store.read() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
    store.dispose()

    again = serve()
    assert "kept as it was" in again
    store = Store(sqlite_url(db))
    with store.read() as s:
        assert s.scalar(select(func.count()).where(Meeting.uid == "kept")) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == entries
    store.dispose()

    reset = serve("--reset")
    assert "built afresh" in reset
    store = Store(sqlite_url(db))
    with store.read() as s:
        assert s.scalar(select(func.count()).where(Meeting.uid == "kept")) == 0
        assert audit.verify(s).ok
    store.dispose()
    assert not list(tmp_path.glob("*.building*")), "nothing half-built is left beside it"


def test_a_file_without_the_demo_council_is_refused_and_left_alone(shipped: Catalog, tmp_path: Path) -> None:
    """``serve --demo`` over a pmf-demo.db that holds no demo council changes nothing and says
    ``--reset`` would replace it; ``pmf demo`` refuses to overwrite a file without ``--reset``."""
    db = tmp_path / "pmf-demo.db"
    Store(sqlite_url(db)).dispose()
    before = db.read_bytes()
    with pytest.raises(InvalidInput, match="holds no demo council WDC: pass --reset"):
        prepare_demo(db, shipped, POLICIES, _quiet, now=datetime(2026, 12, 2, tzinfo=LONDON), reset=False)
    assert db.read_bytes() == before
    result = CliRunner().invoke(entry.main, ["demo", "--db-file", str(db)])
    assert result.exit_code == 1 and "pass --reset to build it afresh" in result.output
    assert db.read_bytes() == before
