"""The JSON API under ``/api/v1``: bearer tokens only, errors as ``application/problem+json``,
and ``Idempotency-Key`` on POST so a retried request fires once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.engine import Engine, Fired
from pmf_engine.core.store import AuditEntry, IdempotencyKey
from pmf_engine.interfaces.web.app import organisations_of, require_member
from pmf_engine.interfaces.web.errors import IdempotencyKeyReused, Unauthenticated
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework

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


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _framework(request: Request) -> Framework:
    framework: Framework = request.app.state.framework
    return framework


def api_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The actor a bearer token belongs to (cookies are not accepted here: no CSRF on the API)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send Authorization: Bearer <token> (pmf actor token USER --name N)")
    user = request.app.state.accounts.token_user(authorization[7:].strip())
    if user is None:
        raise Unauthenticated("the token is unknown, revoked, or its actor deactivated")
    return str(user)


User = Annotated[str, Depends(api_user)]


class FireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=4000)
    data: dict[str, str] = {}
    expected_version: int | None = Field(default=None, ge=1)


@router.get("/organisations", responses=ERRORS)
def list_organisations(request: Request, user: User) -> list[dict[str, str]]:
    return [{"code": code, "name": name} for code, name in organisations_of(_engine(request), user)]


@router.get("/organisations/{org}/cycles", responses=ERRORS)
def list_cycles(request: Request, org: Org, user: User) -> list[dict[str, Any]]:
    engine = _engine(request)
    require_member(engine, user, org)
    return [_jsonable(asdict(c)) for c in engine.cycles(org)]


@router.get("/organisations/{org}/calendar", responses=ERRORS)
def calendar(request: Request, org: Org, user: User) -> list[dict[str, Any]]:
    engine = _engine(request)
    require_member(engine, user, org)
    return [
        {"uid": m.uid, "body": m.body, "starts_at": m.starts_at.isoformat(), "title": m.title}
        for m in _framework(request).calendar.list(org)
    ]


@router.get("/instances/{key:path}/measures", responses=ERRORS)
def measures(request: Request, key: Key, user: User) -> list[dict[str, Any]]:
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    return [_jsonable(asdict(m)) for m in _framework(request).performance.status(key)]


@router.get("/instances/{key:path}/report", responses=ERRORS)
def report_content(request: Request, key: Key, user: User) -> dict[str, Any]:
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    data = report.gather(_framework(request), key)
    return {
        "content": json.loads(report.canonical(data.content)),
        "frozen": _jsonable(asdict(data.frozen)) if data.frozen else None,
    }


@router.get("/instances/{key:path}/audit", responses=ERRORS)
def instance_audit(request: Request, key: Key, user: User) -> list[dict[str, Any]]:
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    with engine.store.read() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where((AuditEntry.instance == key) | AuditEntry.instance.startswith(key + "/"))
            .order_by(AuditEntry.seq)
        )
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
            for e in rows
        ]


@router.post("/instances/{key:path}/transitions", status_code=201, responses=ERRORS)
def fire(
    request: Request,
    key: Key,
    body: FireIn,
    user: User,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Fire a transition. With ``Idempotency-Key``, a repeat of the same request returns the
    first answer and fires nothing; the same key with a different request is a 422."""
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    fingerprint = hashlib.sha256(json.dumps([key, body.model_dump()], sort_keys=True).encode()).hexdigest()
    if idempotency_key:
        with engine.store.read() as s:
            seen = s.get(IdempotencyKey, (user, idempotency_key))
        if seen is not None:
            return _replay(seen, fingerprint)

    def remember(s: Session, fired: Fired) -> None:
        if idempotency_key:
            s.add(
                IdempotencyKey(
                    actor=user,
                    key=idempotency_key,
                    request_sha256=fingerprint,
                    status_code=201,
                    body=json.dumps(_jsonable(asdict(fired))),
                    created_at=engine.clock.now(),
                )
            )

    fired = engine.fire(
        key,
        body.trigger,
        user,
        reason=body.reason,
        data=body.data,
        expected_version=body.expected_version,
        then=remember,
    )
    return JSONResponse(_jsonable(asdict(fired)), status_code=201)


@router.get("/instances/{key:path}", responses=ERRORS)
def get_instance(request: Request, key: Key, user: User) -> dict[str, Any]:
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    found: dict[str, Any] = _jsonable(asdict(engine.status(key)))
    return found


def _replay(seen: IdempotencyKey, fingerprint: str) -> Response:
    if seen.request_sha256 != fingerprint:
        raise IdempotencyKeyReused("this key was used for a different request")
    return JSONResponse(
        json.loads(seen.body), status_code=seen.status_code, headers={"Idempotent-Replayed": "true"}
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
