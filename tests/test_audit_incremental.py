"""Verification from the last verified point (``audit.incremental``), on SQLite and PostgreSQL.

Each chain's last verified entry is stored; a later verification reads only what came after
it. An entry edited before that point is beyond its reach (a full verification still finds it);
one edited after it is found, and a broken chain moves no stored point.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from pmf_engine.core import audit
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, Store
from tests.conftest import ORG


def _fire_some(engine: Engine, cycle: str, trigger_pairs: list[tuple[str, str, str]]) -> None:
    for service, trigger, actor in trigger_pairs:
        engine.fire(f"{cycle}/{service}", trigger, actor, reason="figures" if "return" in trigger else None)


def _incremental(store: Store, engine: Engine) -> audit.Verification:
    with store.write() as s:
        return audit.incremental(s, engine.clock.now())


def _full(store: Store) -> audit.Verification:
    with store.read() as s:
        return audit.verify(s)


def _edit(store: Store, seq: int) -> None:
    with store.write() as s:
        if store.dialect == "postgresql":
            s.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            s.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
        s.execute(text("UPDATE audit_entries SET actor = 'someone_else' WHERE seq = :seq"), {"seq": seq})


def _org_seqs(store: Store) -> list[int]:
    with store.read() as s:
        return list(s.scalars(select(AuditEntry.seq).where(AuditEntry.chain == ORG).order_by(AuditEntry.seq)))


FIRST = [("HOUSING", "submit", "sm_housing"), ("HOUSING", "return_for_correction", "perf")]
LATER = [("HOUSING", "submit", "sm_housing"), ("WASTE", "submit", "sm_waste")]


def test_a_later_verification_checks_only_what_came_after(engine: Engine, cycle: str) -> None:
    store = engine.store
    _fire_some(engine, cycle, FIRST)
    first = _incremental(store, engine)
    assert first.ok and first.entries == _full(store).entries  # no point yet: everything
    _fire_some(engine, cycle, LATER)
    later = _incremental(store, engine)
    assert later.ok and later.entries == len(LATER)  # the two new entries, not the whole log
    assert _incremental(store, engine).entries == 0  # nothing new
    with store.read() as s:
        points = audit.verified_points(s)
    assert points[ORG].seq == _org_seqs(store)[-1]


def test_an_entry_edited_before_the_point_is_caught_by_a_full_verification(
    engine: Engine, cycle: str
) -> None:
    store = engine.store
    _fire_some(engine, cycle, FIRST)
    assert _incremental(store, engine).ok
    before = _org_seqs(store)[1]
    _edit(store, before)
    _fire_some(engine, cycle, LATER)
    assert _incremental(store, engine).ok  # beyond its reach: it starts after the point
    full = _full(store)
    assert full.first_break is not None
    assert (full.first_break.seq, full.first_break.kind) == (before, "edited")


def test_an_entry_edited_after_the_point_is_caught_and_moves_no_point(engine: Engine, cycle: str) -> None:
    store = engine.store
    _fire_some(engine, cycle, FIRST)
    assert _incremental(store, engine).ok
    with store.read() as s:
        point = audit.verified_points(s)[ORG]
    _fire_some(engine, cycle, LATER)
    after = _org_seqs(store)[-1]
    assert after > point.seq
    _edit(store, after)
    report = _incremental(store, engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (after, "edited")
    with store.read() as s:
        assert audit.verified_points(s)[ORG] == point  # a broken chain moves no point
    again = _incremental(store, engine)  # and is found again next time
    assert again.first_break is not None and again.first_break.seq == after


@pytest.mark.parametrize("where", ["first", "second"])
def test_an_entry_that_does_not_link_to_the_point_is_caught(engine: Engine, cycle: str, where: str) -> None:
    """The first entry after the point must link to the stored hash: a stored point whose hash
    is not the entry's (the log rewritten around it) breaks the chain there."""
    store = engine.store
    _fire_some(engine, cycle, FIRST)
    assert _incremental(store, engine).ok
    with store.write() as s:
        s.execute(
            text("UPDATE audit_verified SET hash = :h WHERE chain = :c"),
            {"h": "f" * 64, "c": ORG},
        )
    if where == "second":
        _fire_some(engine, cycle, LATER)
        report = _incremental(store, engine)
        assert report.first_break is not None and report.first_break.kind in ("inserted", "edited")
    else:  # no new entry: the stored point disagrees with the head record
        report = _incremental(store, engine)
        assert report.first_break is not None and report.first_break.kind == "rewritten"
