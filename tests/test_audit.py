"""The audit log on SQLite and PostgreSQL: append-only in the database, and every kind of
tampering found by verification (an attacker with DDL rights drops the triggers first)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from pmf_engine.core import audit
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import PermissionDenied
from pmf_engine.core.store import AuditEntry, AuditHead, Store
from tests.conftest import CYCLE, ORG


@pytest.fixture
def history(engine: Engine, cycle: str) -> Engine:
    """A cycle with a few transitions and a refusal in the log."""
    engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{cycle}/HOUSING", "return_for_correction", "perf", reason='=HYPERLINK("http://x")')
    engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")
    with pytest.raises(PermissionDenied):
        engine.fire(f"{cycle}/HOUSING", "accept", "sm_planning")
    engine.fire(f"{cycle}/HOUSING", "accept", "perf")
    return engine


def _sql(store: Store, *statements: str) -> None:
    with store.write() as s:
        for statement in statements:
            s.execute(text(statement))


def _disable_protection(store: Store) -> None:
    if store.dialect == "postgresql":
        _sql(store, "ALTER TABLE audit_entries DISABLE TRIGGER USER")
    else:
        _sql(store, "DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete")


def _verify(store: Store, checkpoint: dict[str, object] | None = None) -> audit.Verification:
    with store.read() as s:
        return audit.verify(s, checkpoint=checkpoint)


def _org_entries(store: Store) -> list[AuditEntry]:
    with store.read() as s:
        return list(
            s.scalars(select(AuditEntry).where(AuditEntry.chain == ORG).order_by(AuditEntry.chain_seq))
        )


@pytest.mark.parametrize("statement", ["UPDATE audit_entries SET reason = 'x'", "DELETE FROM audit_entries"])
def test_database_refuses_update_and_delete(history: Engine, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        _sql(history.store, statement)
    assert _verify(history.store).ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_postgres_refuses_truncate(history: Engine) -> None:
    """TRUNCATE is PostgreSQL's; SQLite has no such statement to refuse."""
    with pytest.raises(DBAPIError, match="append-only"):
        _sql(history.store, "TRUNCATE audit_entries")


def test_untouched_log_verifies(history: Engine) -> None:
    report = _verify(history.store)
    assert report.ok and report.entries == len(_org_entries(history.store)) + _system_count(history.store)
    org, system = len(_org_entries(history.store)), _system_count(history.store)
    said = f"{org + system} entries in 2 chains ({ORG} to its entry {org}, _system to its entry {system})"
    assert report.summary() == said, "each chain's count, so an audit page's count is found in it"


def _system_count(store: Store) -> int:
    with store.read() as s:
        return len(list(s.scalars(select(AuditEntry.seq).where(AuditEntry.chain == audit.SYSTEM_CHAIN))))


def test_edited_entry_is_named(history: Engine) -> None:
    target = _org_entries(history.store)[5]
    _disable_protection(history.store)
    _sql(history.store, f"UPDATE audit_entries SET actor = 'someone_else' WHERE seq = {target.seq}")
    report = _verify(history.store)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (target.seq, "edited")


def test_deleted_entry_is_found(history: Engine) -> None:
    entries = _org_entries(history.store)
    _disable_protection(history.store)
    _sql(history.store, f"DELETE FROM audit_entries WHERE seq = {entries[3].seq}")
    report = _verify(history.store)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.seq) == ("deleted", entries[4].seq)


def test_inserted_entry_is_found(history: Engine) -> None:
    """A forged entry that links correctly, but was written around the engine."""
    last = _org_entries(history.store)[-1]
    forged = {
        "chain": ORG,
        "chain_seq": last.chain_seq + 1,
        "at": last.at,
        "organisation": ORG,
        "instance": CYCLE,
        "event": "fired",
        "trigger": "close_data_request",
        "from_state": "data_request",
        "to_state": "service_review",
        "actor": "perf",
        "role": "performance_officer",
        "reason": None,
        "data": "{}",
        "as_of": last.as_of,
        "alg": last.alg,
        "prev_hash": last.hash,
    }
    forged["hash"] = audit.entry_hash(forged)
    with history.store.write() as s:
        s.add(AuditEntry(**forged))
    report = _verify(history.store)
    assert report.first_break is not None and report.first_break.kind == "inserted"


def test_spliced_entry_with_bad_link_is_found(history: Engine) -> None:
    entries = _org_entries(history.store)
    _disable_protection(history.store)
    victim = entries[4]
    replacement = {c: getattr(victim, c) for c in audit.HASHED_FIELDS}
    replacement.update(actor="mallory", prev_hash="f" * 64)
    replacement["hash"] = audit.entry_hash(replacement)
    _sql(history.store, f"DELETE FROM audit_entries WHERE seq = {victim.seq}")
    with history.store.write() as s:
        s.add(AuditEntry(seq=victim.seq, **replacement))
    report = _verify(history.store)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (victim.seq, "inserted")


def test_reordered_entries_are_found(history: Engine) -> None:
    entries = _org_entries(history.store)
    a, b = entries[2].seq, entries[3].seq
    _disable_protection(history.store)
    _sql(
        history.store,
        f"UPDATE audit_entries SET seq = -1 WHERE seq = {a}",
        f"UPDATE audit_entries SET seq = {a} WHERE seq = {b}",
        f"UPDATE audit_entries SET seq = {b} WHERE seq = -1",
    )
    report = _verify(history.store)
    assert report.first_break is not None and report.first_break.kind == "reordered"


def test_truncation_caught_by_checkpoint_even_when_heads_are_forged(history: Engine) -> None:
    with history.store.read() as s:
        mark = audit.checkpoint(s, history.clock.now())
    entries = _org_entries(history.store)
    keep = entries[-3]
    _disable_protection(history.store)
    _sql(
        history.store,
        f"DELETE FROM audit_entries WHERE chain = '{ORG}' AND chain_seq > {keep.chain_seq}",
        f"UPDATE audit_heads SET chain_seq = {keep.chain_seq}, hash = '{keep.hash}' WHERE chain = '{ORG}'",
    )
    assert _verify(history.store).ok, "without a checkpoint a clean truncation is invisible"
    report = _verify(history.store, checkpoint=mark)
    assert report.first_break is not None and report.first_break.kind == "truncated"
    assert report.first_break.chain == ORG


def test_truncation_without_forged_heads_is_caught_by_head_row(history: Engine) -> None:
    entries = _org_entries(history.store)
    _disable_protection(history.store)
    _sql(history.store, f"DELETE FROM audit_entries WHERE seq = {entries[-1].seq}")
    report = _verify(history.store)
    assert report.first_break is not None and report.first_break.kind == "truncated"


def test_checkpoint_still_matches_after_the_log_grows(history: Engine) -> None:
    with history.store.read() as s:
        mark = audit.checkpoint(s, history.clock.now())
    history.fire(f"{CYCLE}/PLANNING", "submit", "sm_planning")
    assert _verify(history.store, checkpoint=mark).ok


def test_checkpoint_catches_a_rewritten_chain(history: Engine) -> None:
    """Rewrite the newest entry with a recomputed hash and a forged head: only the checkpoint knows."""
    with history.store.read() as s:
        mark = audit.checkpoint(s, history.clock.now())
        head = s.get(AuditHead, ORG)
        assert head is not None
    last = _org_entries(history.store)[-1]
    values = {c: getattr(last, c) for c in audit.HASHED_FIELDS}
    values["actor"] = "mallory"
    values["hash"] = audit.entry_hash(values)
    _disable_protection(history.store)
    _sql(history.store, f"DELETE FROM audit_entries WHERE seq = {last.seq}")
    with history.store.write() as s:
        s.add(AuditEntry(seq=last.seq, **values))
        s.execute(text(f"UPDATE audit_heads SET hash = '{values['hash']}' WHERE chain = '{ORG}'"))
    assert _verify(history.store).ok
    report = _verify(history.store, checkpoint=mark)
    assert report.first_break is not None and report.first_break.kind == "rewritten"


def test_trail_lists_cycle_and_returns_in_order(history: Engine) -> None:
    with history.store.read() as s:
        entries = audit.trail(s, CYCLE)
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    events = [(e.event, e.instance, e.trigger) for e in entries]
    assert ("cycle.started", CYCLE, None) in events
    assert ("refused", f"{CYCLE}/HOUSING", "accept") in events
    assert sum(1 for e in entries if e.event == "child.spawned") == 3


def test_csv_export_escapes_formulas(history: Engine) -> None:
    out = io.StringIO()
    with history.store.read() as s:
        count = audit.export(audit.iter_entries(s), out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count > 0
    reasons = [r["reason"] for r in rows if r["reason"]]
    assert '\'=HYPERLINK("http://x")' in reasons
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_safe_prefixes_dangerous_cells(value: str) -> None:
    assert audit.csv_safe(value) == "'" + value


def test_jsonl_export_round_trips_and_verifies(history: Engine) -> None:
    out = io.StringIO()
    with history.store.read() as s:
        audit.export(audit.iter_entries(s, chain=ORG), out, "jsonl")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["chain_seq"] for r in records] == list(range(1, len(records) + 1))
    assert all(audit.entry_hash(r) == r["hash"] for r in records)


def test_unusual_text_verifies_on_every_backend(engine: Engine, cycle: str) -> None:
    """The database-side encoding (SQLite) and Python's must agree, or fall back to Python."""
    odd = 'Café – naïve "quotes" \\ back\\slash\ttab\nnewline \u2028 \x7f \U0001f600 €'
    engine.fire(f"{cycle}/HOUSING", "waive", "perf", reason=odd, data={"note": odd})
    report = _verify(engine.store)
    assert report.ok, report.first_break
    with engine.store.read() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert last.reason == odd
