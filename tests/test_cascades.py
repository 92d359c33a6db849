"""Cascades: a parent's transition acts on its children in the same transaction, as the YAML
declares (``return_to_services`` reopens the accepted returns, all or those named), each move
audited as the child's own entry; the reopened return's figures can change again and the cycle
goes forward once they are accepted again. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from pmf_engine.core import audit
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import GuardFailed, PermissionDenied, PmfError
from pmf_engine.core.store import AuditEntry
from tests.conftest import CYCLE, ORG, SERVICES, services, settle_returns

MEASURES = Path(__file__).parent / "fixtures" / "measures" / "measures.csv"


def _at_cmt(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")


def _at_cmt_with_waste_waived(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    engine.fire(f"{CYCLE}/WASTE", "waive", "perf", reason="System migration")
    for service in ("HOUSING", "PLANNING"):
        engine.fire(f"{CYCLE}/{service}", "submit", f"sm_{service.lower()}")
        engine.fire(f"{CYCLE}/{service}", "accept", "perf")
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")


def _states(engine: Engine) -> dict[str, str]:
    return {c.service or c.key: c.state for c in engine.status(CYCLE).children}


def test_return_to_services_reopens_named_returns_and_the_quarter_goes_on(engine: Engine) -> None:
    performance = services(engine).performance
    performance.import_measures(ORG, MEASURES, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    performance.record_actual(CYCLE, "HOU-01", 20, by="sm_housing")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    with pytest.raises(PmfError, match="return is Accepted"):
        performance.record_actual(CYCLE, "HOU-01", 25, by="sm_housing")

    fired = engine.fire(
        CYCLE, "return_to_services", "cmt", reason="Voids unexplained", data={"services": ["HOUSING"]}
    )

    assert fired.cascaded == (f"{CYCLE}/HOUSING",)
    assert _states(engine) == {"HOUSING": "returned", "PLANNING": "accepted", "WASTE": "accepted"}
    performance.record_actual(CYCLE, "HOU-01", 25, by="sm_housing")  # the figure can change again
    with pytest.raises(GuardFailed, match=r"HOUSING \(Returned for correction\)") as waiting:
        engine.fire(CYCLE, "complete_service_review", "perf")
    assert waiting.value.guard == "children_settled"
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    engine.fire(f"{CYCLE}/HOUSING", "accept", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    engine.fire(CYCLE, "endorse", "holder")
    assert engine.status(CYCLE).state == "leadership_signoff"
    hou = next(m for m in performance.status(CYCLE) if m.code == "HOU-01")
    assert hou.actual == 25

    with engine.store.read() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.instance == f"{CYCLE}/HOUSING", AuditEntry.trigger == "reopen"
            )
        ).one()
        assert (entry.actor, entry.from_state, entry.to_state) == ("cmt", "accepted", "returned")
        assert json.loads(entry.data) == {"cascade": {"parent": CYCLE, "trigger": "return_to_services"}}
        assert entry.reason == "Voids unexplained"
        assert audit.verify(s).ok


def test_without_names_every_accepted_return_is_reopened(engine: Engine) -> None:
    _at_cmt(engine)
    fired = engine.fire(CYCLE, "return_to_services", "cmt", reason="All figures need restating")
    assert sorted(fired.cascaded) == [f"{CYCLE}/{s}" for s in SERVICES]
    assert set(_states(engine).values()) == {"returned"}


def test_a_waived_return_is_left_alone_unless_named(engine: Engine) -> None:
    _at_cmt_with_waste_waived(engine)
    fired = engine.fire(CYCLE, "return_to_services", "cmt", reason="Rework")
    assert sorted(fired.cascaded) == [f"{CYCLE}/HOUSING", f"{CYCLE}/PLANNING"]
    assert _states(engine)["WASTE"] == "waived"


@pytest.mark.parametrize(
    ("named", "message"),
    [(["HOUSING", "LIBRARIES"], "no service_return for LIBRARIES"), ("WASTE", r"WASTE \(Waived\)")],
)
def test_a_bad_name_refuses_the_whole_transition(engine: Engine, named: object, message: str) -> None:
    _at_cmt_with_waste_waived(engine)
    before = _states(engine)
    with pytest.raises(GuardFailed, match=message):
        engine.fire(CYCLE, "return_to_services", "cmt", reason="Rework", data={"services": named})
    assert engine.status(CYCLE).state == "cmt_review"
    assert _states(engine) == before, "nothing moved: the cascade is part of the one transaction"


def test_nobody_fires_a_by_parent_transition_directly(engine: Engine) -> None:
    _at_cmt(engine)
    with pytest.raises(PermissionDenied, match="only by the parent's cascade"):
        engine.fire(f"{CYCLE}/HOUSING", "reopen", "perf")
    assert "reopen" not in [s.trigger for s in engine.status(f"{CYCLE}/HOUSING").next_steps]
