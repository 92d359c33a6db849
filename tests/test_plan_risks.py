"""A service plan's operational risks are entries of the risk register, on SQLite and PostgreSQL:
raised on the plan, scored and escalated by ``risk.yaml`` as every risk is, reviewed in the
quarter's risk review, shown in the committee report's register, audited once per change on the
plan; and migration 0025 moves the old list of low/medium/high risks onto the register."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event, select

from pmf_engine.core.audit import verify
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, InvalidInput, NotFound, NotNow
from pmf_engine.core.store import AuditEntry, Store
from pmf_engine.migrations import alembic_config
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, services
from tests.test_risks import HEADER
from tests.test_service_plans import HOUSING, YEAR, plans

CODE = f"HOUSING-{YEAR}-R1"


@pytest.fixture(name="framework")
def framework_fixture(engine: Engine) -> Framework:
    """The test council's framework with the year's plans started and the Q1 cycle open."""
    plans(engine).start(ORG, YEAR, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return services(engine)


def _entries(engine: Engine, *events: str) -> list[tuple[str | None, str, dict[str, object]]]:
    with engine.store.read() as s:
        return [
            (e.instance, e.event, json.loads(e.data))
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.event.in_(events)).order_by(AuditEntry.chain_seq)
            )
        ]


def test_a_plans_risk_is_an_operational_entry_of_the_register_that_escalates(framework: Framework) -> None:
    """Raised on the plan, the risk is on the register: operational, the plan's service, its
    likelihood x impact scored and placed on the ladder as the register's own (16: the
    Leadership Team), linked to the plan; the plan shows it from there. One audit entry, on the plan."""
    ref = framework.plans.add_risk(
        HOUSING, "Contractor fails", owner="hos_housing", likelihood=4, impact=4, inherent_likelihood=5,
        inherent_impact=4, cause="One framework contractor", effect="Voids stand empty",
        controls="Weekly call", measures=["HOU-01"], projects=["P-01"], by="hos_housing",
    )  # fmt: skip
    assert ref == "R1"
    entry = {v.code: v for v in framework.risks.register(ORG)}[CODE]
    assert (entry.register, entry.service, entry.plan, entry.plan_ref) == (
        "operational",
        "HOUSING",
        HOUSING,
        "R1",
    )
    assert (entry.inherent_score, entry.score, entry.band) == (20, 16, "High")
    assert (entry.level, entry.escalated, entry.measures, entry.projects) == (
        "leadership",
        True,
        ["HOU-01"],
        ["P-01"],
    )
    assert framework.plans.get(HOUSING).risks == (entry,)
    assert [(i, e) for i, e, _ in _entries(framework.engine, "plan.risk_added", "risks.imported")] == [
        (HOUSING, "plan.risk_added")
    ]
    with pytest.raises(InvalidInput, match="controls do not make a risk worse"):
        framework.plans.add_risk(HOUSING, "Worse", owner="hos_housing", likelihood=4, impact=4,
                                 inherent_likelihood=2, by="hos_housing")  # fmt: skip
    assert len(framework.plans.get(HOUSING).risks) == 1  # nothing written


def test_the_quarterly_review_moves_a_plans_risk_and_withdrawal_takes_it_off_the_register(
    framework: Framework, tmp_path: Path
) -> None:
    """The risk comes up in the quarter's review for its service's reviewers; two rising reviews
    escalate it by the same criteria; once reviewed its residual pair changes only there; the
    committee report's register shows it; withdrawn, it leaves the register, keeps its plan
    entry, and takes no review; a risks file may not take over its code."""
    framework.plans.add_risk(HOUSING, "Contractor fails", owner="hos_housing", likelihood=3, impact=3,
                             inherent_likelihood=4, inherent_impact=4, by="hos_housing")  # fmt: skip
    assert CODE in framework.risks.reviewable(CYCLE, "sm_housing")
    assert CODE not in framework.risks.reviewable(CYCLE, "sm_waste")
    view = framework.risks.review(CYCLE, CODE, 3, 4, note="Second contractor declined", by="sm_housing")
    assert (view.score, view.previous_score, view.escalated) == (12, 9, False)
    assert framework.plans.get(HOUSING).risks[0].review_note == "Second contractor declined"
    with pytest.raises(InvalidInput, match="reviewed in 2024-25-Q1"):
        framework.plans.edit_risk(HOUSING, "R1", likelihood=2, by="hos_housing")
    assert framework.plans.edit_risk(HOUSING, "R1", likelihood=3, impact=4, by="hos_housing") == []
    content = report.gather(framework, CYCLE).content
    assert content.risks is not None and CODE in [r.code for r in content.risks.risks]
    bad = tmp_path / "risks.csv"
    bad.write_text(HEADER + f"{CODE},Taken over,operational,HOUSING,perf,,,3,3,3,3,,,,\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="risk R1 of a service plan"):
        framework.risks.import_risks(ORG, bad, by="perf")
    framework.plans.withdraw_risk(HOUSING, "R1", reason="Contract let", by="hos_housing")
    assert CODE not in {v.code for v in framework.risks.register(ORG)}
    assert CODE not in framework.risks.reviewable(CYCLE, "sm_housing")
    with pytest.raises(NotNow, match="withdrawn"):
        framework.risks.review(CYCLE, CODE, 1, 1, note="After", by="sm_housing")
    kept = framework.plans.get(HOUSING).risks[0]
    assert (kept.plan_ref, kept.withdrawn, kept.withdrawn_reason) == ("R1", True, "Contract let")
    assert [p.risks for p in framework.plans.list_for(ORG, YEAR) if p.key == HOUSING] == [0]
    assert [e for _, e, _ in _entries(framework.engine, "plan.risk_added", "plan.risk_withdrawn")] == [
        "plan.risk_added",
        "plan.risk_withdrawn",
    ]
    with framework.engine.store.read() as s:
        assert verify(s, chain=ORG).ok


def _plan_ids(conn: sa.Connection) -> tuple[int, int, int]:
    """The Housing plan's instance, its organisation and service."""
    row = conn.execute(
        sa.text("SELECT id, organisation_id, service_id FROM instances WHERE key = :key"), {"key": HOUSING}
    ).one()
    return row[0], row[1], row[2]


def test_migration_0025_moves_the_old_list_onto_the_register(store: Store, engine: Engine) -> None:
    """Plan risks in the old shape (a text, a low/medium/high rating, a mitigation, one withdrawn)
    become operational entries of the register, numbered as before, with the documented pairs;
    the audit entries they were written with stay as they were; downgrade gives the list back."""
    framework = services(engine)
    plans(engine).start(ORG, YEAR, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with store.read() as s:
        head_before = [e.hash for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0024")
    when = datetime(2024, 5, 1, 9, 0)
    long_text = "Contractor capacity " + "x" * 400
    with store.engine.begin() as conn:
        plan_id, _org, service_id = _plan_ids(conn)
        for risk, rating, mitigation, withdrawn in (
            ("Surveyors leave", "low", "", None),
            ("Depot lease ends", "high", "Lease talks", "hos_housing"),
            (long_text, "medium", "Second contractor", None),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO plan_risks (instance_id, risk, owner, rating, mitigation, created_by, "
                    "created_at, withdrawn_by, withdrawn_at, withdrawn_reason) VALUES "
                    "(:i, :r, 'hos_housing', :g, :m, 'hos_housing', :at, :w, :wat, :why)"
                ),
                {"i": plan_id, "r": risk, "g": rating, "m": mitigation, "at": when, "w": withdrawn,
                 "wat": when if withdrawn else None, "why": "Lease renewed" if withdrawn else ""},
            )  # fmt: skip
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    views = framework.plans.get(HOUSING).risks
    assert [(v.plan_ref, v.code, v.likelihood, v.impact, v.inherent_score) for v in views] == [
        ("R1", f"HOUSING-{YEAR}-R1", 2, 2, 4),
        ("R2", f"HOUSING-{YEAR}-R2", 3, 4, 12),
        ("R3", f"HOUSING-{YEAR}-R3", 3, 3, 9),
    ]
    assert {v.register for v in views} == {"operational"} and {v.service for v in views} == {"HOUSING"}
    assert (views[1].withdrawn, views[1].withdrawn_reason, views[1].controls) == (
        True,
        "Lease renewed",
        "Lease talks",
    )
    assert len(views[2].title) == 300 and views[2].cause == long_text
    assert {v.code for v in framework.risks.register(ORG)} == {f"HOUSING-{YEAR}-R1", f"HOUSING-{YEAR}-R3"}
    assert f"HOUSING-{YEAR}-R1" in framework.risks.reviewable(CYCLE, "sm_housing")  # in the quarter's review
    with store.read() as s:
        assert [e.hash for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == head_before
        assert verify(s, chain=ORG).ok
    framework.plans.edit_risk(HOUSING, "R1", controls="Retention payments", by="hos_housing")
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0024")
        back = conn.execute(
            sa.text("SELECT risk, rating, mitigation, withdrawn_by FROM plan_risks ORDER BY id")
        ).all()
        left = conn.execute(sa.text("SELECT count(*) FROM risks WHERE service_id = :s"), {"s": service_id})
        assert left.scalar() == 0
        command.upgrade(config, "head")
    assert [tuple(r) for r in back] == [
        ("Surveyors leave", "low", "Retention payments", None),
        ("Depot lease ends", "high", "Lease talks", "hos_housing"),
        (long_text, "medium", "Second contractor", None),
    ]
    assert [v.code for v in framework.plans.get(HOUSING).risks] == [f"HOUSING-{YEAR}-R{n}" for n in (1, 2, 3)]


def test_a_risks_links_are_found_in_one_query_however_many(framework: Framework) -> None:
    """Found in review: each measure and project a risk threatens was looked up by a query of
    its own. As many reads to raise a risk with six links as with one; an unknown code is still
    named (the first, in the order given)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # the links' rows are written one by one
            seen.append(statement)

    def raised(title: str, measures: list[str], projects: list[str]) -> int:
        seen.clear()
        event.listen(framework.engine.store.engine, "before_cursor_execute", record)
        try:
            framework.plans.add_risk(
                HOUSING, title, owner="hos_housing", likelihood=2, impact=2,
                measures=measures, projects=projects, by="hos_housing",
            )  # fmt: skip
        finally:
            event.remove(framework.engine.store.engine, "before_cursor_execute", record)
        return len(seen)

    one = raised("Contractor fails", ["HOU-01"], [])
    six = raised("Budget cut", ["HOU-01", "PLA-01", "WAS-01", "COR-01"], ["P-01", "P-02"])
    assert six == one, "the links are looked up together"
    links = {v.plan_ref: (v.measures, v.projects) for v in framework.plans.get(HOUSING).risks}
    assert links == {
        "R1": (["HOU-01"], []),
        "R2": (["COR-01", "HOU-01", "PLA-01", "WAS-01"], ["P-01", "P-02"]),  # the register lists by code
    }
    with pytest.raises(NotFound, match="NOPE-2"):
        raised("Unknown", ["HOU-01", "NOPE-2", "NOPE-1"], ["P-01"])
