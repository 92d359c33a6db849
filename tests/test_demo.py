"""The example council is built in the present: the quarter that ended most recently is open at
the stage it would have reached, with closed history before it and meetings ahead; a demo
database that is there is kept unless ``--reset`` asks for a new one."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
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
from pmf_engine.core.store import AuditEntry, Deadline, Meeting, OutboxMessage, Store, sqlite_url
from pmf_engine.interfaces import main as entry
from pmf_engine.pmf.framework import load_policies
from pmf_engine.pmf.models import Actual

ROOT = Path(__file__).parent.parent
POLICIES = load_policies(ROOT / "policies")


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(ROOT / "workflows", ROOT / "policies")


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize(
    ("now", "opened", "stage"),
    [
        (datetime(2026, 12, 2, 10, 0, tzinfo=LONDON), "2026-27-Q2", "scrutiny"),
        (datetime(2031, 5, 17, 15, 30, tzinfo=LONDON), "2030-31-Q4", "scrutiny"),
        (datetime(2027, 1, 8, 12, 0, tzinfo=LONDON), "2026-27-Q3", "data_request"),
    ],
)
def test_the_demo_is_built_in_the_present(
    shipped: Catalog, tmp_path: Path, now: datetime, opened: str, stage: str
) -> None:
    """Built at three dates: the open cycle is the quarter that ended most recently, at the stage
    its timetable reaches by then with no deadline missed, after a closed quarter and eight of
    imported figures; the calendar has meetings in the coming months; nothing is late, so a
    worker waking now sends no escalation."""
    db = tmp_path / "pmf-demo.db"
    assert run_demo(db, shipped, POLICIES, _quiet, now=now)
    assert str(DemoQuarters.at(now).open) == opened
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


@pytest.mark.slow
def test_serve_demo_keeps_the_database_unless_reset(
    shipped: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pmf serve --demo`` builds pmf-demo.db when it is not there, keeps it (and what was done
    in it) on the next start, and builds it afresh with ``--reset``, leaving nothing half-built."""
    monkeypatch.chdir(tmp_path)
    served: list[Any] = []
    monkeypatch.setattr(entry, "serve", lambda app, **_kw: served.append(app))

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
    assert served[-1].settings.database_url == sqlite_url(Path("pmf-demo.db"))
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
