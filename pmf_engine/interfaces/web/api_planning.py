"""The planning and assurance routes of the JSON API under ``/api/v1``: a year's annual targets
through their lifecycle (``pmf.target_setting``), proposing, revising and deciding one with the
pages' permissions; service plans (``pmf.plans``) with their workflow state and the steps the
token's actor may take (fired, since a plan is an instance, through
``POST /api/v1/instances/{key}/transitions``); the risk register on its escalation ladder
(``pmf.risks``, ``policies/risk.yaml``); and a quarter's assurance summary (``pmf.assurance``).

Writes take ``Idempotency-Key`` as ``api.py``'s transitions do: the answer is stored in the
transaction of the change it reports, so a retry changes nothing and gets the same answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.core.errors import InvalidInput
from pmf_engine.interfaces.web import idempotency
from pmf_engine.interfaces.web.api import ERRORS, Org
from pmf_engine.interfaces.web.api_json import assurance_json, plan_json, risk_json
from pmf_engine.interfaces.web.deps import ApiMember, EngineDep, FrameworkDep, PathId, quarter_cycle
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.risks import RiskSection
from pmf_engine.pmf.target_setting import MeasureYear, TargetView, Then, parse_year

router = APIRouter(prefix="/api/v1", tags=["planning and assurance"], responses=ERRORS)
Year = Annotated[str, Path(description="A financial year", examples=["2024-25"])]
Quarter = Annotated[str, Path(description="A quarter of a financial year", examples=["2024-25-Q1"])]
Service = Annotated[str, Path(description="A service's code", examples=["HOUSING"])]
IdempotencyKey = Annotated[
    str | None,
    Header(max_length=200, description="Send the same key again to retry: the first answer, nothing changed"),
]


class TargetIn(BaseModel):
    """A proposed annual target of a measure for a financial year, or (``kind: revision``) a
    mid-year revision of the year's agreed target from the quarter ``effective_from``."""

    model_config = ConfigDict(extra="forbid")

    measure: str = Field(min_length=1, max_length=32, examples=["HOU-01"])
    year: str = Field(min_length=1, max_length=16, examples=["2025-26"])
    value: float
    reason: str = Field(max_length=20_000)
    kind: Literal["original", "revision"] = "original"
    effective_from: str | None = Field(default=None, max_length=16, examples=["2025-26-Q3"])
    """A revision's first quarter (default: the quarter it is now, within the year)."""


class DecisionIn(BaseModel):
    """A stage's decision on a target it awaits: agree it, or send it back, with the reason."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["agree", "send_back"]
    reason: str = Field(max_length=20_000)


# -- targets ----------------------------------------------------------------------------------


@router.get("/organisations/{org}/targets/{year}")
def year_targets(org: Org, year: Year, _user: ApiMember, framework: FrameworkDep) -> dict[str, Any]:
    """Every measure's annual target of the year: the original (agreed, or the measures file's)
    and the revised one in force at the year's end, and each proposal of the year with its
    state, the stage it awaits and every decision on it (who, when, why)."""
    found = framework.targets.of_year(org, year)
    return {"year": parse_year(year), "measures": [_measure_year(m) for m in found]}


@router.post("/organisations/{org}/targets", status_code=201)
def propose_target(
    org: Org,
    body: TargetIn,
    request: Request,
    user: ApiMember,
    framework: FrameworkDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Propose a measure's annual target (its service's roles, or the organisation-wide ones of
    ``reporting``), or a revision of an agreed one; 201 with the target. A reason is required.
    403 for a role that may not, 409 while another proposal of the year awaits a decision."""

    def act(then: Then | None) -> TargetView:
        if body.kind == "revision":
            return framework.targets.revise(
                org, body.measure, body.year, body.value, reason=body.reason, by=user,
                effective_from=body.effective_from, then=then,
            )  # fmt: skip
        if body.effective_from is not None:
            raise InvalidInput("effective_from", body.effective_from, "only a revision counts from a quarter")
        return framework.targets.propose(
            org, body.measure, body.year, body.value, reason=body.reason, by=user, then=then
        )

    return _once(request, user, framework, body.model_dump(), idempotency_key, act)


@router.post("/organisations/{org}/targets/{target}/decisions", status_code=201)
def decide_target(
    org: Org,
    target: Annotated[PathId, Path(description="The target's id (`id` of GET)")],
    body: DecisionIn,
    request: Request,
    user: ApiMember,
    framework: FrameworkDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Agree the target at the stage it awaits, or send it back, with a reason; 201 with the
    target. 403 unless the token's actor holds the stage's role, did not propose it and decided
    no other stage of it; 409 once it is agreed or sent back."""

    def act(then: Then | None) -> TargetView:
        decide = framework.targets.send_back if body.decision == "send_back" else framework.targets.agree
        return decide(org, target, reason=body.reason, by=user, then=then)

    return _once(request, user, framework, body.model_dump(), idempotency_key, act)


def _once(
    request: Request,
    user: str,
    framework: Framework,
    body: dict[str, Any],
    idempotency_key: str | None,
    act: Callable[[Then | None], TargetView],
) -> Response:
    """``idempotency.once`` of a target's change, answered with the target."""
    engine = framework.engine
    return idempotency.once(
        request.url.path, body, user, idempotency_key, engine.store, engine.clock, act, _target
    )


def _target(t: TargetView) -> dict[str, Any]:
    return {
        "id": t.id,
        "measure": t.measure,
        "year": t.year,
        "kind": t.kind,
        "value": t.value,
        "reason": t.reason,
        "effective_from": t.effective_from,
        "state": t.state,
        "awaiting": t.awaiting,
        "proposed_by": t.proposed_by,
        "proposed_at": t.proposed_at.isoformat(),
        "decisions": [
            {"stage": d.stage, "decision": d.decision, "reason": d.reason, "by": d.by, "at": d.at.isoformat()}
            for d in t.decisions
        ],
    }


def _measure_year(m: MeasureYear) -> dict[str, Any]:
    return {
        "measure": m.measure,
        "original": m.targets.original,
        "revised": m.targets.revised,
        "revised_from": m.targets.revised_from or None,
        "revision_reason": m.targets.revision_reason or None,
        "targets": [_target(t) for t in m.lifecycle],
    }


# -- service plans ----------------------------------------------------------------------------


@router.get("/organisations/{org}/plans")
def plans(
    org: Org,
    _user: ApiMember,
    framework: FrameworkDep,
    year: Annotated[str | None, Query(max_length=16, description="Only this financial year's")] = None,
) -> list[dict[str, Any]]:
    """The organisation's service plans, newest year first, by service: where each stands and
    how many actions and operational risks it holds."""
    return [asdict(p) for p in framework.plans.list_for(org, year)]


@router.get("/organisations/{org}/plans/{year}/{service}")
def plan(
    org: Org, year: Year, service: Service, user: ApiMember, engine: EngineDep, framework: FrameworkDep
) -> JSONResponse:
    """A service's plan for the year: its workflow state and version (also as its ``ETag``, for
    ``If-Match``), the steps the token's actor may take now (fire them at ``transitions``), the
    self-evaluation and sections, the actions with each quarter's status, and the risks."""
    key = framework.plans.plan_key(org, year, service)
    view = framework.plans.get(key)
    steps = engine.steps_for(key, user)
    found = plan_json(view) | {
        "next_steps": [asdict(s) for s in steps],
        "transitions": f"/api/v1/instances/{key}/transitions",
    }
    return JSONResponse(found, headers={"ETag": f'"v{view.version}"'})


# -- risks and assurance ----------------------------------------------------------------------


@router.get("/organisations/{org}/risks")
def risks(
    org: Org,
    _user: ApiMember,
    framework: FrameworkDep,
    period: Annotated[
        str | None, Query(max_length=16, description="As of this quarter (default: every review so far)")
    ] = None,
) -> dict[str, Any]:
    """The risk register: each risk's inherent and residual likelihood, impact and score, its
    band and level on the escalation ladder of ``risk.yaml`` (with why), owner, service, the
    measures and projects it threatens, and the quarter's review; the scales and bands."""
    section: RiskSection = framework.risks.section(org, period)
    return {
        "period": period,
        "risks": [risk_json(r) for r in section.risks],
        "likelihood": section.likelihood,
        "impact": section.impact,
        "bands": [asdict(b) for b in section.bands],
    }


@router.get("/organisations/{org}/assurance/{period}")
def assurance(org: Org, period: Quarter, _user: ApiMember, framework: FrameworkDep) -> dict[str, Any]:
    """The quarter's assurance summary: every figure with its quality flag, evidence files and
    who reported it; the counts per flag (and with evidence); each service's return with its
    sign-off (who, when, late) or the gap an auditor should note."""
    return assurance_json(framework.assurance.summary(quarter_cycle(org, period)))
