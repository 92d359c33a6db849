"""A SQLite writer that holds the lock past the busy timeout: the request waiting for it is a
clear refusal that wrote nothing (issue #12, finding 14: "database is locked", a plain 500
after 30 s), a 503 with Retry-After on the web and exit 1 on the command line."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pmf_engine.core import connections
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import Busy
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, seed


@contextmanager
def _held(path: Path) -> Iterator[None]:
    """Another process's long write: the file's writer lock, held."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.fixture
def busy_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog, clock: ManualClock) -> Engine:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(connections, "SQLITE_BUSY_TIMEOUT_MS", 200)
    store = Store(sqlite_url(tmp_path / "busy.db"), rehearsal=True)
    engine = Engine(store, catalog, clock)
    seed(engine)
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return engine


def test_a_held_lock_is_a_busy_refusal_that_wrote_nothing(busy_engine: Engine, tmp_path: Path) -> None:
    with _held(tmp_path / "busy.db"), pytest.raises(Busy, match="the database is busy"):
        busy_engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    assert busy_engine.peek(f"{CYCLE}/HOUSING")[0] == "requested"
    assert busy_engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing").to_state == "submitted"


def test_the_api_answers_503_with_retry_after(busy_engine: Engine, tmp_path: Path) -> None:
    from pmf_engine.core.accounts import Accounts

    token = Accounts(busy_engine.store, busy_engine.clock).create_token("sm_housing", "script", by="test")
    app = create_app(
        Framework(busy_engine, SHIPPED_POLICIES), WebSettings(secret_key="k", secure_cookies=False)
    )
    client = TestClient(app, raise_server_exceptions=False)
    body = {"trigger": "submit", "expected_version": busy_engine.peek(f"{CYCLE}/HOUSING")[1]}
    with _held(tmp_path / "busy.db"):
        answer = client.post(
            f"/api/v1/instances/{CYCLE}/HOUSING/transitions",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["title"] == "Busy: try again"
