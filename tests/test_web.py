"""The web application through HTTP (httpx via Starlette's TestClient) on SQLite and PostgreSQL:
sign-in, CSRF, role-driven pages, the JSON API's problem documents and idempotent POSTs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services, settle_returns

PASSWORD = "correct horse battery"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing", "sm_waste", "auditor", "lead"):
        accounts.set_password(user, PASSWORD, by="test")
    services(engine).performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    app = create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="test-secret", secure_cookies=False)
    )
    return TestClient(app, follow_redirects=False)


def csrf(client: TestClient, path: str = "/sign-in") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/sign-in", data={"username": user, "password": password, "csrf_token": csrf(client), "next": "/"}
    )
    assert response.status_code == 303, response.text[:300]


def shown_version(client: TestClient, path: str) -> int:
    """The version of the instance that the page at ``path`` shows in its step forms."""
    found = re.search(r'name="expected_version" value="(\d+)"', client.get(path).text)
    assert found, f"{path} offers no step"
    return int(found.group(1))


def audited(engine: Engine, event: str, actor: str) -> int:
    with engine.store.read() as s:
        return int(
            s.scalar(select(func.count()).where(AuditEntry.event == event, AuditEntry.actor == actor)) or 0
        )


def test_pages_need_sign_in_and_a_correct_password(client: TestClient) -> None:
    assert client.get(f"/orgs/{ORG}").headers["location"].startswith("/sign-in")
    wrong = client.post(
        "/sign-in", data={"username": "perf", "password": "nope", "csrf_token": csrf(client), "next": "/"}
    )
    assert wrong.status_code == 401 and "Enter a correct username and password" in wrong.text
    forged = client.post("/sign-in", data={"username": "perf", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403, "a sign-in without this session's CSRF token is refused"


def test_sign_in_is_audited_and_locks_after_repeated_failures(client: TestClient, engine: Engine) -> None:
    for _ in range(5):
        client.post("/sign-in", data={"username": "perf", "password": "guess", "csrf_token": csrf(client)})
    locked = client.post(
        "/sign-in", data={"username": "perf", "password": PASSWORD, "csrf_token": csrf(client)}
    )
    assert locked.status_code == 401 and "Too many failed attempts" in locked.text
    assert audited(engine, "account.sign_in_failed", "perf") == 5
    assert audited(engine, "account.sign_in_refused", "perf") == 1
    engine.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
    sign_in(client, "perf")
    assert audited(engine, "account.signed_in", "perf") == 1


def test_security_headers(client: TestClient) -> None:
    page = client.get("/sign-in")
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
    assert client.get("/api/docs").status_code == 404, "no Swagger UI fetching scripts from a CDN"


def test_session_cookie_flags(engine: Engine) -> None:
    app = create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="s", secure_cookies=True))
    page = TestClient(app, base_url="https://testserver").get("/sign-in")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


def test_a_service_manager_reports_and_submits(client: TestClient, engine: Engine) -> None:
    sign_in(client, "sm_housing")
    page = client.get(f"/instances/{CYCLE}/HOUSING")
    assert page.status_code == 200 and 'value="submit"' in page.text and 'value="accept"' not in page.text
    token = csrf(client, f"/instances/{CYCLE}/HOUSING")
    bad = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "twenty", "narrative_HOU-01": ""},
    )
    assert bad.status_code == 400 and 'id="actual_HOU-01-error"' in bad.text, "the error sits by its field"
    saved = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "29", "narrative_HOU-01": "Voids"},
    )
    assert saved.status_code == 303
    assert next(m for m in services(engine).performance.status(CYCLE) if m.code == "HOU-01").actual == 29
    version = shown_version(client, f"/instances/{CYCLE}/HOUSING")
    fired = client.post(
        f"/instances/{CYCLE}/HOUSING/fire",
        data={"csrf_token": token, "trigger": "submit", "expected_version": version},
    )
    assert fired.status_code == 303 and engine.peek(f"{CYCLE}/HOUSING")[0] == "submitted"


def test_a_forged_post_by_the_wrong_role_is_refused_and_audited(client: TestClient, engine: Engine) -> None:
    sign_in(client, "sm_waste")
    token = csrf(client, f"/instances/{CYCLE}")
    forged = client.post(  # the forger knows the version: it is no secret
        f"/instances/{CYCLE}/fire",
        data={
            "csrf_token": token,
            "trigger": "close_data_request",
            "expected_version": engine.peek(CYCLE)[1],
        },
    )
    assert forged.status_code == 403
    assert "You cannot do “Close the data request”: only a Performance officer may." in forged.text
    assert engine.peek(CYCLE)[0] == "data_request"
    assert audited(engine, "refused", "sm_waste") == 1
    timeline = client.get(f"/instances/{CYCLE}").text
    assert "Refused: Close the data request" in timeline and "Only a Performance officer may" in timeline
    no_token = client.post(f"/instances/{CYCLE}/HOUSING/fire", data={"csrf_token": "", "trigger": "submit"})
    assert no_token.status_code in (403, 422) and engine.peek(f"{CYCLE}/HOUSING")[0] == "requested"


def test_pages_for_an_auditor(client: TestClient) -> None:
    sign_in(client, "auditor")
    for path in (
        f"/orgs/{ORG}",
        f"/orgs/{ORG}/measures",
        f"/orgs/{ORG}/actions",
        f"/instances/{CYCLE}/report",
    ):
        assert client.get(path).status_code == 200, path
    trail = client.get(f"/orgs/{ORG}/audit?event=cycle.started")
    assert "Chain verified" not in trail.text and "Verify the chain" in trail.text and CYCLE in trail.text
    verified = client.get(f"/orgs/{ORG}/audit?event=cycle.started&verify=1")
    assert "Chain verified" in verified.text and CYCLE in verified.text
    exported = client.get(f"/orgs/{ORG}/audit.csv")
    assert exported.headers["content-type"].startswith("text/csv") and "cycle.started" in exported.text
    assert "What you can do now" in client.get(f"/instances/{CYCLE}").text
    assert "Nothing for you to do" in client.get(f"/instances/{CYCLE}").text
    assert client.get("/orgs/NOPE").status_code == 404


# -- the JSON API -------------------------------------------------------------------------------


@pytest.fixture
def api(client: TestClient, engine: Engine) -> tuple[TestClient, dict[str, str]]:
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    return client, {"Authorization": f"Bearer {token}"}


def test_api_needs_a_token_and_answers_problems(
    api: tuple[TestClient, dict[str, str]], engine: Engine
) -> None:
    client, headers = api
    anonymous = client.get("/api/v1/organisations")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["status"] == 401 and "Bearer" in anonymous.headers["www-authenticate"]
    assert client.get("/api/v1/organisations", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/organisations", headers=headers).json() == [
        {"code": ORG, "name": "Test District Council"}
    ]
    missing = client.get("/api/v1/instances/TDC/2099-00-Q1", headers=headers)
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    invalid = client.post(f"/api/v1/instances/{CYCLE}/HOUSING/transitions", headers=headers, json={"nope": 1})
    assert invalid.status_code == 422 and "trigger" in invalid.json()["detail"]
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "pmf-engine"
    assert Accounts(engine.store, engine.clock).revoke_tokens("sm_housing", by="test") == 1
    assert client.get("/api/v1/organisations", headers=headers).status_code == 401, "a revoked token is dead"


def test_api_fire_is_idempotent(api: tuple[TestClient, dict[str, str]], engine: Engine) -> None:
    client, headers = api
    services(engine).performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")  # a complete return
    url = f"/api/v1/instances/{CYCLE}/HOUSING/transitions"
    once = {**headers, "Idempotency-Key": "submit-housing-1"}
    first = client.post(url, headers=once, json={"trigger": "submit", "expected_version": 1})
    assert first.status_code == 201 and first.json()["to_state"] == "submitted"
    again = client.post(url, headers=once, json={"trigger": "submit", "expected_version": 1})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert audited(engine, "fired", "sm_housing") == 1, "the retry fired nothing"
    reused = client.post(
        url, headers=once, json={"trigger": "submit", "expected_version": 1, "reason": "different"}
    )
    assert reused.status_code == 422
    refused = client.post(
        url.replace("HOUSING", "WASTE"), headers=headers, json={"trigger": "submit", "expected_version": 1}
    )
    assert refused.status_code == 403 and refused.json()["title"] == "Not allowed"
    state = client.get(f"/api/v1/instances/{CYCLE}", headers=headers).json()
    assert state["state"] == "data_request" and len(state["children"]) == 3
    trail = client.get(f"/api/v1/instances/{CYCLE}/HOUSING/audit", headers=headers).json()
    assert [e["event"] for e in trail][-1] == "fired"
    measures = client.get(f"/api/v1/instances/{CYCLE}/measures", headers=headers).json()
    assert {m["code"] for m in measures} >= {"HOU-01", "WAS-01"}
    content = client.get(f"/api/v1/instances/{CYCLE}/report", headers=headers).json()
    assert content["frozen"] is None and content["content"]["cycle"] == CYCLE


# -- the dependencies: membership, CSRF, the status table -----------------------------------------


def test_membership_of_the_organisation_in_the_path(client: TestClient, engine: Engine) -> None:
    engine.directory.add_organisation("OTH", "Other Borough Council")
    engine.directory.add_actor("outsider", "Outsider")
    engine.directory.grant("outsider", "auditor", "OTH")
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("outsider", PASSWORD, by="test")
    sign_in(client, "outsider")
    assert client.get("/orgs/OTH").status_code == 200
    for path in (
        f"/orgs/{ORG}",
        f"/orgs/{ORG}/measures",
        f"/orgs/{ORG}/audit.csv",
        f"/instances/{CYCLE}",
        f"/instances/{CYCLE}/report",
        f"/instances/{CYCLE}/HOUSING/template.xlsx",
    ):
        refused = client.get(path)
        assert refused.status_code == 403 and "You cannot see this page" in refused.text, path
    token = csrf(client, "/orgs/OTH")
    posted = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "1"},
    )
    assert posted.status_code == 403 and "outsider holds no role in TDC" in posted.text
    forged = client.post(f"/instances/{CYCLE}/fire", data={"csrf_token": "nope", "trigger": "submit"})
    assert forged.status_code == 403 and "The form has expired" in forged.text, "CSRF before membership"
    assert client.get("/orgs/NOPE/actions").status_code == 404
    headers = {"Authorization": f"Bearer {accounts.create_token('outsider', 'script', by='test')}"}
    assert client.get("/api/v1/organisations", headers=headers).json() == [
        {"code": "OTH", "name": "Other Borough Council"}
    ]
    api_refused = client.get(f"/api/v1/instances/{CYCLE}/HOUSING", headers=headers)
    assert api_refused.status_code == 403 and api_refused.json()["title"] == "Forbidden"
    assert client.get("/api/v1/organisations/NOPE/cycles", headers=headers).json()["status"] == 404


def test_a_page_reads_the_organisations_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(client, "perf")
    calls: list[str] = []
    read = queries.organisations_of

    def counted(store: object, username: str) -> list[tuple[str, str]]:
        calls.append(username)
        return read(store, username)  # type: ignore[arg-type]

    monkeypatch.setattr(queries, "organisations_of", counted)
    page = client.get(f"/instances/{CYCLE}")
    assert page.status_code == 200 and f'href="/orgs/{ORG}/audit"' in page.text
    assert calls == ["perf"], "the membership check and the menu share one read"


def test_return_routes_and_statuses_from_the_table(client: TestClient) -> None:
    sign_in(client, "sm_housing")
    template = client.get(f"/instances/{CYCLE}/HOUSING/template.xlsx")
    assert template.status_code == 200 and "spreadsheetml" in template.headers["content-type"]
    assert f'filename="{ORG}-2024-25-Q1-HOUSING-return.xlsx"' in template.headers["content-disposition"]
    assert client.get(f"/instances/{CYCLE}/template.xlsx").status_code == 404, "a cycle has no return"
    assert client.get(f"/instances/{ORG}/template.xlsx").status_code == 404
    assert client.get(f"/instances/{ORG}").status_code == 404
    token = csrf(client, f"/instances/{CYCLE}/HOUSING")
    unknown = client.post(
        f"/instances/{CYCLE}/HOUSING/fire",
        data={"csrf_token": token, "trigger": "zap", "expected_version": 1},
    )
    assert unknown.status_code == 422 and "There is a problem" in unknown.text, "UnknownTrigger: 422"


def test_a_step_takes_the_data_its_workflow_declares(client: TestClient, engine: Engine) -> None:
    """No data key is built into the page: CMT picks the returns the step's cascade reopens
    from checkboxes of the cycle's children, sent under the key the workflow declares."""
    Accounts(engine.store, engine.clock).set_password("cmt", PASSWORD, by="test")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    sign_in(client, "cmt")
    page = client.get(f"/instances/{CYCLE}")
    assert 'name="services" type="checkbox" value="HOUSING"' in page.text
    assert 'name="services" type="checkbox" value="WASTE"' in page.text
    token = csrf(client, f"/instances/{CYCLE}")
    sent = client.post(
        f"/instances/{CYCLE}/fire",
        data={
            "csrf_token": token,
            "trigger": "return_to_services",
            "expected_version": shown_version(client, f"/instances/{CYCLE}"),
            "reason": "Voids",
            "services": ["HOUSING"],
        },
    )
    assert sent.status_code == 303, sent.text[:500]
    states = {c.service: c.state for c in engine.status(CYCLE).children}
    assert states == {"HOUSING": "returned", "PLANNING": "accepted", "WASTE": "accepted"}
    with engine.store.read() as s:
        fired = s.scalars(
            select(AuditEntry).where(AuditEntry.trigger == "return_to_services", AuditEntry.event == "fired")
        ).one()
        assert '"services":["HOUSING"]' in fired.data
