"""The set-up page: an administrator uploads a council file, or people and services for their
organisation, from the browser; a refused file changes nothing and its problems are listed in
a GOV.UK error summary by line and field."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import ORG, ROOT, SHIPPED_POLICIES
from tests.test_web import PASSWORD, csrf, sign_in

EXAMPLES = ROOT / "examples" / "council_setup"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    engine.directory.add_actor("admin", "Admin", by="system")
    engine.directory.grant("admin", "administrator", ORG, by="system")
    accounts = Accounts(engine.store, engine.clock)
    for user in ("admin", "perf"):
        accounts.set_password(user, PASSWORD, by="test")
    app = create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="test-secret", secure_cookies=False)
    )
    return TestClient(app, follow_redirects=False)


def _entries(engine: Engine) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _upload(client: TestClient, path: str, name: str, content: bytes, token: str | None = None):  # type: ignore[no-untyped-def]
    token = token if token is not None else csrf(client, "/setup")
    return client.post(
        path, data={"csrf_token": token}, files={"file": (name, content, "application/octet-stream")}
    )


def _summary(page: str) -> list[str]:
    assert 'class="govuk-error-summary"' in page
    return [re.sub(r"&#39;", "'", m) for m in re.findall(r'<li><a href="#[^"]+">([^<]+)</a></li>', page)]


def test_the_page_is_for_administrators(client: TestClient) -> None:
    assert client.get("/setup").status_code == 303  # sign in first
    sign_in(client, "perf")
    assert client.get("/setup").status_code == 403
    client.cookies.clear()
    sign_in(client, "admin")
    page = client.get("/setup")
    assert page.status_code == 200
    assert 'action="/setup/upload"' in page.text
    assert (
        'action="/orgs/TDC/people/upload"' in page.text and 'action="/orgs/TDC/services/upload"' in page.text
    )


def test_a_council_file_uploaded_sets_up_the_council(client: TestClient, engine: Engine) -> None:
    sign_in(client, "admin")
    done = _upload(client, "/setup/upload", "wexcombe.yaml", (EXAMPLES / "wexcombe.yaml").read_bytes())
    assert done.status_code == 303, done.text[:500]
    page = client.get(done.headers["location"])
    assert "WDC is set up: 3 services and 9 people" in page.text
    assert [s.code for s in engine.directory.services("WDC")] == ["HOUSING", "PLANNING", "WASTE"]
    with engine.store.read() as s:
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.organisation == "WDC")))
    assert actors == {"admin"}


def test_a_bad_council_file_lists_its_problems_and_adds_nothing(client: TestClient, engine: Engine) -> None:
    sign_in(client, "admin")
    before = _entries(engine)
    text = (EXAMPLES / "wexcombe.yaml").read_text()
    bad = text.replace('"service_manager:WASTE"', '"service_manager:WSTE"').replace(
        "{body: leadership,", "{body: leadershp,"
    )
    refused = _upload(client, "/setup/upload", "council.yaml", bad.encode())
    assert refused.status_code == 400
    problems = _summary(refused.text)
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "Wes Walker" in t)
    assert (
        problems[0]
        == f"line {line}, people.3.roles.0: 'service_manager:WSTE': no service 'WSTE' (did you mean 'WASTE'?)"
    )
    assert "did you mean 'leadership'?" in problems[1] and len(problems) == 2
    assert "There is a problem with council.yaml" in refused.text
    assert "govuk-form-group--error" in refused.text and 'href="#council-file"' in refused.text
    assert _entries(engine) == before
    assert [o.code for o, _, _ in engine.directory.organisations()] == [ORG]
    wrong = _upload(client, "/setup/upload", "council.txt", b"x")
    assert wrong.status_code == 400 and "council.txt: use a .yaml or .yml or .xlsx file" in wrong.text


def test_people_and_services_uploaded_for_an_organisation(client: TestClient, engine: Engine) -> None:
    sign_in(client, "admin")
    services = _upload(
        client, f"/orgs/{ORG}/services/upload", "services.csv", b"code,name\nLEISURE,Leisure\n"
    )
    assert (
        services.status_code == 303
        and "1 service added to TDC" in client.get(services.headers["location"]).text
    )
    people = b"username,name,email,roles\nlily,Lily Lane,,service_manager:LEISURE\nomar,Omar Oak,,cmt_membr\n"
    refused = _upload(client, f"/orgs/{ORG}/people/upload", "people.csv", people)
    assert refused.status_code == 400
    (problem,) = _summary(refused.text)
    assert problem.startswith("line 3, roles: 'cmt_membr': unknown role (did you mean 'cmt_member'?)")
    assert 'href="#people-file-TDC"' in refused.text
    assert "lily" not in {p.username for p, _ in engine.directory.actors()}
    done = _upload(
        client, f"/orgs/{ORG}/people/upload", "people.csv", people.replace(b"cmt_membr", b"cmt_member")
    )
    assert done.status_code == 303
    assert {"lily", "omar"} <= {p.username for p, _ in engine.directory.actors()}


def test_uploads_need_the_permission_the_csrf_token_and_the_organisation(
    client: TestClient, engine: Engine
) -> None:
    engine.directory.add_organisation("OTH", "Other Council", by="system")
    sign_in(client, "admin")
    token = csrf(client, "/setup")
    before = _entries(engine)
    assert (
        _upload(
            client, f"/orgs/{ORG}/services/upload", "s.csv", b"code,name\nX,Y\n", token="nope"
        ).status_code
        == 403
    )
    assert (
        _upload(client, "/orgs/OTH/services/upload", "s.csv", b"code,name\nX,Y\n", token).status_code == 403
    )
    assert (
        _upload(client, "/orgs/OTH/people/upload", "p.csv", b"username,name\nx,Y\n", token).status_code == 403
    )
    client.cookies.clear()
    assert _entries(engine) == before
    sign_in(client, "perf")  # a member of TDC without people.manage or organisation.manage
    token = csrf(client, f"/orgs/{ORG}")
    before = _entries(engine)
    assert (
        _upload(client, f"/orgs/{ORG}/people/upload", "p.csv", b"username,name\nx,Y\n", token).status_code
        == 403
    )
    assert (
        _upload(
            client, "/setup/upload", "c.yaml", (EXAMPLES / "wexcombe.yaml").read_bytes(), token
        ).status_code
        == 403
    )
    assert _entries(engine) == before


def test_a_cancelled_cycle_shows_as_cancelled(client: TestClient, engine: Engine) -> None:
    """The cycle page and the organisation's page of a cancelled cycle: its stage is Cancelled and
    no step is offered."""
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    Framework(engine, SHIPPED_POLICIES).cancellation.cancel(f"{ORG}/2024-25-Q1", by="admin", reason="mistake")
    sign_in(client, "perf")
    page = client.get(f"/instances/{ORG}/2024-25-Q1")
    assert page.status_code == 200 and ">Cancelled</h1>" in page.text
    assert 'action="/instances/TDC/2024-25-Q1/fire"' not in page.text
    assert client.get(f"/orgs/{ORG}").status_code == 200
    assert client.get(f"/instances/{ORG}/2024-25-Q1/HOUSING").status_code == 200
    assert client.get(f"/instances/{ORG}/2024-25-Q1/report").status_code == 200
