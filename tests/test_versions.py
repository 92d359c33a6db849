"""Workflow versions: a changed YAML is a new version, running cycles keep theirs, and moving
one is an explicit, checked and audited migration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import MigrationRefused, NotFound, TransitionNotAllowed
from pmf_engine.core.store import AuditEntry, Store
from tests.conftest import CYCLE, ORG, POLICIES, WORKFLOWS, lenient_catalog, settle_returns


def edited_catalog(tmp_path: Path, name: str, old: str, new: str) -> Catalog:
    """The shipped catalog with one text replacement in one workflow file (and in the risk
    policy, which names the states risk reviews are open in)."""
    folder = tmp_path / f"wf-{abs(hash((name, old, new)))}"
    shutil.copytree(WORKFLOWS, folder)
    path = folder / f"{name}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    policies = tmp_path / f"policies-{abs(hash((name, old, new)))}"
    shutil.copytree(POLICIES, policies)
    risk = policies / "risk.yaml"  # it names the cycle's states its reviews are open in
    risk.write_text(risk.read_text().replace(f" {old}", f" {new}"))
    return lenient_catalog(folder, policies)


def test_running_cycle_keeps_its_version(
    engine: Engine, cycle: str, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    old_ref = engine.status(cycle).workflow
    # v2 drops the way back from CMT to services.
    v2 = edited_catalog(
        tmp_path,
        "quarterly_cycle",
        "  - trigger: return_to_services\n    label: Return to services for rework\n    source: cmt_review\n"
        "    dest: service_review\n    roles: [cmt_member, portfolio_holder]\n    reason_required: true\n",
        "",
    )
    engine2 = Engine(store, v2, clock)
    engine2.start_cycle(ORG, "2024-25-Q2", by="perf")
    assert engine2.status(f"{ORG}/2024-25-Q2").workflow != old_ref
    assert engine2.status(cycle).workflow == old_ref
    settle_returns(engine2)
    for trigger in ("close_data_request", "complete_service_review"):
        engine2.fire(cycle, trigger, "perf")
    assert (
        engine2.fire(cycle, "return_to_services", "cmt", reason="old version allows it").to_state
        == "service_review"
    )


def test_migrate_moves_cycle_and_is_audited(
    engine: Engine, cycle: str, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    v2 = edited_catalog(tmp_path, "quarterly_cycle", "label: Closed", "label: Closed and filed")
    engine2 = Engine(store, v2, clock)
    target = v2.workflow("quarterly_cycle").content_hash[:12]
    version = engine2.migrate(cycle, target, by="perf", reason="new closing label")
    assert engine2.status(cycle).workflow == version.ref
    assert engine2.status(cycle).version == 2
    with store.read() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.event == "cycle.migrated")).one()
    assert entry.instance == cycle and entry.reason == "new closing label" and version.ref in entry.data
    with pytest.raises(MigrationRefused, match="already runs"):
        engine2.migrate(cycle, target, by="perf")


def test_migrate_refused_when_state_missing(
    engine: Engine, cycle: str, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    settle_returns(engine)
    engine.fire(cycle, "close_data_request", "perf")
    renamed = edited_catalog(tmp_path, "quarterly_cycle", "service_review", "services_review")
    engine2 = Engine(store, renamed, clock)
    before = engine2.status(cycle)
    with pytest.raises(MigrationRefused, match="'service_review' does not exist"):
        engine2.migrate(cycle, renamed.workflow("quarterly_cycle").content_hash, by="perf")
    after = engine2.status(cycle)
    assert (after.workflow, after.version) == (before.workflow, before.version)


def test_migrate_refused_when_child_state_missing(
    engine: Engine, cycle: str, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    folder = tmp_path / "both"
    shutil.copytree(WORKFLOWS, folder)
    for name, old, new in [
        ("service_return", "requested", "asked"),
        ("quarterly_cycle", "label: Closed", "label: Done"),
    ]:
        path = folder / f"{name}.yaml"
        path.write_text(path.read_text().replace(old, new))
    policies = tmp_path / "policies"  # framework.yaml names the states figures change in
    shutil.copytree(POLICIES, policies)
    framework = policies / "framework.yaml"
    framework.write_text(framework.read_text().replace("[requested, returned]", "[asked, returned]"))
    changed = lenient_catalog(folder, policies)
    engine2 = Engine(store, changed, clock)
    with pytest.raises(MigrationRefused, match=r"child .*HOUSING is in 'requested'"):
        engine2.migrate(cycle, changed.workflow("quarterly_cycle").content_hash[:10], by="perf")


def test_unknown_target_version(engine: Engine, cycle: str) -> None:
    with pytest.raises(NotFound, match="workflow version"):
        engine.migrate(cycle, "deadbeef99", by="perf")


def test_stored_definition_not_todays_yaml(
    engine: Engine, cycle: str, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """A catalog that no longer knows a trigger cannot take it away from a running cycle."""
    v2 = edited_catalog(tmp_path, "service_return", "trigger: waive", "trigger: excuse")
    engine2 = Engine(store, v2, clock)
    assert engine2.fire(f"{CYCLE}/HOUSING", "waive", "perf", reason="service closed").to_state == "waived"
    with pytest.raises(TransitionNotAllowed):
        engine2.fire(f"{CYCLE}/HOUSING", "waive", "perf", reason="again")
