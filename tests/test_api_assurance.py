"""The annual report, sign-off and evidence routes of the JSON API
(``interfaces/web/api_assurance.py``) on SQLite and PostgreSQL: a year's annual report as a
draft and, after the Q4 sign-off, as frozen with its hash (the restricted narrative for the
organisation's members, never in the public version); a head of service's sign-off of a
return (refused without the role, and audited, as the page's); evidence uploaded with the
page's limits, listed and downloaded as the page serves it; ``Idempotency-Key`` on the POSTs,
problem documents naming the field, and no server error whatever the OpenAPI document lets a
client send."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import func, select

from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web import api_assurance
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.assurance_models import Evidence
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services
from tests.test_annual_report import CYCLE_Q4, STRIKE, build_year, sign_off_q4

FIXTURES = Path(__file__).parent / "fixtures"
HOUSING = f"{CYCLE}/HOUSING"
PEOPLE = ("perf", "lead", "sm_housing", "sm_waste", "auditor", "hos_housing", "outsider")
Client = tuple[TestClient, dict[str, dict[str, str]]]


def _client(framework: Framework, people: tuple[str, ...] = PEOPLE) -> Client:
    """A client of the app and each person's bearer header (``outsider``: a person of another
    council, holding no role in the test council)."""
    engine = framework.engine
    engine.directory.add_organisation("OTH", "Other Council")
    engine.directory.add_actor("outsider", "Outsider")
    engine.directory.grant("outsider", "performance_officer", "OTH")
    accounts = Accounts(engine.store, engine.clock)
    headers = {
        user: {"Authorization": f"Bearer {accounts.create_token(user, 'script', by='test')}"}
        for user in people
    }
    app = create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="t", secure_cookies=False))
    return TestClient(app, follow_redirects=False), headers


@pytest.fixture
def council(engine: Engine) -> Framework:
    """The test council with its measures, a head of service for HOUSING, and Q1 started."""
    engine.directory.add_actor("hos_housing", "Head of Housing")
    engine.directory.grant("hos_housing", "head_of_service", ORG, service="HOUSING")
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return framework


@pytest.fixture
def api(council: Framework) -> Client:
    return _client(council)


@pytest.fixture
def year(engine: Engine, tmp_path: Path) -> tuple[Framework, Client]:
    """The year of ``tests/test_annual_report.py`` (history to Q3, the Q4 cycle with figures, a
    red with its narrative and exception report, a revised target) and a client of it."""
    framework = build_year(engine, tmp_path)
    return framework, _client(framework, tuple(p for p in PEOPLE if p != "hos_housing"))


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text[:400])
    assert answer.headers["content-type"] == "application/problem+json"
    found: dict[str, Any] = answer.json()
    return found


def _events(engine: Engine, key: str, event: str) -> list[tuple[str, str]]:
    with engine.store.read() as s:
        return [(e.actor, e.reason or "") for e in audit.trail(s, key) if e.event == event]


# -- the annual report --------------------------------------------------------------------------

ANNUAL = f"/api/v1/organisations/{ORG}/annual-report/2024-25"


def test_the_draft_annual_report_has_quarters_outturns_targets_and_the_directors_comments(
    year: tuple[Framework, Client],
) -> None:
    """Before the Q4 sign-off: a draft, gathered live, as the page shows it; a member (an
    auditor here) reads the reds' restricted narrative."""
    _, (client, headers) = year
    answer = client.get(ANNUAL, headers=headers["auditor"])
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["status"], found["public"], found["frozen"]) == ("draft", False, None)
    content = found["content"]
    assert (content["code"], content["year"], content["organisation"]) == (
        ORG,
        "2024-25",
        "Test District Council",
    )
    measures = {m["code"]: m for m in content["measures"]}
    hou01, hou06, was01 = measures["HOU-01"], measures["HOU-06"], measures["WAS-01"]
    assert [(q["period"], q["value"]) for q in hou01["quarters"]] == [
        ("2024-25-Q1", 27), ("2024-25-Q2", 26), ("2024-25-Q3", 26), ("2024-25-Q4", 25),
    ]  # fmt: skip
    assert (hou01["outturn"], hou01["outturn_note"], hou01["rag"]["status"]) == (26, "mean of Q1-Q4", "green")
    assert (hou06["outturn"], hou06["original"], hou06["revised"], hou06["revised_from"]) == (
        103, 100, 108, "2024-25-Q3",
    )  # fmt: skip
    assert hou06["revision_reason"] == "grant for 8 more homes" and hou06["rag"]["status"] == "amber"
    assert [y for y, _ in hou01["years"]] == ["2022-23", "2023-24", "2024-25"]
    assert hou01["since_last_year"] == "improving"  # 26 days against 2023-24's 29: lower is better
    assert (found["reds"], found["went_well"]) == (["WAS-01"], ["HOU-01", "HOU-06", "WAS-06"])
    assert was01["comments"] == {
        "narrative": STRIKE, "reason": "SECRET-strike", "remedial_action": "Catch-up rounds",
        "owner": "sm_waste", "recovery_date": "2025-09-30",
    }  # fmt: skip
    assert content["themes"]["Environment"]["red"] == 1


def test_the_public_version_has_no_restricted_narrative_and_withholds_unapproved_quarters(
    year: tuple[Framework, Client],
) -> None:
    _, (client, headers) = year
    answer = client.get(f"{ANNUAL}?public=true", headers=headers["perf"])
    assert answer.status_code == 200, answer.text
    assert "SECRET" not in answer.text and "Catch-up rounds" not in answer.text
    found = answer.json()
    assert found["public"] and found["content"]["public"]
    quarters = [f"2024-25-Q{q}" for q in (1, 2, 3, 4)]  # Q4 not approved yet, Q1-Q3 loaded as history
    assert found["content"]["withheld"] == quarters
    was01 = next(m for m in found["content"]["measures"] if m["code"] == "WAS-01")
    assert was01["comments"] is None
    assert [(q["value"], q["withheld"]) for q in was01["quarters"]] == [(None, True)] * 4
    assert "SECRET" in client.get(ANNUAL, headers=headers["perf"]).text, "the full version has it"


def test_after_the_q4_sign_off_the_report_is_frozen_with_the_hash_the_audit_log_holds(
    year: tuple[Framework, Client],
) -> None:
    framework, (client, headers) = year
    sign_off_q4(framework)
    framework.performance.restate(CYCLE_Q4, "HOU-01", 40, reason="late correction", by="perf")
    full = client.get(ANNUAL, headers=headers["auditor"]).json()
    public = client.get(f"{ANNUAL}?public=true", headers=headers["auditor"]).json()
    with framework.engine.store.read() as s:
        logged = [json.loads(e.data) for e in audit.trail(s, CYCLE_Q4) if e.event == "annual_report.frozen"]
    assert len(logged) == 1
    for found, digest in ((full, logged[0]["sha256"]), (public, logged[0]["public_sha256"])):
        assert found["status"] == "frozen" and found["frozen"]["by"] == "lead"
        assert found["frozen"]["sha256"] == digest
        canonical = json.dumps(found["content"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == digest, "the content is what was hashed"
    hou01 = next(m for m in full["content"]["measures"] if m["code"] == "HOU-01")
    assert hou01["quarters"][-1]["value"] == 25, "as frozen: the later restatement is not in it"
    assert "SECRET" not in json.dumps(public) and "SECRET" in json.dumps(full)


def test_the_annual_report_refuses_a_bad_year_an_unknown_council_and_a_stranger(
    year: tuple[Framework, Client],
) -> None:
    _, (client, headers) = year
    assert "year" in _problem(client.get(f"/api/v1/organisations/{ORG}/annual-report/24-25",
                                         headers=headers["perf"]), 422)["detail"]  # fmt: skip
    assert "year" in _problem(client.get(f"/api/v1/organisations/{ORG}/annual-report/2024-26",
                                         headers=headers["perf"]), 422)["detail"]  # fmt: skip
    _problem(client.get(f"{ANNUAL}?public=perhaps", headers=headers["perf"]), 422)
    for edge in ("0000-01", "0001-02", "0002-03", "9999-00"):  # years the look-back cannot reach back over
        edgy = client.get(f"/api/v1/organisations/{ORG}/annual-report/{edge}", headers=headers["perf"])
        assert edgy.status_code in (200, 422), (edge, edgy.status_code, edgy.text[:300])
    _problem(client.get("/api/v1/organisations/NOPE/annual-report/2024-25", headers=headers["perf"]), 404)
    _problem(client.get(ANNUAL, headers=headers["outsider"]), 403)
    _problem(client.get(ANNUAL), 401)


# -- sign-off -----------------------------------------------------------------------------------

SIGN_OFF = f"/api/v1/instances/{HOUSING}/sign-off"


def _submit_housing(framework: Framework) -> None:
    framework.performance.record_actual(CYCLE, "HOU-01", 29, quality="validated", by="sm_housing")
    framework.engine.fire(HOUSING, "submit", "sm_housing")


def test_the_head_of_service_signs_a_return_off_and_it_may_then_be_accepted(
    api: Client, council: Framework
) -> None:
    client, headers = api
    _submit_housing(council)
    answer = client.post(SIGN_OFF, headers=headers["hos_housing"])
    assert answer.status_code == 201, answer.text
    signed = answer.json()
    assert (signed["return"], signed["signed_by"], signed["role"], signed["late"]) == (
        HOUSING, "hos_housing", "head_of_service", False,
    )  # fmt: skip
    assert signed["signed_at"].startswith("2024-07-01T08:00:00")
    assert [a for a, _ in _events(council.engine, HOUSING, "return.signed_off")] == ["hos_housing"]
    assert council.engine.fire(HOUSING, "accept", "perf").to_state == "accepted"
    summary = client.get(f"/api/v1/organisations/{ORG}/assurance/2024-25-Q1", headers=headers["auditor"])
    housing = next(r for r in summary.json()["returns"] if r["service"] == "HOUSING")
    assert (housing["signed_by"], housing["late"]) == ("hos_housing", False)


def test_a_sign_off_without_the_role_is_refused_and_audited_and_one_not_due_is_409(
    api: Client, council: Framework
) -> None:
    client, headers = api
    engine = council.engine
    early = client.post(SIGN_OFF, headers=headers["hos_housing"])
    assert "signed off when Submitted" in _problem(early, 409)["detail"]
    _submit_housing(council)
    for who in ("sm_housing", "perf", "auditor"):
        assert "head_of_service" in _problem(client.post(SIGN_OFF, headers=headers[who]), 403)["detail"]
    with engine.store.read() as s:
        refused = s.scalars(
            select(AuditEntry.actor).where(AuditEntry.event == "refused", AuditEntry.instance == HOUSING)
        ).all()
    assert sorted(refused) == ["auditor", "perf", "sm_housing"], "each refusal is in the audit log"
    _problem(client.post(SIGN_OFF, headers=headers["outsider"]), 403)
    _problem(client.post(f"/api/v1/instances/{CYCLE}/sign-off", headers=headers["hos_housing"]), 404)
    _problem(client.post(f"/api/v1/instances/{CYCLE}/NOPE/sign-off", headers=headers["hos_housing"]), 404)
    assert client.post(SIGN_OFF, headers=headers["hos_housing"]).status_code == 201
    again = client.post(SIGN_OFF, headers=headers["hos_housing"])
    assert "already signed off" in _problem(again, 409)["detail"]
    assert len(_events(engine, HOUSING, "return.signed_off")) == 1


def test_a_retried_sign_off_with_its_idempotency_key_signs_once(api: Client, council: Framework) -> None:
    client, headers = api
    _submit_housing(council)
    once = {**headers["hos_housing"], "Idempotency-Key": "sign-housing-q1"}
    first = client.post(SIGN_OFF, headers=once)
    retry = client.post(SIGN_OFF, headers=once)
    assert (first.status_code, retry.status_code) == (201, 201) and first.json() == retry.json()
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(_events(council.engine, HOUSING, "return.signed_off")) == 1
    elsewhere = client.post(f"/api/v1/instances/{CYCLE}/WASTE/sign-off", headers=once)
    assert _problem(elsewhere, 422)["title"] == "Idempotency-Key reused"


# -- evidence -----------------------------------------------------------------------------------

EVIDENCE = f"/api/v1/organisations/{ORG}/evidence/2024-25-Q1"
UPLOAD = f"{EVIDENCE}/upload"


def _upload(
    client: TestClient, headers: dict[str, str], name: str, content: bytes, measure: str = "HOU-01"
) -> Any:
    return client.post(UPLOAD, headers=headers, data={"measure": measure}, files={"file": (name, content)})


def test_evidence_is_uploaded_listed_and_downloaded_as_the_page_serves_it(
    api: Client, council: Framework
) -> None:
    client, headers = api
    council.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")
    content = b"week,voids\n1,12\n2,11\n"
    answer = _upload(client, headers["sm_housing"], "../../etc/Voids log.csv", content)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (made["measure"], made["period"], made["label"], made["kind"], made["size"]) == (
        "HOU-01", "2024-25-Q1", "Voids log.csv", "csv", len(content),
    )  # fmt: skip
    assert made["sha256"] == hashlib.sha256(content).hexdigest() and made["uploaded_by"] == "sm_housing"
    listed = client.get(EVIDENCE, headers=headers["auditor"])
    assert listed.status_code == 200 and listed.json() == [made]
    api_file = client.get(made["download"], headers=headers["auditor"])
    assert api_file.status_code == 200 and api_file.content == content
    assert api_file.headers["content-type"] == "text/csv; charset=utf-8"
    assert api_file.headers["content-disposition"] == (
        "attachment; filename=\"Voids log.csv\"; filename*=UTF-8''Voids%20log.csv"
    )
    assert api_file.headers["x-content-type-options"] == "nosniff"
    assert api_file.headers["content-security-policy"] == "default-src 'none'; sandbox"
    with council.engine.store.read() as s:
        attached = [json.loads(e.data) for e in audit.trail(s, CYCLE) if e.event == "evidence.attached"]
    assert [(a["measure"], a["label"], a["sha256"]) for a in attached] == [
        ("HOU-01", "Voids log.csv", made["sha256"])
    ]
    assert (
        client.get(f"/api/v1/organisations/{ORG}/evidence/2024-25-Q2", headers=headers["perf"]).status_code
        == 404
    )
    _problem(
        client.get(f"/api/v1/organisations/{ORG}/evidence/2024-25-Q2/{made['id']}", headers=headers["perf"]),
        404,
    )
    _problem(client.get(f"{EVIDENCE}/{made['id'] + 1}", headers=headers["perf"]), 404)
    assert "evidence" in _problem(client.get(f"{EVIDENCE}/{2**31}", headers=headers["perf"]), 422)["detail"]
    assert (
        "period"
        in _problem(
            client.get(f"/api/v1/organisations/{ORG}/evidence/2024-25", headers=headers["perf"]), 422
        )["detail"]
    )
    _problem(client.get(made["download"], headers=headers["outsider"]), 403)
    _problem(
        client.get(
            f"/api/v1/organisations/OTH/evidence/2024-25-Q1/{made['id']}", headers=headers["outsider"]
        ),
        404,
    )


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("big.csv", b"a\n" * (5 * 1024 * 1024 // 2 + 1), "evidence may be at most 5,242,880"),
        ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "named .pdf but its content is PNG"),
        ("run.sh", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "cannot recognise"),
        ("sums.csv", b"a,b\n=1+2,3\n", "formulas"),
        ("empty.csv", b"", "empty"),
    ],
)
def test_an_upload_the_page_would_refuse_is_a_422_naming_evidence_and_stores_nothing(
    api: Client, council: Framework, name: str, content: bytes, why: str
) -> None:
    client, headers = api
    council.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")
    problem = _problem(_upload(client, headers["sm_housing"], name, content), 422)
    assert problem["detail"].startswith(f"file {name!r}: ") and why in problem["detail"], problem
    with council.engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 0


def test_an_upload_by_someone_who_may_not_report_or_before_the_figure_is_refused(
    api: Client, council: Framework
) -> None:
    client, headers = api
    content = b"a,b\n1,2\n"
    assert "no figure" in _problem(_upload(client, headers["sm_housing"], "e.csv", content), 409)["detail"]
    council.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")
    _problem(_upload(client, headers["sm_waste"], "e.csv", content), 403)
    _problem(_upload(client, headers["auditor"], "e.csv", content), 403)
    _problem(_upload(client, headers["outsider"], "e.csv", content), 403)
    _problem(_upload(client, headers["sm_housing"], "e.csv", content, measure="NOPE-1"), 404)
    huge = _upload(
        client, headers["sm_housing"], "e.csv", b"a\n" * (5 * 1024 * 1024 + 1)
    )  # > the gate's 10 MiB
    assert "too large" in _problem(huge, 413)["detail"], "refused before the body is read"
    missing = client.post(UPLOAD, headers=headers["sm_housing"], data={"measure": "HOU-01"})
    assert "file" in _problem(missing, 422)["detail"]
    no_cycle = f"/api/v1/organisations/{ORG}/evidence/2024-25-Q3/upload"
    _problem(client.post(no_cycle, headers=headers["sm_housing"], data={"measure": "HOU-01"},
                         files={"file": ("e.csv", content)}), 404)  # fmt: skip
    with council.engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 0


def test_a_retried_upload_with_its_idempotency_key_attaches_once(api: Client, council: Framework) -> None:
    client, headers = api
    council.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")
    once = {**headers["sm_housing"], "Idempotency-Key": "voids-log"}
    first = _upload(client, once, "e.csv", b"a,b\n1,2\n")
    retry = _upload(client, once, "e.csv", b"a,b\n1,2\n")
    assert (first.status_code, retry.status_code) == (201, 201) and first.json() == retry.json()
    assert retry.headers["idempotent-replayed"] == "true"
    other = _upload(client, once, "e.csv", b"a,b\n1,3\n")
    assert _problem(other, 422)["title"] == "Idempotency-Key reused", "other bytes: another request"
    with council.engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 1


# -- the OpenAPI document -----------------------------------------------------------------------


def test_openapi_declares_the_routes_the_upload_form_and_the_bearer_scheme(api: Client) -> None:
    client, _ = api
    document = client.get("/api/v1/openapi.json").json()
    paths = {r.path for r in api_assurance.router.routes if isinstance(r, APIRoute)}
    assert paths == {
        "/api/v1/organisations/{org}/annual-report/{year}",
        "/api/v1/instances/{key:path}/sign-off",
        "/api/v1/organisations/{org}/evidence/{period}",
        "/api/v1/organisations/{org}/evidence/{period}/upload",
        "/api/v1/organisations/{org}/evidence/{period}/{evidence}",
    }
    for path in paths:
        item = document["paths"][path.replace("{key:path}", "{key}")]
        for op in item.values():
            assert op["security"] == [{"bearer": []}] and {"401", "403", "404", "422"} <= set(op["responses"])
    upload = document["paths"]["/api/v1/organisations/{org}/evidence/{period}/upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema = document["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]] if "$ref" in form else form
    assert set(schema["required"]) == {"measure", "file"}
    assert {p["name"] for p in upload["parameters"]} >= {"org", "period", "idempotency-key"}
    download = document["paths"]["/api/v1/organisations/{org}/evidence/{period}/{evidence}"]["get"]
    evidence = next(p for p in download["parameters"] if p["name"] == "evidence")
    assert evidence["schema"]["maximum"] == 2**31 - 1


def test_schemathesis_finds_no_server_error_on_these_routes(api: Client, council: Framework) -> None:
    """Requests generated from the OpenAPI document for each route, in process, as the head of
    housing (who may sign off) against a council with a submitted return and evidence: the
    API answers without a 5xx."""
    client, headers = api
    council.performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")
    council.evidence.attach(CYCLE, "HOU-01", "e.csv", b"a,b\n1,2\n", by="sm_housing")
    council.engine.fire(HOUSING, "submit", "sm_housing")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    paths = {
        r.path.replace("{key:path}", "{key}") for r in api_assurance.router.routes if isinstance(r, APIRoute)
    }
    operations = [op for result in schema.get_all_operations() if (op := result.ok()).path in paths]
    assert len(operations) == len(paths) == 5
    seen: dict[str, set[int]] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            parameters = case.path_parameters or {}
            if "org" in parameters:
                parameters["org"] = ORG
            case.path_parameters = parameters
            response = case.call(headers=headers["hos_housing"])
            case.validate_response(response, checks=[not_a_server_error])
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        no_server_error()
    reached = {label for label, statuses in seen.items() if statuses & {200, 201}}
    assert len(reached) >= 2, f"the examples reach real data: {seen}"
