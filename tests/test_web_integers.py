"""Issue #15's review: an integer out of any column's range, anywhere in a path or query, is
never a 500. The ids and counts are INTEGER columns: ``2**31`` bound to one overflows on
PostgreSQL. The API refused those with a 422 (``core.limits.INTEGER_MAX``); the pages' ids (the
measure page's decide form, the meetings, ``/orgs/ORG/evidence/N``) reached the database.

Every web route of the app's route table, page and API, GET and POST, has each of its path and
query parameters in turn set to ``2**31``, ``2**63``, ``10**30`` and ``-1`` (the others valid),
signed in as a performance officer of the council (a bearer token on the API): never a 500; an
integer path parameter is a 404 on a page (no such thing) and a 422 on the API, an integer query
parameter a 422, as the audit trail's ``before`` has been.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON
from pmf_engine.core.engine import Engine
from pmf_engine.core.limits import INTEGER_MAX
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"
YEAR = "2024-25"
OUT_OF_RANGE = (str(2**31), str(2**63), str(10**30), "-1")
RISKS = (
    "risk,title,register,service,owner,inherent_likelihood,inherent_impact,residual_likelihood,"
    "residual_impact,measures\n"
    "R-01,Voids,operational,HOUSING,perf,4,4,3,3,HOU-01\n"
)
FORM = {
    "trigger": "submit", "code": "HOU-01", "body": "cabinet", "when": "2024-10-01 10:00",
    "reason": "checking", "period": "2024-25-Q1", "year": "2025-26", "value": "20",
    "decision": "agree", "self_evaluation": "x", "what": "x", "owner": "perf", "likelihood": "1",
    "impact": "1", "note": "x", "narrative": "x", "rating": "low", "risk": "x",
}  # fmt: skip
"""What a page's form may ask for: each route takes the fields it knows."""


@pytest.fixture
def council(engine: Engine, tmp_path: Path) -> tuple[TestClient, str, str, dict[str, str]]:
    """The test council with a cycle, a plan (an action, a risk), a proposed target, a risk,
    an evidence file and a meeting; a client signed in as its performance officer, the
    session's CSRF token, a bearer token, and the valid value of each path parameter."""
    framework = services(engine)
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("perf", PASSWORD, by="test")
    token = accounts.create_token("perf", "script", by="test")
    framework.performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    framework.plans.start(ORG, YEAR, by="perf")
    plan = framework.plans.plan_key(ORG, YEAR, "HOUSING")
    framework.plans.add_action(plan, "Relet faster", owner="perf", due="2025-03-31", by="perf")
    framework.plans.add_risk(plan, "Staffing", owner="perf", likelihood=2, impact=2, by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 29, by="perf")
    evidence = framework.evidence.attach(CYCLE, "HOU-01", "e.csv", b"a,b\n1,2\n", by="perf")
    target = framework.targets.propose(ORG, "WAS-01", YEAR, 55, reason="stretch", by="perf")
    (tmp_path / "risks.csv").write_text(RISKS, encoding="utf-8")
    framework.risks.import_risks(ORG, tmp_path / "risks.csv", by="perf")
    meeting = framework.calendar.add(ORG, "cabinet", datetime(2024, 9, 11, 18, tzinfo=LONDON), by="perf")
    client = TestClient(
        create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="t", secure_cookies=False)),
        follow_redirects=False,
        raise_server_exceptions=False,  # a 500 is counted, not raised
    )
    sign_in = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert sign_in is not None
    data = {"username": "perf", "password": PASSWORD, "csrf_token": sign_in.group(1)}
    assert client.post("/sign-in", data=data).status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/orgs/{ORG}").text)
    assert found is not None
    valid = {
        "org": ORG, "key": f"{CYCLE}/HOUSING", "period": "2024-25-Q1", "code": "HOU-01",
        "theme": "Homes", "year": YEAR, "service": "HOUSING", "dataset": "measures", "fmt": "csv",
        "evidence": str(_id(evidence)), "meeting": str(meeting.id), "target": str(target.id),
        "ref": "A1", "risk": "R1", "token": "none",
    }  # fmt: skip
    return client, found.group(1), token, valid


def _id(evidence: Any) -> int:
    return int(evidence if isinstance(evidence, int) else evidence.id)


def _app_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every route of the app's own table (the routers it includes, however nested)."""
    for r in routes:
        if hasattr(r, "original_router"):  # an included router
            yield from _app_routes(r.original_router.routes)
        elif isinstance(r, APIRoute):
            yield r


def _params(dependant: Dependant) -> Iterator[tuple[str, str, Any]]:
    """(where, name, type) of every path and query parameter of a route and its dependencies."""
    for p in dependant.path_params:
        yield "path", p.name, p.field_info.annotation
    for p in dependant.query_params:
        yield "query", p.alias, p.field_info.annotation
    for sub in dependant.dependencies:
        yield from _params(sub)


def _is_int(annotation: Any) -> bool:
    return annotation is int or annotation == (int | None)


def _path(route: APIRoute, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], route.path)


def _ask(client: TestClient, route: APIRoute, path: str, query: dict[str, str], csrf: str, token: str) -> Any:
    api = path.startswith("/api/")
    headers = {"Authorization": f"Bearer {token}"} if api else {}
    if "GET" in route.methods:
        return client.get(path, params=query, headers=headers)
    if api:
        body = {"trigger": "submit", "expected_version": 1, "figures": [{"code": "HOU-01", "value": 1}],
                "measure": "HOU-01", "year": "2025-26", "value": 20, "reason": "checking",
                "decision": "agree"}  # fmt: skip
        return client.post(path, params=query, headers=headers, json=body)
    if path.endswith("/upload"):
        files = {"file": ("r.csv", b"a,b\n", "text/csv")}
        return client.post(path, params=query, data={"csrf_token": csrf}, files=files)
    return client.post(path, params=query, data={"csrf_token": csrf, **FORM})


def test_no_integer_in_a_path_or_query_is_a_500(
    council: tuple[TestClient, str, str, dict[str, str]],
) -> None:
    client, csrf, token, valid = council
    walked = {"path": 0, "query": 0, "int path": 0, "int query": 0}
    wrong = []
    routes = sorted(_app_routes(client.app.routes), key=lambda r: (r.path, sorted(r.methods)))  # type: ignore[attr-defined]
    assert len(routes) >= 80
    for route in routes:
        params = sorted(set(_params(route.dependant)), key=lambda p: (p[0], p[1]))
        for where, name, annotation in params:
            is_int = _is_int(annotation)
            walked[where] += 1
            walked[f"int {where}"] += is_int
            for value in OUT_OF_RANGE:
                path = _path(route, valid | ({name: value} if where == "path" else {}))
                query = {name: value} if where == "query" else {}
                answer = _ask(client, route, path, query, csrf, token)
                api = path.startswith("/api/")
                expected = (404 if where == "path" and not api else 422) if is_int else None
                said = f"{sorted(route.methods)} {route.path} {where} {name}={value}: {answer.status_code}"
                if answer.status_code >= 500 or (expected is not None and answer.status_code != expected):
                    wrong.append(said)
                assert answer.headers.get("location", "") != "/sign-in", said
    assert not wrong, "\n".join(wrong)
    assert walked["int path"] >= 4 and walked["int query"] >= 6, walked  # the walk reaches them


def test_the_largest_id_a_column_holds_is_looked_up_not_refused(
    council: tuple[TestClient, str, str, dict[str, str]],
) -> None:
    """``INTEGER_MAX`` itself is an id like any other (nothing has it: 404 on the page, the
    decision's 404 on the API), and the real ids are served: the bound is not one too low."""
    client, csrf, token, valid = council
    assert client.get(f"/orgs/{ORG}/evidence/{valid['evidence']}").status_code == 200
    assert client.get(f"/orgs/{ORG}/evidence/{INTEGER_MAX}").status_code == 404
    decide = f"/orgs/{ORG}/measures/WAS-01/targets/{INTEGER_MAX}"
    assert client.post(decide, data={"csrf_token": csrf, "reason": "x"}).status_code == 404
    assert client.get(f"/orgs/{ORG}/meetings?done=moved&n={INTEGER_MAX}").status_code == 200
    moved = client.post(f"/orgs/{ORG}/meetings/{INTEGER_MAX}/move", data={"csrf_token": csrf, **FORM})
    assert moved.status_code == 404
    api = client.post(
        f"/api/v1/organisations/{ORG}/targets/{INTEGER_MAX}/decisions",
        headers={"Authorization": f"Bearer {token}"},
        json={"decision": "agree", "reason": "x"},
    )
    assert api.status_code == 404
