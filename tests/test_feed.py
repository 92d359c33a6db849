"""The open-data feed over HTTP (``interfaces/web/feed.py``), on SQLite and PostgreSQL: a
member's token reads every quarter and column; the public feed needs no sign-in and holds
only the quarters ``framework.yaml``'s ``open_data.published_in`` approves, without narrative
or owners; ETags answer a repeated request with 304; bad input is a problem document."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework, read_policies
from pmf_engine.pmf.policy import OpenDataPolicy
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, settle_returns

MEASURES = Path(__file__).parent / "fixtures" / "measures" / "measures.csv"
Q2 = f"{ORG}/2024-25-Q2"
FEED = f"/api/v1/organisations/{ORG}/data"
OPEN = f"/api/v1/open/{ORG}"


@pytest.fixture
def client(engine: Engine) -> tuple[TestClient, str]:
    """Q1 past its data request (published once in service review, in this framework), Q2 open."""
    policies = dataclasses.replace(
        SHIPPED_POLICIES,
        framework=SHIPPED_POLICIES.framework.model_copy(
            update={"open_data": OpenDataPolicy(published_in={"quarterly_cycle": ("service_review",)})}
        ),
    )
    framework = Framework(engine, policies)
    framework.performance.import_measures(ORG, MEASURES, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 41, narrative="Q1 secret narrative", by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    framework.performance.record_actual(Q2, "HOU-01", 39, narrative="Q2 draft narrative", by="perf")
    token = Accounts(engine.store, engine.clock).create_token("perf", "power-bi", by="test")
    app = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    return TestClient(app, follow_redirects=False), token


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_a_member_reads_every_quarter_and_column(client: tuple[TestClient, str]) -> None:
    http, token = client
    answer = http.get(f"{FEED}/actuals.csv", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "private, no-cache"
    rows = {(r["period"], r["measure"]): r for r in _csv(answer.text)}
    assert rows[("2024-25-Q1", "HOU-01")]["value"] == "41"
    assert rows[("2024-25-Q2", "HOU-01")]["narrative"] == "Q2 draft narrative"
    assert http.get(f"{FEED}/actuals.csv").status_code == 401
    book = http.get(f"{FEED}/rag.xlsx", headers={"Authorization": f"Bearer {token}"})
    assert book.status_code == 200
    assert load_workbook(io.BytesIO(book.content))["rag"]["A1"].value == "organisation"


def test_the_public_feed_holds_approved_quarters_only_without_restricted_text(
    client: tuple[TestClient, str],
) -> None:
    http, _ = client
    answer = http.get(f"{OPEN}/actuals.csv")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "public, max-age=300"
    rows = _csv(answer.text)
    assert {r["period"] for r in rows} == {"2024-25-Q1"}
    assert "narrative" not in rows[0] and "secret" not in answer.text and "draft" not in answer.text
    doc = http.get(f"{OPEN}/exceptions.json").json()
    assert doc["public"] is True and "owner" not in [c["name"] for c in doc["columns"]]
    catalogue = http.get(OPEN).json()
    assert {d["name"] for d in catalogue["datasets"]} == {
        "measures",
        "actuals",
        "targets",
        "rag",
        "exceptions",
    }
    assert all("narrative" not in [c["name"] for c in d["columns"]] for d in catalogue["datasets"])


def test_an_etag_answers_a_repeated_request_with_304(client: tuple[TestClient, str]) -> None:
    http, token = client
    auth = {"Authorization": f"Bearer {token}"}
    first = http.get(f"{FEED}/actuals.json", headers=auth)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = http.get(f"{FEED}/actuals.json", headers=auth | {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert http.get(f"{FEED}/actuals.csv", headers=auth | {"If-None-Match": etag}).status_code == 200
    assert http.get(f"{OPEN}/actuals.json", headers={"If-None-Match": etag}).status_code == 200


def test_bad_input_is_a_problem_document(client: tuple[TestClient, str]) -> None:
    http, token = client
    auth = {"Authorization": f"Bearer {token}"}
    bad = http.get(f"{FEED}/actuals.csv?from=2024-25-Q3&to=2024-25-Q1", headers=auth)
    assert bad.status_code == 422 and "before from" in bad.json()["detail"]
    assert http.get(f"{FEED}/secrets.csv", headers=auth).status_code == 422
    assert http.get(f"{FEED}/actuals.html", headers=auth).status_code == 422
    missing = http.get("/api/v1/open/NOPE/actuals.csv")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    narrowed = http.get(f"{FEED}/actuals.csv?from=2024-25-Q2", headers=auth)
    assert {r["period"] for r in _csv(narrowed.text)} == {"2024-25-Q2"}


def test_a_published_state_the_cycle_lacks_is_refused_with_its_line(tmp_path: Path, catalog: Catalog) -> None:
    shipped = (Path(__file__).parent.parent / "policies" / "framework.yaml").read_text(encoding="utf-8")
    assert "quarterly_cycle: [scrutiny, closed]" in shipped
    broken = tmp_path / "framework.yaml"
    broken.write_text(shipped.replace("[scrutiny, closed]", "[scrutiny, closd]"), encoding="utf-8")
    with pytest.raises(
        DefinitionError,
        match=r"framework\.yaml:\d+: \[open_data\.published_in\.quarterly_cycle\.1\].*no state 'closd'",
    ):
        read_policies(None, broken).check(catalog)
    SHIPPED_POLICIES.check(catalog)  # the shipped file is fine
