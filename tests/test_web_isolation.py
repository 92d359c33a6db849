"""Issue #12, finding 4: organisations whose codes differ only by ``_`` or by case never see
each other's data, on any page or API route.

The reproduction from the issue: "With a token of organisation ``N_C``,
``GET /api/v1/instances/N_C/audit`` returned organisation ``NDC``'s entries, narratives
included: the prefix match is an unescaped LIKE (``_`` matches any character; on SQLite LIKE
ignores case, so ``ndc`` read ``NDC``)." Organisation codes may hold ``_`` and lower case
(``directory.check_code``), so ``NDC``, ``N_C`` and ``ndc`` are three councils here.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import Refused
from pmf_engine.interfaces.web import api, api_assurance, api_planning, comparisons, feed, pages
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import opendata
from pmf_engine.pmf.assurance_models import ReturnSignOff
from pmf_engine.pmf.framework import Framework
from tests.conftest import SERVICES, SHIPPED_POLICIES, services

PASSWORD = "correct horse battery"
FIXTURES = Path(__file__).parent / "fixtures"
ORGS = ("NDC", "N_C", "ndc")
PERIOD = "2024-25-Q1"
PLAN_YEAR = "2024-25"
RISKS = (
    "risk,title,register,service,owner,inherent_likelihood,inherent_impact,residual_likelihood,"
    "residual_impact,measures\n"
    "R-01,{marker}risk,operational,HOUSING,{owner},4,4,3,3,HOU-01\n"
)


def _marker(org: str) -> str:
    return f"SECRET-OF-{org}-"


@pytest.fixture
def councils(engine: Engine, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    """Three councils, each with a cycle, a narrative, a plan, a proposed target, a risk and a
    refused step carrying its marker; a performance officer (signed-in pages) and a token (API)
    for each."""
    framework = services(engine)
    accounts = Accounts(engine.store, engine.clock)
    tokens = {}
    for org in ORGS:
        engine.directory.add_organisation(org, f"Council {org}")
        for service in SERVICES:
            engine.directory.add_service(org, service, service.title())
        user = f"perf_{org.lower().replace('_', 'u')}{len(tokens)}"
        engine.directory.add_actor(user, user)
        engine.directory.grant(user, "performance_officer", org)
        accounts.set_password(user, PASSWORD, by="test")
        tokens[org] = accounts.create_token(user, "script", by="test")
        framework.performance.import_measures(org, FIXTURES / "measures" / "measures.csv", by=user)
        engine.start_cycle(org, PERIOD, by=user)
        framework.plans.start(org, PLAN_YEAR, by=user)
        plan = framework.plans.plan_key(org, PLAN_YEAR, "HOUSING")
        framework.plans.write(plan, self_evaluation=_marker(org) + "plan", by=user)
        framework.plans.add_action(plan, _marker(org) + "action", owner=user, due="2025-03-31", by=user)
        framework.plans.add_risk(plan, _marker(org) + "risk", owner=user, likelihood=1, impact=1, by=user)
        framework.performance.record_actual(
            f"{org}/{PERIOD}", "HOU-01", 29, narrative=_marker(org) + "narrative", by=user
        )
        framework.evidence.attach(
            f"{org}/{PERIOD}", "HOU-01", "e.csv", _marker(org).encode() + b"evidence\n", by=user
        )
        framework.targets.propose(org, "WAS-01", PLAN_YEAR, 55, reason=_marker(org) + "target", by=user)
        risks = tmp_path / f"risks-{len(tokens)}.csv"
        risks.write_text(RISKS.format(marker=_marker(org), owner=user), encoding="utf-8")
        framework.risks.import_risks(org, risks, by=user)
        with pytest.raises(Refused):
            engine.fire(f"{org}/{PERIOD}/HOUSING", "accept", user, reason=_marker(org) + "reason")
    app = create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="t", secure_cookies=False))
    return TestClient(app, follow_redirects=False), tokens


def _user_of(tokens: dict[str, str], org: str) -> str:
    return f"perf_{org.lower().replace('_', 'u')}{list(tokens).index(org)}"


def _sign_in(client: TestClient, tokens: dict[str, str], org: str) -> str:
    """Sign in as ``org``'s performance officer; the session's CSRF token."""
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed = client.post(
        "/sign-in",
        data={"username": _user_of(tokens, org), "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed.status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/orgs/{org}").text)
    assert found is not None
    return found.group(1)


def _concrete(template: str, org: str) -> list[str]:
    """Every path a route template takes for ``org``: its cycle, its return, filters with keys."""
    cycle, child = f"{org}/{PERIOD}", f"{org}/{PERIOD}/HOUSING"
    if "{org}" in template:
        filled = (
            template.replace("{period}", PERIOD)
            .replace("{code}", "HOU-01")
            .replace("{theme}", "Homes")
            .replace("{year}", PLAN_YEAR)
            .replace("{service}", "HOUSING")
        )
        if "{dataset}.{fmt}" in template:
            return [
                filled.replace("{org}", org).replace("{dataset}.{fmt}", f"{dataset}.{fmt}")
                for dataset in opendata.DATASETS
                for fmt in opendata.FORMATS
            ]
        if "{evidence}" in template:  # each council's evidence file 1, 2, 3: only its own is served
            return [filled.replace("{org}", org).replace("{evidence}", str(n)) for n in (1, 2, 3)]
        paths = [filled.replace("{org}", org)]
        if template.endswith("/audit") or template.endswith("/audit.csv"):
            paths += [f"{paths[0]}?instance={cycle}", f"{paths[0]}?instance={org}"]
        if template.endswith("/measures"):
            paths.append(f"{paths[0]}?cycle={cycle}")
        return paths
    if "{key:path}" in template:
        if template.endswith("template.xlsx"):
            return [template.replace("{key:path}", child)]
        return [template.replace("{key:path}", k) for k in (cycle, child)]
    return [template]


def _text(body: bytes) -> str:
    if body[:2] == b"PK":  # an Excel file: its XML, uncompressed
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return body.decode("utf-8", "replace")


READ_ROUTES = {
    "/api/v1/organisations",
    "/api/v1/organisations/{org}/cycles",
    "/api/v1/organisations/{org}/calendar",
    "/api/v1/organisations/{org}/audit",
    "/api/v1/instances/{key:path}/measures",
    "/api/v1/instances/{key:path}/report",
    "/api/v1/instances/{key:path}/audit",
    "/api/v1/instances/{key:path}",
    "/",
    "/orgs/{org}",
    "/orgs/{org}/measures",
    "/orgs/{org}/actions",
    "/orgs/{org}/audit.csv",
    "/orgs/{org}/audit",
    "/orgs/{org}/meetings",
    "/instances/{key:path}/report",
    "/instances/{key:path}/template.xlsx",
    "/instances/{key:path}",
    "/setup",
    "/todo",
    "/todo/calendar",
    "/orgs/{org}/dashboard",
    "/orgs/{org}/dashboard/{period}/tiles.csv",
    "/orgs/{org}/dashboard/{period}/summary",
    "/orgs/{org}/dashboard/{period}/summary.pdf",
    "/orgs/{org}/dashboard/{period}/themes/{theme}",
    "/orgs/{org}/measures/{code}/history",
    "/orgs/{org}/measures/{code}/history.csv",
    "/orgs/{org}/risks",
    "/orgs/{org}/annual-report/{year}",
    "/orgs/{org}/assurance",
    "/orgs/{org}/assurance.csv",
    "/orgs/{org}/evidence/{evidence}",
    "/api/v1/organisations/{org}/data/{dataset}.{fmt}",
    "/api/v1/organisations/{org}/comparators",
    "/orgs/{org}/plans",
    "/orgs/{org}/plans/{year}/{service}",
    "/api/v1/organisations/{org}/targets/{year}",
    "/api/v1/organisations/{org}/plans",
    "/api/v1/organisations/{org}/plans/{year}/{service}",
    "/api/v1/organisations/{org}/risks",
    "/api/v1/organisations/{org}/assurance/{period}",
    "/api/v1/organisations/{org}/annual-report/{year}",
    "/api/v1/organisations/{org}/evidence/{period}",
    "/api/v1/organisations/{org}/evidence/{period}/{evidence}",
}
SHOW_OWN_MARKER = {
    "/api/v1/organisations/{org}/targets/{year}",
    "/api/v1/organisations/{org}/plans/{year}/{service}",
    "/api/v1/organisations/{org}/risks",
}
"""Read routes that must show the reader's own marker (a target's reason, a plan's
self-evaluation, a risk's title), so that the matrix checks real data on them."""
PUBLIC_ROUTES = {
    "/api/v1/open/{org}",
    "/api/v1/open/{org}/{dataset}.{fmt}",
    "/open/{org}",
    "/open/{org}/{period}",
    "/open/{org}/annual/{year}",
    "/open/{org}/annual/{year}.csv",
    "/calendar/{token}.ics",
}
"""The public open-data feed and pages: anyone reads any council's published figures
(tests/test_feed.py, tests/test_public_page.py and tests/test_annual_report.py show what
they leave out); and a person's
calendar feed, whose secret address is its key (tests/test_ics_feed.py); not part of the
matrix."""


def test_every_read_route_is_in_the_matrix(councils: tuple[TestClient, dict[str, str]]) -> None:
    """A new GET route must join the matrix below (sign-in and the OpenAPI document hold no data)."""
    del councils
    assert {r.path for r in _routes() if "GET" in r.methods} - {"/sign-in"} == READ_ROUTES | PUBLIC_ROUTES
    assert {r.path for r in _routes() if "POST" in r.methods} - {"/sign-in", "/sign-out"} == WRITE_ROUTES


def _routes() -> list[APIRoute]:
    def walk(routes: Iterable[Any]) -> Iterator[APIRoute]:
        for r in routes:
            if hasattr(r, "original_router"):  # an included router
                yield from walk(r.original_router.routes)
            elif isinstance(r, APIRoute):
                yield r

    routers = (
        pages.router,
        api.router,
        feed.router,
        comparisons.router,
        api_planning.router,
        api_assurance.router,
    )
    return list(walk([route for router in routers for route in router.routes]))


OWN_ROUTES = {"/todo/digest", "/todo/calendar"}
"""Write routes that change only the signed-in person's own choices: no council in them."""

WRITE_ROUTES = {
    "/instances/{key:path}/actuals",
    "/instances/{key:path}/upload",
    "/instances/{key:path}/plan-actions",
    "/instances/{key:path}/fire",
    "/instances/{key:path}/exception-reports",
    "/instances/{key:path}/actions",
    "/instances/{key:path}/chase",
    "/instances/{key:path}/evidence/upload",
    "/instances/{key:path}/sign-off",
    "/orgs/{org}/meetings",
    "/orgs/{org}/meetings/{meeting}/move",
    "/orgs/{org}/meetings/{meeting}/cancel",
    "/orgs/{org}/meetings/sync",
    "/orgs/{org}/cycles",
    "/orgs/{org}/measures/{code}/targets",
    "/orgs/{org}/measures/{code}/targets/{target}",
    "/api/v1/instances/{key:path}/transitions",
    "/setup/upload",
    "/todo/digest",
    "/todo/calendar",
    "/orgs/{org}/people/upload",
    "/orgs/{org}/services/upload",
    "/api/v1/instances/{key:path}/actuals",
    "/orgs/{org}/plans",
    "/orgs/{org}/plans/{year}/{service}",
    "/orgs/{org}/plans/{year}/{service}/actions",
    "/orgs/{org}/plans/{year}/{service}/risks",
    "/api/v1/organisations/{org}/targets",
    "/api/v1/organisations/{org}/targets/{target}/decisions",
    "/orgs/{org}/plans/{year}/{service}/actions/{ref}",
    "/orgs/{org}/plans/{year}/{service}/actions/{ref}/withdraw",
    "/orgs/{org}/plans/{year}/{service}/risks/{risk}",
    "/orgs/{org}/plans/{year}/{service}/risks/{risk}/withdraw",
    "/orgs/{org}/risks/{code}/reviews",
    "/orgs/{org}/dashboard/{period}/themes/{theme}/headline",
    "/api/v1/instances/{key:path}/sign-off",
    "/api/v1/organisations/{org}/evidence/{period}/upload",
}


def test_no_route_writes_to_another_council(
    councils: tuple[TestClient, dict[str, str]], engine: Engine
) -> None:
    """``N_C`` and ``ndc`` posting to ``NDC``'s cycle and return, on every write route: refused,
    nothing changed."""
    client, tokens = councils
    before = {org: engine.peek(f"{org}/{PERIOD}/HOUSING") for org in ORGS}
    calendar = Framework(engine, SHIPPED_POLICIES).calendar
    meeting = calendar.add("NDC", "cabinet", datetime(2024, 9, 11, 18, tzinfo=LONDON), by="system")
    cycles = [c.key for c in engine.cycles()]
    targets = Framework(engine, SHIPPED_POLICIES).targets
    target = targets.propose("NDC", "HOU-01", PERIOD[:7], 25, reason="mine", by=_user_of(tokens, "NDC"))
    targets_before = {org: targets.list(org) for org in ORGS}
    for reader in ("N_C", "ndc"):
        csrf = _sign_in(client, tokens, reader)
        api_headers = {"Authorization": f"Bearer {tokens[reader]}"}
        for template in sorted(WRITE_ROUTES - OWN_ROUTES):
            for key in ("NDC/" + PERIOD, f"NDC/{PERIOD}/HOUSING"):
                path = (
                    template.replace("{key:path}", key)
                    .replace("{org}", "NDC")
                    .replace("{meeting}", str(meeting.id))
                    .replace("{code}", "HOU-01")
                    .replace("{target}", str(target.id))
                    .replace("{year}", PLAN_YEAR)
                    .replace("{service}", "HOUSING")
                    .replace("{ref}", "A1")
                    .replace("{risk}", "R1")
                    .replace("{period}", PERIOD)
                    .replace("{theme}", "Homes")
                )
                if path.startswith("/api/") and path.endswith("/upload"):
                    answer = client.post(
                        path,
                        headers=api_headers,
                        data={"measure": "HOU-01"},
                        files={"file": ("e.csv", b"mine\n", "text/csv")},
                    )
                elif path.startswith("/api/"):
                    body: dict[str, Any] = {"trigger": "submit", "expected_version": 1}
                    if path.endswith("/actuals"):
                        body = {"figures": [{"code": "HOU-01", "value": 1}]}
                    elif path.endswith("/targets"):
                        body = {"measure": "HOU-01", "year": "2025-26", "value": 20, "reason": "mine"}
                    elif path.endswith("/decisions"):
                        body = {"decision": "agree", "reason": "mine"}
                    answer = client.post(path, headers=api_headers, json=body)
                elif path.endswith("/upload"):
                    answer = client.post(
                        path, data={"csrf_token": csrf}, files={"file": ("r.xlsx", b"PK", "application/zip")}
                    )
                else:
                    answer = client.post(
                        path,
                        data={"csrf_token": csrf, "trigger": "submit", "code": "HOU-01", "body": "cmt",
                              "when": "2024-10-01 10:00", "reason": "mine", "period": "2024-25-Q2",
                              "year": "2025-26", "value": "20", "decision": "agree",
                              "self_evaluation": "mine", "what": "mine", "owner": "x",
                              "likelihood": "1", "impact": "1", "note": "mine", "narrative": "mine",
                              "rating": "low", "risk": "mine", "title": "mine"},
                    )  # fmt: skip
                assert answer.status_code in (403, 404), f"{reader} posted to {path}: {answer.status_code}"
    assert {org: engine.peek(f"{org}/{PERIOD}/HOUSING") for org in ORGS} == before
    assert [(m.id, m.starts_at) for m in calendar.list("NDC")] == [(meeting.id, meeting.starts_at)]
    assert [c.key for c in engine.cycles()] == cycles
    assert {org: targets.list(org) for org in ORGS} == targets_before
    assert [(t.state, t.decisions) for t in targets.list("NDC", code="HOU-01")] == [("proposed", ())]
    evidence = Framework(engine, SHIPPED_POLICIES).evidence.listed(f"NDC/{PERIOD}")
    assert [(e.code, e.uploaded_by) for e in evidence] == [("HOU-01", _user_of(tokens, "NDC"))]
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(ReturnSignOff)) == 0
    plan = Framework(engine, SHIPPED_POLICIES).plans.get(f"NDC/plans-{PLAN_YEAR}/HOUSING")
    assert plan.self_evaluation == _marker("NDC") + "plan"
    assert [(a.ref, a.what, a.withdrawn) for a in plan.actions] == [("A1", _marker("NDC") + "action", False)]
    risks = [(r.plan_ref, r.title, r.withdrawn) for r in plan.risks]
    assert risks == [("R1", _marker("NDC") + "risk", False)]


@pytest.mark.parametrize("reader", ORGS)
def test_no_route_shows_another_councils_data(
    councils: tuple[TestClient, dict[str, str]], reader: str
) -> None:
    """Each council, on every read route of its own (and its lookalikes'), sees its own marker
    and never another's."""
    client, tokens = councils
    _sign_in(client, tokens, reader)
    api = {"Authorization": f"Bearer {tokens[reader]}"}
    others = [_marker(o) for o in ORGS if o != reader]
    own_seen = 0
    for template in sorted(READ_ROUTES):
        for org in ORGS:  # its own paths, and the lookalike councils' paths too
            for path in _concrete(template, org):
                answer = client.get(path, headers=api if path.startswith("/api/") else {})
                body = _text(answer.content)
                leaked = [m for m in others if m in body]
                assert not leaked, f"{reader} read {leaked} at {path} ({answer.status_code})"
                if org != reader and "{" in template:
                    assert answer.status_code in (403, 404), f"{reader} reached {path}"
                if org == reader and template in SHOW_OWN_MARKER:
                    assert _marker(reader) in body, f"{reader} did not see its own data at {path}"
                own_seen += _marker(reader) in body
    assert own_seen >= 6, "the matrix reaches real data, not only refusals"


def test_the_audit_api_of_a_lookalike_code_reads_only_its_own_chain(
    councils: tuple[TestClient, dict[str, str]],
) -> None:
    """The reproduction itself: ``N_C``'s token on ``/api/v1/instances/N_C/{PERIOD}/audit``."""
    client, tokens = councils
    for org in ("N_C", "ndc"):
        entries = client.get(
            f"/api/v1/instances/{org}/{PERIOD}/audit", headers={"Authorization": f"Bearer {tokens[org]}"}
        ).json()
        assert entries and all(e["instance"].startswith(f"{org}/") for e in entries), entries
        assert any(_marker(org) in (e["reason"] or "") for e in entries)
