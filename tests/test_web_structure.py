"""The web package's shape: routers never import the app factory and hold no SQL, no import is
tucked into a function to dodge a cycle, modules stay small and say what they are, and every
error class has its status in the one table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pmf_engine.core.errors import GuardFailed, NotNow, PermissionDenied, PmfError, UnknownTrigger
from pmf_engine.interfaces.web.errors import (
    Forbidden,
    IdempotencyKeyReused,
    Unauthenticated,
    status_of,
)

WEB = Path(__file__).parent.parent / "pmf_engine" / "interfaces" / "web"
ROUTERS = [WEB / "api.py", *sorted((WEB / "pages").glob("*.py"))]
MODULES = sorted(WEB.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("path", ROUTERS, ids=lambda p: p.name)
def test_routers_neither_import_the_app_nor_hold_sql(path: Path) -> None:
    tree = _tree(path)
    imports = _imports(tree)
    assert "pmf_engine.interfaces.web.app" not in imports
    assert not any(i.split(".")[0] == "sqlalchemy" for i in imports), "queries go in queries.py"
    calls = {
        (n.value.attr if isinstance(n.value, ast.Attribute) else "", n.attr)
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
    }
    assert not calls & {("store", "read"), ("store", "write")}, "no transactions in routes"
    assert not {attr for _, attr in calls} & {"execute", "scalars", "scalar"}, "no queries in routes"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(WEB)))
def test_modules_are_small_documented_and_import_at_the_top(path: Path) -> None:
    tree = _tree(path)
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 300
    assert ast.get_docstring(tree), "a module docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            # serve.py loads the optional scheduler only when it is asked to run the worker
            assert not nested or path.name == "serve.py", f"{node.name} imports inside itself"
    if path in ROUTERS:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                assert ast.get_docstring(node), f"{path.name}: {node.name} has no docstring"


def test_every_error_takes_its_status_from_the_table() -> None:
    assert status_of(Unauthenticated("x")) == (401, "Not signed in")
    assert status_of(Forbidden("x")) == (403, "Forbidden")
    assert status_of(IdempotencyKeyReused("x")) == (422, "Idempotency-Key reused")
    assert status_of(PermissionDenied("K", "t", "s", "u", "why"))[0] == 403
    assert status_of(GuardFailed("K", "t", "s", "u", "why"))[0] == 409
    assert status_of(UnknownTrigger("K", "t", "s", ["submit"]))[0] == 422
    assert status_of(NotNow("not now"))[0] == 409
    assert status_of(PmfError("other")) == (400, "Not possible")
