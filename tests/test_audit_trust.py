"""Audit chains an INSERT-capable role cannot forge, and honest time (issue #12, findings 1, 2, 14).

Each test plays the attacker the finding names: a role that may INSERT (the PostgreSQL
application role, or anyone with the SQLite file) writes self-consistent, correctly hashed
entries in a new chain or in the system chain; the database owner goes further and drops the
triggers. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotNow, PermissionDenied
from pmf_engine.core.store import AuditEntry, AuditHead, AuditKey, Instance, Store, sqlite_url
from pmf_engine.interfaces.main import main
from pmf_engine.pmf.models import ReportSnapshot
from pmf_engine.pmf.report import verify_frozen
from pmf_engine.pmf.reporting import frozen_at
from tests.conftest import CYCLE, ORG, POLICIES, WORKFLOWS, seed, services, settle_returns

KEY = AuditKey("testkey00001", b"k" * 32)


def _forge(store: Store, chain: str, organisation: str | None, **fields: Any) -> dict[str, Any]:
    """An entry that links correctly to the end of ``chain`` (genesis if new) with a correct
    SHA-256: what anyone who can INSERT can compute."""
    with store.read() as s:
        head = s.get(AuditHead, chain)
    values: dict[str, Any] = {
        "chain": chain,
        "chain_seq": (head.chain_seq if head else 0) + 1,
        "at": audit.format_instant(store.wall.now()),
        "as_of": None,
        "organisation": organisation,
        "instance": f"{CYCLE}/HOUSING",
        "event": "fired",
        "trigger": "submit",
        "from_state": "requested",
        "to_state": "submitted",
        "actor": "perf",
        "role": "performance_officer",
        "reason": None,
        "data": "{}",
        "alg": "sha256/2",
        "prev_hash": head.hash if head else audit.GENESIS,
        **fields,
    }
    values["hash"] = audit.entry_hash(values)
    return values


def _insert(store: Store, values: dict[str, Any], *, move_head: bool = True) -> None:
    with store.write() as s:
        s.add(AuditEntry(**values))
        if move_head:
            head = s.get(AuditHead, values["chain"])
            if head is None:
                s.add(AuditHead(chain=values["chain"], chain_seq=values["chain_seq"], hash=values["hash"]))
            else:
                head.chain_seq, head.hash = values["chain_seq"], values["hash"]


def _as_owner_drop_checks(store: Store) -> None:
    with store.write() as s:
        if store.dialect == "postgresql":
            s.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_chain_is_organisation"))
        else:
            s.execute(text("DROP TRIGGER audit_entries_chain_is_organisation"))
            s.execute(text("DROP TRIGGER audit_entries_organisation_exists"))


def _verify(store: Store, **kwargs: Any) -> audit.Verification:
    with store.read() as s:
        return audit.verify(s, **kwargs)


def test_the_database_refuses_an_entry_filed_in_another_chain(engine: Engine, cycle: str) -> None:
    """Finding 1: an INSERT of a correctly hashed entry in a new chain ``TDC-archive``."""
    for chain, organisation in [(f"{ORG}-archive", ORG), (audit.SYSTEM_CHAIN, ORG), ("XYZ", "XYZ")]:
        with pytest.raises(DBAPIError, match=r"audit_entries: .*(chain|organisation)"):
            _insert(engine.store, _forge(engine.store, chain, organisation))
    assert _verify(engine.store).ok


def test_verify_fails_on_an_unknown_chain_and_a_misfiled_entry(engine: Engine, cycle: str) -> None:
    """The database owner dropped the checks: verification still names both forgeries."""
    _as_owner_drop_checks(engine.store)
    _insert(engine.store, _forge(engine.store, f"{ORG}-archive", ORG))
    _insert(engine.store, _forge(engine.store, audit.SYSTEM_CHAIN, ORG))
    report = _verify(engine.store)
    kinds = {(b.chain, b.kind) for b in report.breaks}
    assert kinds == {(f"{ORG}-archive", "unknown chain"), (audit.SYSTEM_CHAIN, "misfiled")}


def test_a_checkpoint_covers_its_set_of_chains(engine: Engine, cycle: str) -> None:
    with engine.store.read() as s:
        mark = audit.checkpoint(s, engine.clock.now())
    assert _verify(engine.store, checkpoint=mark).ok
    engine.directory.add_organisation("NEW", "New Council")  # a chain the checkpoint never saw
    report = _verify(engine.store, checkpoint=mark)
    assert [(b.chain, b.kind) for b in report.breaks] == [("NEW", "not in the checkpoint")]


def test_trail_and_segregation_read_only_the_organisations_chain(engine: Engine, cycle: str) -> None:
    """A system-chain entry (which the database allows: it names no organisation) claiming that
    perf submitted Housing's return neither appears in the trail nor stops perf accepting it."""
    _insert(engine.store, _forge(engine.store, audit.SYSTEM_CHAIN, None))
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    with engine.store.read() as s:
        trail = audit.trail(s, f"{CYCLE}/HOUSING")
    assert [e.actor for e in trail if e.event == "fired"] == ["sm_housing"]
    assert engine.fire(f"{CYCLE}/HOUSING", "accept", "perf").to_state == "accepted"


def test_a_segregation_rule_still_holds_on_the_genuine_chain(engine: Engine, cycle: str) -> None:
    engine.fire(f"{CYCLE}/HOUSING", "submit", "both")
    with pytest.raises(PermissionDenied):
        engine.fire(f"{CYCLE}/HOUSING", "accept", "both")


def test_a_forged_snapshot_is_not_the_frozen_report(engine: Engine, cycle: str) -> None:
    """A forged ``report_snapshots`` row plus a ``report.frozen`` entry: not intact, no deadlock."""
    with engine.store.read() as s:
        cycle_id = s.scalar(select(Instance.id).where(Instance.key == CYCLE))
    digest = "ab" * 32
    with engine.store.write() as s:
        s.add(
            ReportSnapshot(
                instance_id=cycle_id, content="{}", sha256=digest, frozen_at=engine.clock.now(), frozen_by="x"
            )
        )
    forged = _forge(
        engine.store,
        ORG,
        ORG,
        instance=CYCLE,
        event="report.frozen",
        trigger=None,
        from_state=None,
        to_state=None,
        data=json.dumps({"sha256": digest, "trigger": "sign_off"}, separators=(",", ":")),
    )
    _insert(engine.store, forged)
    framework = services(engine)
    with pytest.raises(NotNow, match="has not been frozen"):
        verify_frozen(framework.performance, CYCLE)
    with engine.store.read() as s:
        assert frozen_at(s, cycle_id) is None, "figures may still change: the cycle is not deadlocked"


def test_with_a_key_an_insert_cannot_write_an_entry_that_verifies(
    store_url: str, catalog: Catalog, clock: ManualClock
) -> None:
    store = Store(store_url, audit_key=KEY)
    engine = Engine(store, catalog, clock)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    assert _verify(store).ok and _verify(store).keyed
    with store.read() as s:
        last = s.scalars(
            select(AuditEntry).where(AuditEntry.chain == ORG).order_by(AuditEntry.seq.desc())
        ).first()
        assert last is not None and last.alg == f"hmac-sha256/2:{KEY.id}"
    _insert(store, _forge(store, ORG, ORG))  # correctly linked and SHA-256 hashed, but unkeyed
    report = _verify(store)
    assert report.first_break is not None and report.first_break.kind == "downgraded"
    without = Store(store_url)
    assert any(b.kind == "unverifiable" for b in _verify(without).breaks), "keyed entries need the key"
    store.dispose()
    without.dispose()


def test_with_a_key_a_forged_new_chain_is_unkeyed(
    store_url: str, catalog: Catalog, clock: ManualClock
) -> None:
    store = Store(store_url, audit_key=KEY)
    engine = Engine(store, catalog, clock)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with store.write() as s:  # the app role may add an organisation row, and INSERT entries
        s.execute(
            text(
                "INSERT INTO organisations (code, name, holiday_subdivision, created_at) "
                "VALUES ('FAKE', 'F', 'ENG', '2024-07-01 08:00:00')"
            )
        )
    _insert(store, _forge(store, "FAKE", "FAKE", instance="FAKE/2024-25-Q1"))
    report = _verify(store)
    assert [(b.chain, b.kind) for b in report.breaks] == [("FAKE", "downgraded")], "after the log was keyed"
    store.dispose()


# -- time -------------------------------------------------------------------------------------


def test_a_live_database_refuses_acting_at_another_time(tmp_path: Path, catalog: Catalog) -> None:
    """Finding 2: ``--now "2020-01-01 09:00" fire ... accept`` recorded an acceptance dated
    before the submission it accepts. On a live database the engine's time must be the real one."""
    live = Store(sqlite_url(tmp_path / "live.db"))
    assert not live.rehearsal
    real = Engine(live, catalog)
    seed(real)
    real.start_cycle(ORG, "2024-25-Q1", by="perf")
    real.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    back = Engine(live, catalog, ManualClock(datetime(2020, 1, 1, 9, 0, tzinfo=LONDON)))
    with pytest.raises(NotNow, match="not created for rehearsal"):
        back.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    assert real.peek(f"{CYCLE}/HOUSING")[0] == "submitted", "nothing was written"
    assert _verify(live).ok
    live.dispose()


def test_real_time_never_goes_backwards_and_rehearsal_time_is_kept_apart(
    tmp_path: Path, catalog: Catalog
) -> None:
    wall = ManualClock(datetime(2026, 12, 1, 12, 0, tzinfo=LONDON))
    store = Store(sqlite_url(tmp_path / "rehearsal.db"), rehearsal=True, wall=wall)
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    engine = Engine(store, catalog, clock)
    seed(engine)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    wall.set(datetime(2026, 11, 30, 8, 0, tzinfo=LONDON))  # the host's clock is put back
    clock.advance(timedelta(days=1))
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    with store.read() as s:
        entries = list(
            s.scalars(select(AuditEntry).where(AuditEntry.chain == ORG).order_by(AuditEntry.chain_seq))
        )
    ats = [e.at for e in entries]
    assert ats == sorted(ats), "never earlier than the entry before it"
    assert entries[-1].at == "2026-12-01T12:00:00.000000Z"
    assert entries[-1].as_of == "2024-07-02T08:00:00.000000Z", "the rehearsal time, apart and marked"
    assert _verify(store).ok
    store.dispose()


def test_verify_finds_a_forged_entry_dated_before_the_one_before_it(engine: Engine, cycle: str) -> None:
    _insert(engine.store, _forge(engine.store, ORG, ORG, at="2020-01-01T09:00:00.000000Z"))
    report = _verify(engine.store)
    assert report.first_break is not None and report.first_break.kind == "time went backwards"


def test_cli_now_is_refused_on_a_live_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    base = ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES)]
    runner = CliRunner()
    assert "a live database" in runner.invoke(main, [*base, "db", "upgrade"]).output
    refused = runner.invoke(main, [*base, "--now", "2020-01-01 09:00", "audit", "verify"])
    assert refused.exit_code != 0 and "not created for rehearsal" in refused.output
    fresh = ["--db", f"sqlite:///{tmp_path / 'new.db'}"]
    assert runner.invoke(main, [*fresh, "--now", "2024-07-01 09:00", "audit", "verify"]).exit_code == 0
    assert "a rehearsal database" in runner.invoke(main, [*fresh, "db", "upgrade"]).output


def test_verify_names_an_entry_whose_data_is_a_blob(engine: Engine, cycle: str) -> None:
    """Finding 14: a ``data`` value stored as a BLOB crashed ``audit verify``."""
    values = _forge(engine.store, ORG, ORG)
    values["data"] = b"{}"
    _insert(engine.store, values)
    report = _verify(engine.store)
    assert report.first_break is not None
    assert report.first_break.kind == "edited" and report.first_break.seq is not None


# -- any single tampering is found ------------------------------------------------------------

TAMPERING = st.sampled_from(["insert", "edit", "delete", "reorder", "rechain"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=TAMPERING, where=st.integers(min_value=0, max_value=10_000))
def test_any_single_tampering_is_found(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog, kind: str, where: int
) -> None:
    folder = tmp_path_factory.mktemp("tamper")
    store = Store(sqlite_url(folder / "t.db"), rehearsal=True)
    engine = Engine(store, catalog, ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON)))
    seed(engine)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    with store.read() as s:
        entries = list(
            s.scalars(select(AuditEntry).where(AuditEntry.chain == ORG).order_by(AuditEntry.chain_seq))
        )
    target = entries[where % len(entries)]
    with store.write() as s:
        s.execute(text("DROP TRIGGER audit_entries_no_update"))
        s.execute(text("DROP TRIGGER audit_entries_no_delete"))
        s.execute(text("DROP TRIGGER audit_entries_chain_is_organisation"))
        if kind == "edit":
            s.execute(text(f"UPDATE audit_entries SET reason = 'changed' WHERE seq = {target.seq}"))
        elif kind == "delete":
            s.execute(text(f"DELETE FROM audit_entries WHERE seq = {target.seq}"))
        elif kind == "reorder":
            other = entries[(where + 1) % len(entries)]
            s.execute(text(f"UPDATE audit_entries SET chain_seq = -1 WHERE seq = {target.seq}"))
            s.execute(
                text(f"UPDATE audit_entries SET chain_seq = {target.chain_seq} WHERE seq = {other.seq}")
            )
            s.execute(
                text(f"UPDATE audit_entries SET chain_seq = {other.chain_seq} WHERE seq = {target.seq}")
            )
        elif kind == "rechain":
            s.execute(
                text(
                    f"UPDATE audit_entries SET chain = '_system', chain_seq = 999999 WHERE seq = {target.seq}"
                )
            )
    if kind == "insert":  # correctly linked and hashed at the end, around the engine
        _insert(store, _forge(store, ORG, ORG), move_head=False)
    assert not _verify(store).ok, f"{kind} of entry #{target.chain_seq} went unnoticed"
    store.dispose()


# -- found by an attacker's re-check ----------------------------------------------------------


def test_a_forged_system_entry_reaches_no_timeline_or_timeliness(engine: Engine, cycle: str) -> None:
    """A ``_system`` entry (the database allows it: it names no organisation) claiming the cycle
    moved: neither the instance page's timeline nor the report's timeliness shows it."""
    from pmf_engine.interfaces.web import queries
    from pmf_engine.pmf.report.content import gather

    _insert(
        engine.store,
        _forge(
            engine.store,
            audit.SYSTEM_CHAIN,
            None,
            instance=CYCLE,
            from_state="data_request",
            to_state="service_review",
            actor="mallory",
            reason="FORGED",
        ),
    )
    framework = services(engine)
    details = queries.instance_details(framework, CYCLE, "perf")
    assert all(e.actor != "mallory" for e in details.timeline)
    stages = [t.stage for t in gather(framework, CYCLE).timeliness]
    assert not any("Service review" in stage for stage in stages), stages


def test_with_a_key_a_plain_entry_in_a_chain_never_keyed_is_downgraded(
    store_url: str, catalog: Catalog, clock: ManualClock
) -> None:
    """Keyed work in one organisation; a plain, correctly linked entry appended to another
    organisation's chain, which no keyed entry has reached yet, fails verification."""
    plain = Store(store_url)
    Engine(plain, catalog, clock).directory.add_organisation("QUIET", "Quiet Council")  # unkeyed
    plain.dispose()
    store = Store(store_url, audit_key=KEY)
    Engine(store, catalog, clock).start_cycle(ORG, "2024-25-Q1", by="perf")  # keyed entries
    _insert(store, _forge(store, audit.SYSTEM_CHAIN, None, instance=None))
    report = _verify(store)
    assert any(b.kind == "downgraded" for b in report.breaks), report.breaks
    store.dispose()


def test_a_head_row_dated_ahead_cannot_forward_date_the_next_entry(engine: Engine, cycle: str) -> None:
    """The head row is not hashed and the application role may UPDATE it: a time in 2099 there
    does not become the next genuine entry's time."""
    with engine.store.write() as s:
        s.execute(text(f"UPDATE audit_heads SET at = '2099-01-01T00:00:00.000000Z' WHERE chain = '{ORG}'"))
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    with engine.store.read() as s:
        newest = s.scalars(
            select(AuditEntry).where(AuditEntry.chain == ORG).order_by(AuditEntry.seq.desc())
        ).first()
    assert newest is not None and newest.at < "2099"
