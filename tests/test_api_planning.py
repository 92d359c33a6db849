"""The planning-and-assurance routes of the JSON API (``interfaces/web/api_planning.py``) on
SQLite and PostgreSQL: a year's targets with their history, proposing and deciding one (the
pages' permissions, ``Idempotency-Key``, problem documents naming the field), service plans
with their workflow state and steps (fired through ``/instances/{key}/transitions``), the risk
register on its ladder and a quarter's assurance summary; and the OpenAPI document's bearer
scheme on every route that needs a token."""

from __future__ import annotations

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

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, IdempotencyKey
from pmf_engine.interfaces.web import api_planning
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SERVICES, SHIPPED_POLICIES, services
from tests.test_risks import RISKS

FIXTURES = Path(__file__).parent / "fixtures"
YEAR = "2024-25"
HOUSING_PLAN = f"{ORG}/plans-{YEAR}/HOUSING"
PEOPLE = ("perf", "both", "lead", "sm_housing", "sm_waste", "auditor", "hos_housing")


@pytest.fixture
def framework(engine: Engine, tmp_path: Path) -> Framework:
    """The test council with measures, projects, a Head of Service for each service, four risks
    and the first quarter's cycle open."""
    for service in SERVICES:
        engine.directory.add_actor(f"hos_{service.lower()}", f"Head of {service.title()}")
        engine.directory.grant(f"hos_{service.lower()}", "head_of_service", ORG, service=service)
    found = services(engine)
    found.performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    found.projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf")
    path = tmp_path / "risks.csv"
    path.write_text(RISKS, encoding="utf-8")
    found.risks.import_risks(ORG, path, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return found


@pytest.fixture
def api(framework: Framework) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """A client of the app and each person's bearer header."""
    engine = framework.engine
    accounts = Accounts(engine.store, engine.clock)
    headers = {
        user: {"Authorization": f"Bearer {accounts.create_token(user, 'script', by='test')}"}
        for user in PEOPLE
    }
    app = create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="t", secure_cookies=False))
    return TestClient(app, follow_redirects=False), headers


def _events(engine: Engine, prefix: str) -> list[tuple[str, str]]:
    with engine.store.read() as s:
        return [
            (e.event, e.actor)
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.event.like(f"{prefix}%")).order_by(AuditEntry.seq)
            )
        ]


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text[:400])
    assert answer.headers["content-type"] == "application/problem+json"
    found: dict[str, Any] = answer.json()
    return found


# -- targets ------------------------------------------------------------------------------------


def test_a_years_targets_show_original_revised_status_and_every_decision(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    targets = framework.targets
    proposed = targets.propose(ORG, "HOU-01", YEAR, 27, reason="new IT system", by="both")
    targets.agree(ORG, proposed.id, reason="fits the trend", by="perf")
    targets.agree(ORG, proposed.id, reason="budget meeting", by="lead")
    revision = targets.revise(
        ORG, "HOU-01", YEAR, 30, reason="contractor lost", by="both", effective_from="2024-25-Q3"
    )
    targets.agree(ORG, revision.id, reason="accepted", by="lead")
    pending = targets.propose(ORG, "WAS-01", YEAR, 50, reason="new rounds", by="perf")
    answer = client.get(f"/api/v1/organisations/{ORG}/targets/{YEAR}", headers=headers["auditor"])
    assert answer.status_code == 200, answer.text
    found = {m["measure"]: m for m in answer.json()["measures"]}
    assert answer.json()["year"] == YEAR
    hou = found["HOU-01"]
    assert (hou["original"], hou["revised"], hou["revised_from"]) == (27, 30, "2024-25-Q3")
    assert hou["revision_reason"] == "contractor lost"
    assert [(t["kind"], t["value"], t["state"], t["awaiting"]) for t in hou["targets"]] == [
        ("original", 27, "agreed", None),
        ("revision", 30, "agreed", None),
    ]
    history = hou["targets"][0]["decisions"]
    assert [(d["stage"], d["decision"], d["by"], d["reason"]) for d in history] == [
        ("Performance team", "agreed", "perf", "fits the trend"),
        ("Leadership Team", "agreed", "lead", "budget meeting"),
    ]
    assert all(d["at"].startswith("2024-07-01T08:00:00") for d in history)
    assert hou["targets"][0]["proposed_by"] == "both" and hou["targets"][0]["reason"] == "new IT system"
    was = found["WAS-01"]
    assert was["targets"] == [
        {**was["targets"][0], "id": pending.id, "state": "proposed", "awaiting": "Performance team"}
    ]
    assert was["revised"] is None
    invalid = _problem(client.get(f"/api/v1/organisations/{ORG}/targets/2024", headers=headers["perf"]), 422)
    assert "year" in invalid["detail"]


def test_a_target_is_proposed_and_decided_with_the_pages_permissions(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    engine = framework.engine
    url = f"/api/v1/organisations/{ORG}/targets"
    body = {"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "stretch"}
    refused = _problem(client.post(url, headers=headers["sm_waste"], json=body), 403)
    assert "HOU-01" in refused["detail"], "a service proposes only its own measures' targets"
    proposed = client.post(url, headers=headers["sm_housing"], json=body)
    assert proposed.status_code == 201, proposed.text
    target = proposed.json()
    assert (target["state"], target["awaiting"], target["proposed_by"]) == (
        "proposed",
        "Performance team",
        "sm_housing",
    )
    again = _problem(client.post(url, headers=headers["perf"], json=body | {"value": 24}), 409)
    assert "awaits the Performance team" in again["detail"]
    decide = f"{url}/{target['id']}/decisions"
    own = _problem(
        client.post(decide, headers=headers["sm_housing"], json={"decision": "agree", "reason": "mine"}), 403
    )
    assert "Performance team" in own["detail"]
    agreed = client.post(decide, headers=headers["perf"], json={"decision": "agree", "reason": "fits"})
    assert agreed.status_code == 201 and agreed.json()["awaiting"] == "Leadership Team"
    twice = _problem(
        client.post(decide, headers=headers["perf"], json={"decision": "agree", "reason": "again"}), 403
    )
    assert "Leadership Team" in twice["detail"]
    back = client.post(decide, headers=headers["lead"], json={"decision": "send_back", "reason": "too soft"})
    assert back.status_code == 201 and back.json()["state"] == "sent_back"
    assert [d["decision"] for d in back.json()["decisions"]] == ["agreed", "sent_back"]
    late = _problem(
        client.post(decide, headers=headers["lead"], json={"decision": "agree", "reason": "x"}), 409
    )
    assert "sent back" in late["detail"]
    agreed = framework.targets.propose(ORG, "HOU-01", YEAR, 28, reason="as before", by="perf")
    framework.targets.agree(ORG, agreed.id, reason="fits", by="both")
    framework.targets.agree(ORG, agreed.id, reason="fits", by="lead")
    revision = client.post(
        url,
        headers=headers["sm_housing"],
        json={"measure": "HOU-01", "year": YEAR, "value": 30, "reason": "contractor lost",
              "kind": "revision", "effective_from": "2024-25-Q2"},
    )  # fmt: skip
    assert revision.status_code == 201, revision.text
    assert (revision.json()["kind"], revision.json()["effective_from"]) == ("revision", "2024-25-Q2")
    assert _events(engine, "target.") == [  # each refusal kept too (issue #15's review)
        ("target.refused", "sm_waste"),
        ("target.proposed", "sm_housing"),
        ("target.refused", "perf"),
        ("target.refused", "sm_housing"),
        ("target.stage_agreed", "perf"),
        ("target.refused", "perf"),
        ("target.sent_back", "lead"),
        ("target.refused", "lead"),
        ("target.proposed", "perf"),
        ("target.stage_agreed", "both"),
        ("target.agreed", "lead"),
        ("target.revision_proposed", "sm_housing"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"measure": "HOU-01", "year": "2025-26", "value": "lots", "reason": "x"}, "value"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "  "}, "reason"),
        ({"measure": "HOU-01", "year": "2025-6", "value": 26, "reason": "x"}, "year"),
        ({"measure": "HOU-01", "year": "2025-26", "value": -5, "reason": "x"}, "value"),
        ({"measure": "HOU-01", "year": "2025-26", "value": float("nan"), "reason": "x"}, "value"),
        ({"measure": "HOU-01", "year": "2025-26", "value": float("inf"), "reason": "x"}, "value"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "x" * 10_001}, "reason"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "x", "kind": "guess"}, "kind"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26}, "reason"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "x", "effective_from": "2025-26-Q2"},
         "effective_from"),
        ({"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "x", "nope": 1}, "nope"),
        (
            {"measure": "HOU-01", "year": YEAR, "value": 26, "reason": "x", "kind": "revision",
             "effective_from": "2025-26-Q1"},
            "effective_from",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    api: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine, body: dict[str, Any], field: str
) -> None:
    client, headers = api
    answer = client.post(  # json.dumps writes NaN and Infinity, as some clients do
        f"/api/v1/organisations/{ORG}/targets",
        headers={**headers["perf"], "Content-Type": "application/json"},
        content=json.dumps(body),
    )
    assert field in _problem(answer, 422)["detail"]
    assert _events(engine, "target.") == []


def test_decisions_name_their_field_and_unknown_things_are_404(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    target = framework.targets.propose(ORG, "HOU-01", "2025-26", 26, reason="stretch", by="both")
    decide = f"/api/v1/organisations/{ORG}/targets/{target.id}/decisions"
    maybe = client.post(decide, headers=headers["perf"], json={"decision": "maybe", "reason": "x"})
    assert "decision" in _problem(maybe, 422)["detail"]
    empty = client.post(decide, headers=headers["perf"], json={"decision": "agree", "reason": ""})
    assert "reason" in _problem(empty, 422)["detail"]
    unknown = {"measure": "NOPE-1", "year": "2025-26", "value": 1, "reason": "x"}
    _problem(client.post(f"/api/v1/organisations/{ORG}/targets", headers=headers["perf"], json=unknown), 404)
    _problem(
        client.post(
            f"/api/v1/organisations/{ORG}/targets/999999/decisions",
            headers=headers["perf"],
            json={"decision": "agree", "reason": "x"},
        ),
        404,
    )
    huge = client.post(
        f"/api/v1/organisations/{ORG}/targets/{2**31}/decisions",
        headers=headers["perf"],
        json={"decision": "agree", "reason": "x"},
    )
    assert "target" in _problem(huge, 422)["detail"], "beyond the id column: not a 500 on PostgreSQL"
    auditor = client.post(decide, headers=headers["auditor"], json={"decision": "agree", "reason": "x"})
    _problem(auditor, 403)


def test_a_retried_post_with_its_idempotency_key_writes_once(
    api: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine
) -> None:
    client, headers = api
    url = f"/api/v1/organisations/{ORG}/targets"
    body = {"measure": "HOU-01", "year": "2025-26", "value": 26, "reason": "stretch"}
    once = {**headers["sm_housing"], "Idempotency-Key": "hou-01-2025-26"}
    first = client.post(url, headers=once, json=body)
    retry = client.post(url, headers=once, json=body)
    assert (first.status_code, retry.status_code) == (201, 201) and first.json() == retry.json()
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert _events(engine, "target.") == [("target.proposed", "sm_housing")]
    reused = client.post(url, headers=once, json=body | {"value": 25})
    assert _problem(reused, 422)["title"] == "Idempotency-Key reused"
    decide = f"{url}/{first.json()['id']}/decisions"
    elsewhere = client.post(decide, headers=once, json={"decision": "agree", "reason": "x"})
    assert _problem(elsewhere, 422)["title"] == "Idempotency-Key reused", "the key names one request"
    perf_once = {**headers["perf"], "Idempotency-Key": "decide-1"}
    decided = client.post(decide, headers=perf_once, json={"decision": "agree", "reason": "fits"})
    replayed = client.post(decide, headers=perf_once, json={"decision": "agree", "reason": "fits"})
    assert (decided.status_code, replayed.status_code) == (201, 201) and decided.json() == replayed.json()
    assert _events(engine, "target.") == [("target.proposed", "sm_housing"), ("target.stage_agreed", "perf")]
    refused = client.post(decide, headers={**headers["perf"], "Idempotency-Key": "decide-2"},
                          json={"decision": "agree", "reason": "again"})  # fmt: skip
    _problem(refused, 403)
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 2, "a refusal is not kept"


# -- service plans ------------------------------------------------------------------------------


def test_plans_are_listed_and_shown_with_their_state_and_steps(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    plans = framework.plans
    plans.start(ORG, YEAR, by="perf")
    plans.write(HOUSING_PLAN, self_evaluation="Voids falling", sections={"partnerships": "With the NHS"},
                by="hos_housing")  # fmt: skip
    framework.engine.fire(HOUSING_PLAN, "submit_self_evaluation", "hos_housing")
    plans.add_action(HOUSING_PLAN, "Cut voids", owner="hos_housing", due="2025-03-31", link="HOU-01",
                     by="hos_housing")  # fmt: skip
    plans.add_risk(HOUSING_PLAN, "Contractor fails", owner="hos_housing", likelihood=4, impact=4,
                   measures=["HOU-01"], by="hos_housing")  # fmt: skip
    framework.plans.report_status(CYCLE, "HOUSING", "A1", "on_track", by="sm_housing")
    listed = client.get(f"/api/v1/organisations/{ORG}/plans?year={YEAR}", headers=headers["auditor"])
    assert listed.status_code == 200, listed.text
    assert [(p["service"], p["state_label"], p["actions"], p["risks"]) for p in listed.json()] == [
        (service, "Writing the action plan" if service == "HOUSING" else "Self-evaluation",
         1 if service == "HOUSING" else 0, 1 if service == "HOUSING" else 0)
        for service in SERVICES
    ]  # fmt: skip
    assert client.get(f"/api/v1/organisations/{ORG}/plans?year=2030-31", headers=headers["perf"]).json() == []
    _problem(client.get(f"/api/v1/organisations/{ORG}/plans?year=soon", headers=headers["perf"]), 422)
    url = f"/api/v1/organisations/{ORG}/plans/{YEAR}/HOUSING"
    shown = client.get(url, headers=headers["hos_housing"])
    assert shown.status_code == 200, shown.text
    plan = shown.json()
    assert (plan["key"], plan["state"], plan["version"]) == (HOUSING_PLAN, "action_planning", 2)
    assert shown.headers["etag"] == '"v2"'
    assert plan["self_evaluation"] == "Voids falling" and plan["editable"]
    assert {s["name"]: s["text"] for s in plan["sections"]}["partnerships"] == "With the NHS"
    assert plan["actions"] == [
        {"ref": "A1", "what": "Cut voids", "owner": "hos_housing", "due": "2025-03-31", "link": "HOU-01",
         "statuses": {"2024-25-Q1": {"status": "on_track", "note": ""}}}
    ]  # fmt: skip
    (risk,) = plan["risks"]  # an entry of the register, as the register's own route answers it
    assert (risk["plan_ref"], risk["code"], risk["title"], risk["register"], risk["service"]) == (
        "R1",
        "HOUSING-2024-25-R1",
        "Contractor fails",
        "operational",
        "HOUSING",
    )
    assert risk["residual"] == {"likelihood": 4, "impact": 4, "score": 16} and risk["measures"] == ["HOU-01"]
    assert (risk["level"], risk["escalated"], risk["plan"], risk["withdrawn_by"]) == (
        "leadership",
        True,
        HOUSING_PLAN,
        "",
    )
    register = client.get(f"/api/v1/organisations/{ORG}/risks", headers=headers["auditor"]).json()["risks"]
    assert [r for r in register if r["code"] == "HOUSING-2024-25-R1"] == [risk]  # fmt: skip
    assert [s["trigger"] for s in plan["next_steps"]] == ["submit_plan"]
    assert plan["transitions"] == f"/api/v1/instances/{HOUSING_PLAN}/transitions"
    assert client.get(url, headers=headers["perf"]).json()["next_steps"] == [], "not theirs to submit"
    _problem(client.get(f"/api/v1/organisations/{ORG}/plans/{YEAR}/NOPE", headers=headers["perf"]), 404)
    _problem(client.get(f"/api/v1/organisations/{ORG}/plans/2030-31/HOUSING", headers=headers["perf"]), 404)


def test_a_plan_moves_through_the_instances_transitions_route(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    """A plan is an instance: ``POST /api/v1/instances/{key}/transitions`` fires its steps, with
    the plan's ETag as ``If-Match``, its guards and roles as on the page."""
    client, headers = api
    plans = framework.plans
    plans.start(ORG, YEAR, by="perf")
    url = f"/api/v1/organisations/{ORG}/plans/{YEAR}/HOUSING"
    fire = f"/api/v1/instances/{HOUSING_PLAN}/transitions"
    etag = client.get(url, headers=headers["hos_housing"]).headers["etag"]
    unwritten = client.post(fire, headers={**headers["hos_housing"], "If-Match": etag},
                            json={"trigger": "submit_self_evaluation"})  # fmt: skip
    assert "self-evaluation is not written" in _problem(unwritten, 409)["detail"]
    plans.write(HOUSING_PLAN, self_evaluation="Voids falling", by="hos_housing")
    etag = client.get(url, headers=headers["hos_housing"]).headers["etag"]
    wrong = client.post(fire, headers={**headers["sm_housing"], "If-Match": etag},
                        json={"trigger": "submit_self_evaluation"})  # fmt: skip
    _problem(wrong, 403)
    fired = client.post(fire, headers={**headers["hos_housing"], "If-Match": etag},
                        json={"trigger": "submit_self_evaluation"})  # fmt: skip
    assert fired.status_code == 201, fired.text
    assert client.get(url, headers=headers["perf"]).json()["state"] == "action_planning"
    assert client.get(f"/api/v1/instances/{HOUSING_PLAN}", headers=headers["perf"]).json()["state"] == (
        "action_planning"
    )


# -- risks and assurance ------------------------------------------------------------------------


def test_the_risk_register_with_scores_levels_owners_and_links(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    framework.risks.review(CYCLE, "R-03", 3, 3, note="contract renewal slipped", by="perf")
    answer = client.get(f"/api/v1/organisations/{ORG}/risks", headers=headers["auditor"])
    assert answer.status_code == 200, answer.text
    found = {r["code"]: r for r in answer.json()["risks"]}
    r01 = found["R-01"]
    assert (r01["inherent"]["score"], r01["residual"]["score"]) == (20, 16)
    assert (r01["inherent"]["likelihood"], r01["inherent"]["impact"]) == (5, 4)
    assert (r01["level"], r01["level_label"], r01["escalated"]) == ("leadership", "Leadership Team", True)
    assert (r01["owner"], r01["service"], r01["register"]) == ("sm_housing", "HOUSING", "operational")
    assert (r01["measures"], r01["projects"]) == (["HOU-01"], ["P-01"])
    assert r01["band"] == "High" and r01["reasons"]
    assert found["R-02"]["service"] is None and found["R-02"]["level"] == "cabinet"
    r03 = found["R-03"]
    assert (r03["residual"]["score"], r03["previous_score"], r03["reviewed_by"]) == (9, 6, "perf")
    assert r03["review_note"] == "contract renewal slipped"
    assert [b["label"] for b in answer.json()["bands"]] == ["Low", "Medium", "High", "Very high"]
    before = client.get(f"/api/v1/organisations/{ORG}/risks?period=2023-24-Q4", headers=headers["perf"])
    assert {r["code"]: r["residual"]["score"] for r in before.json()["risks"]}["R-03"] == 6
    bad = client.get(f"/api/v1/organisations/{ORG}/risks?period=soon", headers=headers["perf"])
    assert "period" in _problem(bad, 422)["detail"]


def test_the_assurance_summary_of_a_quarter(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    client, headers = api
    framework.performance.record_actual(CYCLE, "HOU-01", 29, quality="estimated", by="sm_housing")
    framework.evidence.attach(CYCLE, "HOU-01", "e.csv", b"a,b\n1,2\n", by="sm_housing")
    answer = client.get(f"/api/v1/organisations/{ORG}/assurance/2024-25-Q1", headers=headers["auditor"])
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert (summary["cycle"], summary["period"], summary["sign_off_role"]) == (CYCLE, "2024-25-Q1",
                                                                              "head_of_service")  # fmt: skip
    assert summary["counts"]["estimated"] == 1 and summary["with_evidence"]["estimated"] == 1
    figure = next(f for f in summary["figures"] if f["code"] == "HOU-01")
    assert (figure["value"], figure["quality"], figure["evidence"], figure["reported_by"]) == (
        29,
        "estimated",
        1,
        "sm_housing",
    )
    housing = next(r for r in summary["returns"] if r["service"] == "HOUSING")
    assert (housing["state"], housing["signed_by"], housing["gap"]) == ("requested", None, "")
    assert housing["signers"] == ["hos_housing"]
    assert (summary["late_sign_offs"], summary["unsigned"]) == (0, 0)
    _problem(client.get(f"/api/v1/organisations/{ORG}/assurance/2030-31-Q1", headers=headers["perf"]), 404)
    bad = client.get(f"/api/v1/organisations/{ORG}/assurance/2024-25", headers=headers["perf"])
    assert "period" in _problem(bad, 422)["detail"]


# -- the OpenAPI document -----------------------------------------------------------------------


def test_openapi_declares_the_bearer_scheme_on_every_route_that_needs_a_token(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, _ = api
    document = client.get("/api/v1/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "bearer": {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    }
    assert "pmf actor token" in schemes["bearer"]["description"]
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]
    assert len(operations) > 20
    for path, method, op in operations:
        if path.startswith("/api/v1/open/"):
            assert op.get("security", []) == [], f"{method} {path}: the open feed needs no token"
        else:
            assert op.get("security") == [{"bearer": []}], f"{method} {path} does not reference the scheme"
            assert "401" in op["responses"], f"{method} {path} lists no 401"
            names = [p["name"].lower() for p in op.get("parameters", [])]
            assert "authorization" not in names, "the scheme says it, not a header parameter"
    for path in (
        "/api/v1/organisations/{org}/targets/{year}",
        "/api/v1/organisations/{org}/targets",
        "/api/v1/organisations/{org}/targets/{target}/decisions",
        "/api/v1/organisations/{org}/plans",
        "/api/v1/organisations/{org}/plans/{year}/{service}",
        "/api/v1/organisations/{org}/risks",
        "/api/v1/organisations/{org}/assurance/{period}",
    ):
        assert path in document["paths"], path
    json.dumps(document)  # plain JSON throughout


def test_schemathesis_finds_no_server_error_on_the_planning_routes(
    api: tuple[TestClient, dict[str, dict[str, str]]], framework: Framework
) -> None:
    """Requests generated from the OpenAPI document for each planning and assurance route, in
    process, against a council with targets, plans, risks and a cycle: whatever they send
    (as a performance officer, who may write), the API answers without a 5xx. The network run
    of the whole document is ``tests/test_browser.py``'s."""
    client, headers = api
    framework.plans.start(ORG, YEAR, by="perf")
    framework.targets.propose(ORG, "HOU-01", YEAR, 27, reason="stretch", by="both")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    paths = {r.path for r in api_planning.router.routes if isinstance(r, APIRoute)}
    operations = [op for result in schema.get_all_operations() if (op := result.ok()).path in paths]
    assert len(operations) == len(paths) == 7
    seen: dict[str, set[int]] = {}
    calls = iter(range(10**6))
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            case.path_parameters = {**(case.path_parameters or {}), "org": ORG}  # the council with data
            if "service" in case.path_parameters and next(calls) % 2:
                # A generated service code is never one of the council's: every other case asks
                # for a real one, so the plan route is reached too (its year is still generated).
                case.path_parameters["service"] = "HOUSING"
            response = case.call(headers=headers["perf"])
            case.validate_response(response, checks=[not_a_server_error])
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        no_server_error()
    reached = {label for label, statuses in seen.items() if statuses & {200, 201}}
    assert len(reached) >= 5, f"the examples reach real data: {seen}"
