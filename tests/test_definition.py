"""Loading workflows and policies: shipped files load, and every invalid fixture fails with
its file, line, field and message."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.definition import parse_workflow
from pmf_engine.core.errors import DefinitionError
from pmf_engine.pmf.framework import load_policies
from pmf_engine.pmf.lginform import read_policy
from pmf_engine.pmf.registry import framework_registry
from tests.conftest import POLICIES, WORKFLOWS

REGISTRY = framework_registry(load_policies(POLICIES))

INVALID = Path(__file__).parent / "fixtures" / "invalid"
SHIPPED_WORKFLOWS = sorted(WORKFLOWS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED_WORKFLOWS, ids=lambda p: p.name)
def test_shipped_workflow_loads(path: Path) -> None:
    wf, _ = parse_workflow(path.read_text(), str(path))
    assert wf.initial in wf.states
    assert any(state.terminal for state in wf.states.values())


POLICY_CHECKS = {
    "roles.yaml": lambda c: "performance_officer" in c.roles.roles and len(c.roles.segregation) == 3,
    "rag.yaml": lambda c: load_policies(POLICIES).rag.rule_for("HOU-01")[0].kind == "absolute",
    "framework.yaml": lambda c: (
        load_policies(POLICIES).framework.actions.workflow in c.workflows
        and load_policies(POLICIES).framework.exception_reports.rag == ("red",)
    ),
    "comparators.yaml": lambda c: "cipfa_nearest_neighbours" in read_policy(POLICIES).groups,
    "risk.yaml": lambda c: (
        list(load_policies(POLICIES).risk.levels) == ["service", "leadership", "cabinet"]
        and load_policies(POLICIES).risk.review.open_in["quarterly_cycle"][0] == "data_request"
    ),
    "escalation.yaml": lambda c: (
        len(c.escalation.default.reminders) == 2
        and c.escalation.ladder("service_return", "returned").reminders[0].before == 1
    ),
}


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_policy_loads(path: Path) -> None:
    catalog = load_catalog(WORKFLOWS, POLICIES)
    assert path.name in POLICY_CHECKS, f"{path.name} is shipped but no test checks it"
    assert POLICY_CHECKS[path.name](catalog)


def test_escalation_policy_names_real_roles_and_states(tmp_path: Path) -> None:
    bad = tmp_path / "escalation.yaml"
    bad.write_text(
        (POLICIES / "escalation.yaml")
        .read_text()
        .replace("to: [cmt_member]}", "to: [cmt_memberr]}")
        .replace("state: returned", "state: returnd")
    )
    with pytest.raises(DefinitionError) as raised:
        Catalog.load(SHIPPED_WORKFLOWS, POLICIES / "roles.yaml", escalation_path=bad, registry=REGISTRY)
    messages = {(p.field, p.message) for p in raised.value.problems}
    assert (
        "default.escalations.1.to.0",
        "unknown role 'cmt_memberr' (or 'acting' or 'assignee')",
    ) in messages
    assert ("overrides.1.state", "'service_return' has no state 'returnd'") in messages
    assert all(p.line is not None for p in raised.value.problems)


def test_bad_deadline_rule_named_with_line(tmp_path: Path) -> None:
    path = tmp_path / "quarterly_cycle.yaml"
    path.write_text(
        (WORKFLOWS / "quarterly_cycle.yaml")
        .read_text()
        .replace("cabinet - 7 working days", "cabinet - 7 fortnights")
    )
    with pytest.raises(DefinitionError) as raised:
        parse_workflow(path.read_text(), str(path))
    problem = raised.value.problems[0]
    assert (
        problem.field == "states.leadership_signoff.deadline"
        and "unknown unit 'fortnights'" in problem.message
    )
    assert problem.line == path.read_text().splitlines().index("    deadline: cabinet - 7 fortnights") + 1


def test_shipped_cycle_has_every_stage_and_way_back(catalog: Catalog) -> None:
    wf = catalog.workflow("quarterly_cycle")
    assert list(wf.states) == [
        "data_request",
        "service_review",
        "cmt_review",
        "leadership_signoff",
        "cabinet_approval",
        "scrutiny",
        "closed",
    ]
    ways_back = {(t.trigger, t.source[0], t.dest) for t in wf.transitions}
    assert {
        ("return_to_services", "cmt_review", "service_review"),
        ("return_to_cmt", "leadership_signoff", "cmt_review"),
        ("defer", "cabinet_approval", "cabinet_approval"),
        ("refer_back", "scrutiny", "cabinet_approval"),
    } <= ways_back
    assert catalog.workflow("service_return").transition("waive", "requested") is not None


def _expectation(path: Path) -> tuple[int | None, str, str]:
    match = re.match(r"# expect: (\d*)\s*\|\s*([^|]*?)\s*\|\s*(.*)", path.read_text().splitlines()[0])
    assert match, f"{path.name} needs an '# expect: LINE | FIELD | MESSAGE' first line"
    return (int(match[1]) if match[1] else None, match[2].strip(), match[3].strip())


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_fixture_names_file_line_and_field(path: Path) -> None:
    line, field, message = _expectation(path)
    with pytest.raises(DefinitionError) as raised:
        Catalog.load([*SHIPPED_WORKFLOWS, path], POLICIES / "roles.yaml", registry=REGISTRY)
    mine = [p for p in raised.value.problems if p.file == str(path)]
    assert any(p.line == line and p.field == field and message in p.message for p in mine), mine
    assert all(p.file == str(path) for p in raised.value.problems), "shipped files must stay valid"


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    bad = tmp_path / "two.yaml"
    bad.write_text(
        "name: two\nversion: '1'\ninitial: a\nstates:\n  a: {label: A}\n  b: {label: B, terminal: true}\n"
        "transitions:\n  - {trigger: go, source: a, dest: b, roles: [performance_officer]}\n"
        "  - {trigger: x, source: a, dest: zz, roles: [performance_officer]}\n"
        "  - {trigger: y, source: qq, dest: b, roles: [performance_officer]}\n"
    )
    with pytest.raises(DefinitionError) as raised:
        parse_workflow(bad.read_text(), str(bad))
    assert [p.line for p in raised.value.problems] == [9, 10]


def test_two_files_defining_one_workflow(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_text((WORKFLOWS / "service_return.yaml").read_text())
    with pytest.raises(DefinitionError, match="also defined in"):
        Catalog.load([*SHIPPED_WORKFLOWS, copy], POLICIES / "roles.yaml", registry=REGISTRY)


def test_segregation_rule_must_name_real_triggers(tmp_path: Path) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        (POLICIES / "roles.yaml").read_text().replace("not_after: [submit]", "not_after: [submitt]")
    )
    with pytest.raises(DefinitionError) as raised:
        Catalog.load(SHIPPED_WORKFLOWS, roles, registry=REGISTRY)
    problem = raised.value.problems[0]
    assert (problem.file, problem.field) == (str(roles), "segregation.0.not_after")
    assert "no trigger 'submitt'" in problem.message


def test_content_hash_ignores_layout_and_comments() -> None:
    text = (WORKFLOWS / "service_return.yaml").read_text()
    first, _ = parse_workflow(text, "a.yaml")
    second, _ = parse_workflow(
        "# a comment\n" + text.replace("label: Requested", "label:    Requested"), "b.yaml"
    )
    changed, _ = parse_workflow(text.replace("label: Requested", "label: Asked"), "c.yaml")
    assert first.content_hash == second.content_hash != changed.content_hash


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as raised:
        Catalog.load([tmp_path / "nope.yaml"], POLICIES / "roles.yaml", registry=REGISTRY)
    assert "cannot read file" in raised.value.problems[0].message


# -- policies/framework.yaml: the names the framework's code relies on --------------------------

INVALID_FRAMEWORK = Path(__file__).parent / "fixtures" / "invalid_framework"


def _policies_with(tmp_path: Path, framework: str | None) -> Path:
    """A copy of the shipped policies folder with ``framework.yaml`` replaced (or removed)."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    if framework is None:
        (folder / "framework.yaml").unlink()
    else:
        (folder / "framework.yaml").write_text(framework)
    return folder


@pytest.mark.parametrize("path", sorted(INVALID_FRAMEWORK.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_framework_policy_names_file_line_and_field(path: Path, tmp_path: Path) -> None:
    """An unknown role, workflow, state, trigger or committee in framework.yaml (or a schema
    error) fails loading the application's catalog, naming framework.yaml, the line and field."""
    line, field, message = _expectation(path)
    folder = _policies_with(tmp_path, path.read_text())
    with pytest.raises(DefinitionError) as raised:
        load_catalog(WORKFLOWS, folder)
    problems = raised.value.problems
    assert all(p.file == str(folder / "framework.yaml") for p in problems), problems
    assert any(p.line == line and p.field == field and message in p.message for p in problems), problems


def test_framework_policy_is_required(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as raised:
        load_catalog(WORKFLOWS, _policies_with(tmp_path, None))
    problem = raised.value.problems[0]
    assert problem.file.endswith("framework.yaml") and "cannot read file" in problem.message


def test_framework_policy_problems_all_listed(tmp_path: Path) -> None:
    """Every unknown name in one error, not just the first."""
    text = (
        (POLICIES / "framework.yaml")
        .read_text()
        .replace("close_trigger: close", "close_trigger: shut")
        .replace("[scrutiny_officer, performance_officer]", "[scrutiny_officr, performance_officer]")
        .replace("[requested, returned]", "[requested, sent_back]")
    )
    with pytest.raises(DefinitionError) as raised:
        load_catalog(WORKFLOWS, _policies_with(tmp_path, text))
    assert sorted(p.field for p in raised.value.problems) == [
        "actions.close_trigger",
        "actions.raised_by.0",
        "reporting.open_states.service_return.1",
    ]


def test_exception_rule_names_measures_and_projects() -> None:
    """The sign-off refusal once called an off-track project a "red measure"."""
    from pmf_engine.pmf.policy import ExceptionRules

    assert ExceptionRules(rag=("red",), project_statuses=("off_track",)).describe() == (
        "red measures or off track projects"
    )
    assert ExceptionRules(rag=(), project_statuses=("at_risk", "off_track")).describe() == (
        "at risk or off track projects"
    )
    assert ExceptionRules(rag=("red", "amber"), project_statuses=()).describe() == "red or amber measures"


def test_a_transition_without_a_label_is_shown_as_its_trigger_in_plain_words() -> None:
    from pmf_engine.core.definition import TransitionDef

    bare = TransitionDef(trigger="close_data_request", source=("a",), dest="b", roles=("x",))
    named = TransitionDef(
        trigger="sign_off", source=("a",), dest="b", roles=("x",), label="Sign off for Cabinet"
    )
    assert (bare.shown_label, named.shown_label) == ("Close data request", "Sign off for Cabinet")


def _policies_changed(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    path = folder / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "words"),
    [
        (
            "risk.yaml",
            'colour: "#cce2d8"',
            'colour: "green"',
            "bands.0.colour",
            "'green' is not a colour like #1d70b8",
        ),
        (
            "roles.yaml",
            "calendar.manage:",
            "Calendar:",
            "permissions.Calendar.[key]",
            "'Calendar' is not a permission",
        ),
        (
            "roles.yaml",
            "performance_officer:",
            "Performance-Officer:",
            "roles.Performance-Officer.[key]",
            "is not a valid name",
        ),
    ],
    ids=["colour", "permission", "name"],
)
def test_a_pattern_mismatch_says_what_the_field_takes(
    tmp_path: Path, file: str, old: str, new: str, field: str, words: str
) -> None:
    """A value failing its field's pattern is described by what that field takes: a colour was
    once told it "is not a valid name (lower case letters, digits and _)"."""
    with pytest.raises(DefinitionError) as raised:
        load_catalog(WORKFLOWS, _policies_changed(tmp_path, file, old, new))
    problems = [p for p in raised.value.problems if p.field == field]
    assert problems and all(p.line for p in problems), raised.value.problems
    assert words in problems[0].message, problems
