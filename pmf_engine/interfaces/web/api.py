"""The JSON API under ``/api/v1``: bearer tokens only, errors as ``application/problem+json``,
and ``Idempotency-Key`` on POST so a retried request fires once."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.interfaces.web import idempotency, queries
from pmf_engine.interfaces.web.deps import ApiMember, ApiUser, EngineDep, FrameworkDep
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.pmf import report

router = APIRouter(prefix="/api/v1", tags=["pmf"])
Org = Annotated[str, Path(description="An organisation's code", examples=["WDC"])]
Key = Annotated[
    str,
    Path(
        description="A cycle (ORG/PERIOD), a return (ORG/PERIOD/SERVICE) or an action (ORG/PERIOD/SA-N)",
        examples=["WDC/2024-25-Q1"],
    ),
]
PROBLEM = {"content": {"application/problem+json": {}}, "description": "A problem document (RFC 9457)"}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
    409: PROBLEM,
    422: PROBLEM,
}


class FireIn(BaseModel):
    """A transition to fire: its trigger, and the reason and data it may need."""

    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(min_length=1, max_length=64)
    reason: str | None = None
    """At most ``limits.MAX_REASON`` characters: the engine refuses (and audits, clipped) a longer one."""
    data: dict[str, str] = {}
    expected_version: int | None = Field(default=None, ge=1)


@router.get("/organisations", responses=ERRORS)
def list_organisations(request: Request, user: ApiUser, engine: EngineDep) -> list[dict[str, str]]:
    """The organisations the token's actor holds a role in."""
    return [{"code": code, "name": name} for code, name in organisations_for(request, engine, user)]


@router.get("/organisations/{org}/cycles", responses=ERRORS)
def list_cycles(org: Org, _user: ApiMember, engine: EngineDep) -> list[dict[str, Any]]:
    """The organisation's cycles, oldest first."""
    return [_jsonable(asdict(c)) for c in engine.cycles(org)]


@router.get("/organisations/{org}/calendar", responses=ERRORS)
def calendar(org: Org, _user: ApiMember, framework: FrameworkDep) -> list[dict[str, Any]]:
    """The organisation's committee meetings."""
    return [
        {"uid": m.uid, "body": m.body, "starts_at": m.starts_at.isoformat(), "title": m.title}
        for m in framework.calendar.list(org)
    ]


@router.get("/instances/{key:path}/measures", responses=ERRORS)
def measures(key: Key, _user: ApiMember, framework: FrameworkDep) -> list[dict[str, Any]]:
    """Every measure of the cycle with its RAG, rule and trend."""
    return [_jsonable(asdict(m)) for m in framework.performance.status(key)]


@router.get("/instances/{key:path}/report", responses=ERRORS)
def report_content(key: Key, _user: ApiMember, framework: FrameworkDep) -> dict[str, Any]:
    """The committee report's content, and its frozen copy once signed off."""
    data = report.gather(framework, key)
    return {
        "content": json.loads(report.canonical(data.content)),
        "frozen": _jsonable(asdict(data.frozen)) if data.frozen else None,
    }


@router.get("/instances/{key:path}/audit", responses=ERRORS)
def instance_audit(key: Key, _user: ApiMember, engine: EngineDep) -> list[dict[str, Any]]:
    """The audit trail of an instance and the instances below it, oldest first."""
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "event": e.event,
            "instance": e.instance,
            "trigger": e.trigger,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor": e.actor,
            "role": e.role,
            "reason": e.reason,
            "data": json.loads(e.data),
            "hash": e.hash,
        }
        for e in queries.trail(engine.store, key)
    ]


@router.post("/instances/{key:path}/transitions", status_code=201, responses=ERRORS)
def fire(
    key: Key,
    body: FireIn,
    user: ApiMember,
    engine: EngineDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Fire a transition. With ``Idempotency-Key``, a repeat of the same request returns the
    first answer and fires nothing; the same key with a different request is a 422."""
    fingerprint = idempotency.fingerprint(key, body.model_dump())
    remember = None
    if idempotency_key:
        seen = idempotency.answered(engine.store, user, idempotency_key)
        if seen is not None:
            return idempotency.replay(seen, fingerprint)
        remember = idempotency.remembering(user, idempotency_key, fingerprint, engine.clock)
    fired = engine.fire(
        key,
        body.trigger,
        user,
        reason=body.reason,
        data=body.data,
        expected_version=body.expected_version,
        then=remember,  # the answer commits with the transition, or neither does
    )
    return JSONResponse(_jsonable(asdict(fired)), status_code=201)


@router.get("/instances/{key:path}", responses=ERRORS)
def get_instance(key: Key, _user: ApiMember, engine: EngineDep) -> dict[str, Any]:
    """An instance's state, deadline, next steps and children."""
    found: dict[str, Any] = _jsonable(asdict(engine.status(key)))
    return found


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
