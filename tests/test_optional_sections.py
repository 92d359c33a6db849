"""A council's own ``framework.yaml`` without its optional sections: ``actions`` (no action
tracking) and ``plans`` (no service plans). Everything that reads them copes, and the pages do
not link to what is not there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from pmf_engine.app.wiring import framework_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotNow
from pmf_engine.core.store import Store
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import calendar_feed, report
from pmf_engine.pmf.framework import Framework, load_policies
from tests.conftest import ORG, POLICIES, WORKFLOWS, allow_unsigned
from tests.test_web import sign_in

PASSWORD = "correct horse battery"


def _without(tmp_path: Path, *sections: str) -> Path:
    """The shipped policies, ``framework.yaml`` without the top-level ``sections``."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    text = (folder / "framework.yaml").read_text()
    for name in sections:
        # A top-level section runs from its key to the next top-level key (or the end).
        text, found = re.subn(rf"(?ms)^{name}:.*?(?=^[a-z_]+:|\Z)", "", text)
        assert found == 1, name
    (folder / "framework.yaml").write_text(text)
    return folder


@pytest.fixture
def bare(store: Store, clock: ManualClock, tmp_path: Path) -> Framework:
    """The test council under a framework.yaml with no ``actions`` and no ``plans``."""
    folder = _without(tmp_path, "actions", "plans")
    policies = allow_unsigned(load_policies(folder))
    engine = Engine(store, framework_catalog(WORKFLOWS, folder, policies), clock)
    return Framework(engine, policies)


def test_a_framework_without_actions_or_plans_loads(tmp_path: Path) -> None:
    policies = load_policies(_without(tmp_path, "actions", "plans"))
    assert policies.framework.actions is None and policies.framework.plans is None


def test_without_actions_nothing_is_raised_or_listed(bare: Framework) -> None:
    cycle = bare.engine.start_cycle(ORG, "2024-25-Q1", by="perf").key
    assert bare.actions.list_for(ORG) == []
    with pytest.raises(NotNow, match=r"framework\.yaml has no 'actions' section"):
        bare.actions.add(cycle, "Report back", assignee="perf", due="2030-01-01", by="perf")
    with pytest.raises(NotNow, match="no 'actions' section"):
        bare.actions.close(f"{cycle}/SA-1", note="done", by="perf")
    assert report.gather(bare, cycle).actions == []
    assert calendar_feed.events_for(bare, "perf")  # its deadlines, and no actions to read


def test_the_cli_says_there_is_no_action_tracking(store: Store, tmp_path: Path) -> None:
    folder = _without(tmp_path, "actions")
    db = ["--db", store.url, "--policies", str(folder), "--workflows", str(WORKFLOWS)]
    listed = CliRunner().invoke(main, [*db, "actions", "list", ORG])
    assert listed.exit_code == 1, listed.output
    assert "NotNow: this deployment has no action tracking" in listed.stderr


def test_the_pages_do_not_link_to_absent_sections(bare: Framework) -> None:
    bare.engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    Accounts(bare.engine.store, bare.engine.clock).set_password("perf", PASSWORD, by="test")
    app = create_app(bare, WebSettings(secret_key="s", secure_cookies=False))
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "perf", PASSWORD)
    for path in (f"/orgs/{ORG}", f"/instances/{ORG}/2024-25-Q1", "/todo", f"/orgs/{ORG}/dashboard"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert f'href="/orgs/{ORG}/plans"' not in page.text, path
        assert f'href="/orgs/{ORG}/actions"' not in page.text, path
        assert f'href="/orgs/{ORG}/meetings"' in page.text or path != f"/orgs/{ORG}"
    assert client.get(f"/orgs/{ORG}/actions").status_code == 409
    assert client.get(f"/orgs/{ORG}/plans").status_code == 409
