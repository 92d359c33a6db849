"""The layering holds in the source: the core names no workflow, state or role; no bare
``PmfError`` is raised; only the settings module reads the environment; no module is too long.

These read the package's own source with ``ast`` (import rules themselves are checked by
import-linter in ``scripts/test.sh``), so a change that breaks a rule fails here with the file
and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pmf_engine.core.definition import parse_roles, parse_workflow
from tests.conftest import POLICIES, WORKFLOWS

PACKAGE = Path(__file__).resolve().parent.parent / "pmf_engine"
CORE = PACKAGE / "core"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _shipped_names() -> set[str]:
    names: set[str] = set()
    for path in WORKFLOWS.glob("*.yaml"):
        wf, _ = parse_workflow(path.read_text(), str(path))
        names |= {wf.name, *wf.states, *(t.trigger for t in wf.transitions)}
    roles, _ = parse_roles((POLICIES / "roles.yaml").read_text(), "roles.yaml")
    return names | set(roles.roles)


def test_core_names_no_workflow_state_or_role() -> None:
    """Everything a council may call differently is declared in YAML, never in core code."""
    names = _shipped_names()
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}"
        for path in sorted(CORE.rglob("*.py"))
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]
    assert not found, "core code names shipped workflows, states or roles:\n" + "\n".join(found)


FRAMEWORK_CODE = [PACKAGE / "pmf", PACKAGE / "interfaces", PACKAGE / "app", PACKAGE / "channels"]
SEEDS_THE_EXAMPLE = {
    PACKAGE / "pmf" / "sample.py",
    PACKAGE / "app" / "demo.py",
    PACKAGE / "app" / "demo_plans.py",
    PACKAGE / "app" / "demo_year_end.py",
}
"""The demo's council: its people hold the shipped roles and its quarters fire the shipped triggers."""
NOT_NAMES = {
    ("interfaces/cli/actions.py", "close"): "the command `pmf actions close`, whatever the trigger is called",
}
"""Words that are a shipped name by coincidence, each with what it is instead."""
_JINJA = re.compile(r"{[{%](.*?)[%}]}", re.S)
_QUOTED = re.compile(r"""["']([a-z][a-z0-9_]*)["']""")


def test_framework_names_no_workflow_state_or_role() -> None:
    """The framework, the interfaces and the wiring take every name from policies/framework.yaml
    (or the catalog): no Python string or template literal is a shipped workflow, state,
    trigger or role (the example council's seed data aside)."""
    names = _shipped_names()
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}"
        for folder in FRAMEWORK_CODE
        for path in sorted(folder.rglob("*.py"))
        if path not in SEEDS_THE_EXAMPLE
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
        if (str(path.relative_to(PACKAGE)), node.value) not in NOT_NAMES
    ]
    found += [
        f"{path.relative_to(PACKAGE)}:{text[: block.start()].count(chr(10)) + 1}: {word!r}"
        for folder in FRAMEWORK_CODE
        for path in sorted(p for p in folder.rglob("*") if p.suffix in (".html", ".j2", ".txt"))
        for text in [path.read_text(encoding="utf-8")]
        for block in _JINJA.finditer(text)
        for word in _QUOTED.findall(block[1])
        if word in names
    ]
    assert not found, "framework code names shipped workflows, states or roles:\n" + "\n".join(found)


def test_no_bare_pmf_error_is_raised() -> None:
    """Every raise picks a leaf of the error tree, so interfaces can map it to a status."""
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in SOURCES
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "PmfError"
    ]
    assert not found, "bare PmfError raised at:\n" + "\n".join(found)


def test_only_settings_read_the_environment() -> None:
    """Configuration is one object built at the edge; nothing else looks at ``os.environ``."""
    allowed = {PACKAGE / "app" / "settings.py"}
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in SOURCES
        if path not in allowed
        for node in ast.walk(_tree(path))
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"))
        or (isinstance(node, ast.Name) and node.id in ("environ", "getenv"))
    ]
    assert not found, "the environment is read at:\n" + "\n".join(found)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_documented_and_not_too_long(path: Path) -> None:
    """One concept per module: a docstring that says what it is for, and ~600 lines at most."""
    tree = _tree(path)
    assert ast.get_docstring(tree), f"{path.relative_to(PACKAGE)} has no module docstring"
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 600, f"{path.relative_to(PACKAGE)} has {lines} lines"
