"""Parallel stages and period-dependent paths declared in YAML: a report fans out to three
thematic committees at once and the parent waits for all of them (or any one); a stage that
only Q4 has; child sets with their own spawn state and join beside the per-service returns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError, GuardFailed, InvalidInput, TransitionNotAllowed
from pmf_engine.core.store import Store
from tests.conftest import ORG, POLICIES, SERVICES, WORKFLOWS, lenient_catalog

COMMITTEE = """\
name: committee_review
version: "1"
initial: considering
states:
  considering: {label: Committee considering its part}
  considered: {label: Considered, terminal: true}
transitions:
  - {trigger: consider, source: considering, dest: considered, roles: [scrutiny_officer]}
"""

ANNUAL_REPORT = """\
name: annual_report
version: "1"
initial: drafting
states:
  drafting: {label: Drafting the annual report}
  done: {label: Done, terminal: true}
transitions:
  - {trigger: finish, source: drafting, dest: done, roles: [performance_officer]}
"""

THEMATIC = """\
name: thematic_cycle
version: "1"
key: thematic
initial: returns
start_roles: [performance_officer]
states:
  returns: {label: Returns}
  signoff: {label: Sign-off}
  annual: {label: Annual report with the Q4 report}
  committees: {label: Thematic committees}
  closed: {label: Closed, terminal: true}
children:
  - workflow: service_return
    spawn_on: returns
    settled: [accepted, waived]
    join: [close_returns]
  - workflow: committee_review
    spawn_on: committees
    per: [economy, housing, communities]
    settled: [considered]
    require: {require}
    join: [conclude]
  - workflow: annual_report
    spawn_on: annual
    per: [annual_report]
    periods: [Q4]
    settled: [done]
    join: [send_to_committees]
transitions:
  - {trigger: close_returns, source: returns, dest: signoff, roles: [performance_officer]}
  - {trigger: sign_off, source: signoff, dest: annual, periods: [Q4], roles: [leadership_team]}
  - {trigger: sign_off, source: signoff, dest: committees, periods: [Q1, Q2, Q3], roles: [leadership_team]}
  - {trigger: send_to_committees, source: annual, dest: committees, roles: [performance_officer]}
  - {trigger: conclude, source: committees, dest: closed, roles: [scrutiny_officer]}
"""


def _catalog(tmp_path: Path, require: str = "all") -> Catalog:
    folder = tmp_path / f"wf-{require}"
    shutil.copytree(WORKFLOWS, folder)
    (folder / "committee_review.yaml").write_text(COMMITTEE)
    (folder / "annual_report.yaml").write_text(ANNUAL_REPORT)
    (folder / "thematic_cycle.yaml").write_text(THEMATIC.replace("{require}", require))
    return lenient_catalog(folder, POLICIES)


def _through_returns(engine: Engine, period: str) -> str:
    status = engine.start_cycle(ORG, period, by="perf", workflow="thematic_cycle")
    key = status.key
    assert key == f"{ORG}/thematic-{period}"
    assert sorted(c.service for c in status.children) == sorted(SERVICES)
    for service in SERVICES:
        engine.fire(f"{key}/{service}", "submit", f"sm_{service.lower()}")
        engine.fire(f"{key}/{service}", "accept", "perf")
    engine.fire(key, "close_returns", "perf")
    return key


def test_fan_out_to_three_committees_and_the_join_waits_for_all(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    key = _through_returns(engine, "2024-25-Q1")
    fired = engine.fire(key, "sign_off", "lead")
    assert fired.to_state == "committees", "Q1 has no annual report stage"
    assert sorted(fired.spawned) == [f"{key}/communities", f"{key}/economy", f"{key}/housing"]
    committees = [c for c in engine.status(key).children if c.workflow.startswith("committee_review")]
    assert {c.state for c in committees} == {"considering"} and len(committees) == 3
    assert all(c.service is None for c in committees), "a committee is not a service"

    engine.fire(f"{key}/economy", "consider", "scrutiny")
    engine.fire(f"{key}/housing", "consider", "scrutiny")
    with pytest.raises(GuardFailed, match=r"1 of 3 still open: communities \(Committee considering its"):
        engine.fire(key, "conclude", "scrutiny")
    engine.fire(f"{key}/communities", "consider", "scrutiny")
    assert engine.fire(key, "conclude", "scrutiny").to_state == "closed"


def test_require_any_passes_on_the_first_settled_member(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    engine = Engine(store, _catalog(tmp_path, "any"), clock)
    key = _through_returns(engine, "2024-25-Q2")
    engine.fire(key, "sign_off", "lead")
    with pytest.raises(GuardFailed, match="none of 3 settled yet"):
        engine.fire(key, "conclude", "scrutiny")
    engine.fire(f"{key}/housing", "consider", "scrutiny")
    assert engine.fire(key, "conclude", "scrutiny").to_state == "closed"


def test_q4_only_stage(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    key = _through_returns(engine, "2024-25-Q4")
    fired = engine.fire(key, "sign_off", "lead")
    assert fired.to_state == "annual", "in Q4 the annual report goes with the quarter's report"
    assert fired.spawned == (f"{key}/annual_report",)
    report = next(c for c in engine.status(key).children if c.workflow.startswith("annual_report"))
    with pytest.raises(GuardFailed, match=r"1 of 1 still open: annual_report \(Drafting the annual report\)"):
        engine.fire(key, "send_to_committees", "perf")
    engine.fire(report.key, "finish", "perf")
    assert engine.fire(key, "send_to_committees", "perf").to_state == "committees"


def test_a_period_condition_hides_the_transition_elsewhere(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    engine = Engine(store, _catalog(tmp_path), clock)
    key = _through_returns(engine, "2024-25-Q3")
    assert [s.trigger for s in engine.status(key).next_steps] == ["sign_off"]
    engine.fire(key, "sign_off", "lead")
    with pytest.raises(TransitionNotAllowed):
        engine.fire(key, "send_to_committees", "perf")


FINANCE_CHECK = """\
name: finance_check
version: "1"
initial: checking
states:
  checking: {label: Finance checking the return}
  checked: {label: Checked, terminal: true}
transitions:
  - {trigger: check, source: checking, dest: checked, roles: [performance_officer]}
"""


def _with_second_set(tmp_path: Path, per: str) -> Path:
    folder = tmp_path / "wf-two-sets"
    shutil.copytree(WORKFLOWS, folder)
    (folder / "committee_review.yaml").write_text(COMMITTEE)
    (folder / "annual_report.yaml").write_text(ANNUAL_REPORT)
    (folder / "finance_check.yaml").write_text(FINANCE_CHECK)
    second = (
        "  - workflow: finance_check\n"
        "    spawn_on: signoff\n"
        f"    per: {per}\n"
        "    settled: [checked]\n"
        "    join: [sign_off]\n"
    )
    text = THEMATIC.replace("{require}", "all").replace("transitions:\n", second + "transitions:\n", 1)
    (folder / "thematic_cycle.yaml").write_text(text)
    return folder


def _policies_with_finance_check(tmp_path: Path) -> Path:
    folder = tmp_path / "policies-two-sets"
    shutil.copytree(POLICIES, folder)
    framework = folder / "framework.yaml"
    text = framework.read_text()
    added = "    service_plan: []\n    finance_check: []"
    framework.write_text(text.replace("    service_plan: []", added, 1))
    return folder


@pytest.mark.parametrize(
    ("per", "clash"),
    [("service", "a second child set per service"), ("[finance, housing]", "'housing' is a member")],
)
def test_two_child_sets_whose_members_would_share_keys_are_refused_at_load(
    tmp_path: Path, per: str, clash: str
) -> None:
    """A council's finance check per service beside the returns passed validation, then every
    child of the second set had the key of a return (``ORG/PERIOD/HOUSING``): the cycle stuck on
    a "changed since it was read" conflict. Two sets that would key children alike are refused
    with the file, line and field."""
    folder = _with_second_set(tmp_path, per)
    with pytest.raises(DefinitionError) as raised:
        lenient_catalog(folder, _policies_with_finance_check(tmp_path) if per == "service" else POLICIES)
    (problem,) = raised.value.problems
    lines = (folder / "thematic_cycle.yaml").read_text().splitlines()
    assert problem.file == str(folder / "thematic_cycle.yaml"), problem
    assert problem.field.startswith("children.3.per"), problem
    assert problem.line == lines.index(f"    per: {per}") + 1 if per == "service" else problem.line, problem
    assert clash in problem.message and "the same key" in problem.message, problem


def test_a_named_member_keyed_like_a_service_is_refused_when_spawned(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """A named member spelled like one of the organisation's services would be keyed as that
    service's return (load cannot know the services): the transition that starts the set is
    refused naming the key and both sets, and nothing of it is written."""
    folder = _with_second_set(tmp_path, "[finance]")
    engine = Engine(store, lenient_catalog(folder, POLICIES), clock)
    engine.directory.add_service(ORG, "finance", "Finance", by="test")
    key = engine.start_cycle(ORG, "2024-25-Q1", by="perf", workflow="thematic_cycle").key
    for service in SERVICES:
        engine.fire(f"{key}/{service}", "submit", f"sm_{service.lower()}")
        engine.fire(f"{key}/{service}", "accept", "perf")
    engine.fire(f"{key}/finance", "waive", "perf", reason="no figures this quarter")
    with pytest.raises(InvalidInput) as refused:
        engine.fire(key, "close_returns", "perf")
    assert f"{key}/finance" in str(refused.value) and "service_return" in str(refused.value), refused.value
    assert "finance_check" in str(refused.value)
    assert engine.peek(key)[0] == "returns"
