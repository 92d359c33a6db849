"""The JSON API under ``/api/v1``: bearer tokens only, errors as ``application/problem+json``,
and ``Idempotency-Key`` on POST so a retried request fires once."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.core.engine import Fired
from pmf_engine.core.errors import ConcurrencyConflict, InvalidInput
from pmf_engine.core.limits import INTEGER_MAX
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web import idempotency, queries
from pmf_engine.interfaces.web.deps import ApiMember, ApiUser, EngineDep, FrameworkDep, PathKey
from pmf_engine.interfaces.web.errors import PreconditionFailed, PreconditionRequired
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.pmf import report
from pmf_engine.pmf.models import QualityFlag
from pmf_engine.pmf.performance import ActualIn

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
    413: PROBLEM,
    422: PROBLEM,
}
FIRE_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 412: PROBLEM, 428: PROBLEM}


class FireIn(BaseModel):
    """A transition to fire: its trigger, and the reason and data it may need."""

    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(min_length=1, max_length=64)
    reason: str | None = None
    """At most ``limits.MAX_REASON`` characters: the engine refuses (and audits, clipped) a longer one."""
    data: dict[str, str] = {}
    expected_version: int | None = Field(default=None, ge=1)


class FigureIn(BaseModel):
    """One measure's figure for the cycle's quarter: the actual (``null``: none), narrative,
    year-end forecast, and, with no actual, why it is missing. The data rules are the
    application's (``pmf_engine.pmf.rules``): a problem names the measure and the field."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)
    value: float | None = None
    narrative: str = ""
    forecast: float | None = None
    missing_reason: str = ""
    quality: QualityFlag | Literal[""] = ""
    """The figure's quality flag (data quality), ``""`` where not said."""


class FiguresIn(BaseModel):
    """Figures to record together: all of them, or none."""

    model_config = ConfigDict(extra="forbid")

    figures: list[FigureIn] = Field(min_length=1, max_length=2000)


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


@router.get("/organisations/{org}/audit", responses=ERRORS)
def organisation_audit(
    org: Org,
    _user: ApiMember,
    engine: EngineDep,
    before: Annotated[
        int | None,
        Query(ge=1, le=INTEGER_MAX, description="Entries older than this chain position"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=queries.AUDIT_PAGE_MAX)] = queries.AUDIT_PAGE_SIZE,
    instance: Annotated[str, Query(max_length=160, description="An instance and those below it")] = "",
    actor: Annotated[str, Query(max_length=64)] = "",
    event: Annotated[str, Query(max_length=32)] = "",
    verify: bool = False,
) -> dict[str, Any]:
    """A page of the organisation's audit chain, newest first; ``next`` is the URL of the older
    page (``null`` at the end). ``verify=true`` also verifies the whole chain (it reads all of it)."""
    filters = queries.AuditFilters(instance, actor, event)
    page = queries.audit_page(engine.store, org, filters, before=before, size=limit)
    found: dict[str, Any] = {"entries": [_entry(e) for e in page.entries], "next": None}
    if page.next_before is not None:
        pairs = [*filters.pairs(), ("limit", str(limit)), ("before", str(page.next_before))]
        found["next"] = f"/api/v1/organisations/{org}/audit?{urlencode(pairs)}"
    if verify:
        checked = queries.audit_verification(engine.store, org)
        found["verification"] = {
            "ok": checked.ok,
            "entries": checked.entries,
            "first_break": str(checked.first_break) if checked.first_break else None,
        }
    return found


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "chain_seq": e.chain_seq,
        "at": e.at,
        "as_of": e.as_of,
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


@router.get("/instances/{key:path}/audit", responses=ERRORS)
def instance_audit(key: Key, _user: ApiMember, engine: EngineDep) -> list[dict[str, Any]]:
    """The audit trail of an instance and the instances below it, oldest first."""
    return [_entry(e) for e in queries.trail(engine.store, key)]


@router.post("/instances/{key:path}/actuals", responses=ERRORS)
def record_actuals(
    key: Key, body: FiguresIn, user: ApiMember, parsed: PathKey, framework: FrameworkDep
) -> dict[str, Any]:
    """Record figures for the quarter of the cycle (or of the return) ``key``, in one
    transaction, as the web form and ``pmf actuals record`` do: a figure breaking a data rule
    (its measure's range; finite; a count whole) is a 422 naming the measure and the field,
    and nothing is recorded. A repeat records the same figures again (the newest counts)."""
    cycle = parsed.cycle
    rows = [
        ActualIn(f.code, f.value, f.narrative, f.forecast, f.missing_reason, f.quality) for f in body.figures
    ]
    framework.performance.record_actuals(cycle, rows, by=user)
    return {"recorded": len(rows)}


@router.post("/instances/{key:path}/transitions", status_code=201, responses=FIRE_ERRORS)
def fire(
    key: Key,
    body: FireIn,
    user: ApiMember,
    engine: EngineDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    if_match: Annotated[
        str | None, Header(max_length=100, description='The ETag of GET /instances/{key}, e.g. "v3"')
    ] = None,
) -> Response:
    """Fire a transition on the version the caller saw: ``If-Match`` with the instance's ETag
    (412 if it has moved on), or ``expected_version`` (409); neither is a 428. With
    ``Idempotency-Key``, a repeat of the same request returns the first answer and fires
    nothing; the same key with a different request is a 422."""
    expected = _expected_version(if_match, body.expected_version)

    def act(then: idempotency.Then[Fired] | None) -> Fired:
        try:
            return engine.fire(
                key,
                body.trigger,
                user,
                reason=body.reason,
                data=body.data,
                expected_version=expected,
                then=then,  # the answer commits with the transition, or neither does
            )
        except ConcurrencyConflict as conflict:
            if if_match is None:
                raise
            raise PreconditionFailed(f"{conflict}; GET it again for its new ETag") from conflict

    return idempotency.once(
        key,  # the fingerprint's first part: the instance (the key's answers stay replayable)
        body.model_dump() | {"expected_version": expected},
        user,
        idempotency_key,
        engine.store,
        engine.clock,
        act,
        lambda fired: _jsonable(asdict(fired)),
        lambda fired: {"ETag": _etag(fired.version)},
    )


def _etag(version: int) -> str:
    return f'"v{version}"'


def _expected_version(if_match: str | None, field: int | None) -> int:
    """The version the caller acts on, from ``If-Match`` or the body; ``PreconditionRequired``
    if neither says, ``InvalidInput`` if they disagree or the header is not an ETag of ours."""
    header = None
    if if_match is not None:
        found = re.fullmatch(r'\s*(?:W/)?"v([1-9][0-9]{0,9})"\s*', if_match)
        if found is None:
            raise InvalidInput(
                "If-Match", if_match[:40], 'expected the ETag of GET /instances/{key}, like "v3"'
            )
        header = int(found.group(1))
    if header is not None and field is not None and header != field:
        raise InvalidInput("expected_version", field, f"If-Match names version {header}")
    expected = header if header is not None else field
    if expected is None:
        raise PreconditionRequired(
            "say which version you are acting on: If-Match with the ETag of GET /api/v1/instances/{key}, "
            "or expected_version in the body"
        )
    return expected


@router.get("/instances/{key:path}", responses=ERRORS)
def get_instance(key: Key, _user: ApiMember, engine: EngineDep, response: Response) -> dict[str, Any]:
    """An instance's state, deadline, next steps and children; its ``ETag`` names its version,
    for ``If-Match`` on a transition."""
    status = engine.status(key)
    response.headers["ETag"] = _etag(status.version)
    found: dict[str, Any] = _jsonable(asdict(status))
    return found


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
