"""Server-rendered pages: sign-in, the quarter at a glance, cycle and return pages with the
actions the signed-in person may take, measures, exception reports, Scrutiny actions, the audit
trail and the committee report."""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from pmf_engine.core import audit
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import FileProblems, NotFound, PmfError, Refused
from pmf_engine.core.store import AuditEntry, Instance, Service, roles_held
from pmf_engine.interfaces.web.app import (
    check_csrf,
    organisations_of,
    render,
    require_member,
    require_user,
)
from pmf_engine.interfaces.web.diagram import state_diagram
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.pmf import report
from pmf_engine.pmf.actions import RAISED_IN, RAISING_ROLES
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.performance import ActualIn

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
OptionalText = Annotated[str | None, Form()]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _framework(request: Request) -> Framework:
    framework: Framework = request.app.state.framework
    return framework


# -- signing in and out -----------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    user = require_user(request)
    orgs = organisations_of(_engine(request), user)
    if len(orgs) == 1:
        return RedirectResponse(f"/orgs/{orgs[0][0]}", status_code=303)
    return render(request, "home.html", {"title": "Your organisations"})


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/") -> Response:
    return render(request, "sign_in.html", {"title": "Sign in", "next": _safe_next(next), "error": None})


@router.post("/sign-in")
def sign_in(
    request: Request,
    username: Text,
    password: Text,
    csrf_token: Text,
    next: Text = "/",
) -> Response:
    check_csrf(request, csrf_token)
    user, error = request.app.state.accounts.sign_in(username, password)
    if user is None:
        context = {"title": "Sign in", "next": _safe_next(next), "error": error, "username": username}
        return render(request, "sign_in.html", context, 401)
    request.session.clear()  # a new session on sign-in: no fixation
    request.session["user"] = user
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: Text) -> Response:
    check_csrf(request, csrf_token)
    request.session.clear()
    return RedirectResponse("/sign-in", status_code=303)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


# -- the quarter at a glance -------------------------------------------------------------------


@router.get("/orgs/{org}")
def organisation(request: Request, org: str) -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, org)
    performance = _framework(request).performance
    cycles = []
    for summary in engine.cycles(org):
        full = engine.status(summary.key)
        counts = Counter(m.rag.status for m in performance.status(summary.key))
        cycles.append((full, counts))
    return render(
        request,
        "organisation.html",
        {"title": f"{org}: the quarter at a glance", "org": org, "cycles": cycles},
    )


# -- a cycle or a service return ---------------------------------------------------------------


@router.post("/instances/{key:path}/fire")
def fire(
    request: Request,
    key: str,
    trigger: Text,
    csrf_token: Text,
    reason: OptionalText = None,
    minute_reference: OptionalText = None,
    next_meeting: OptionalText = None,
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    data = {k: v for k, v in (("minute_reference", minute_reference), ("next_meeting", next_meeting)) if v}
    try:
        engine.fire(key, trigger, user, reason=reason, data=data)
    except Refused as refusal:  # already audited by the engine
        status, _title = status_of(refusal)
        return _instance_page(request, key, user, errors=[refusal.reason], status=status)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.post("/instances/{key:path}/actuals")
async def save_actuals(request: Request, key: str) -> Response:
    user = require_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    cycle = "/".join(key.split("/")[:2])
    rows, field_errors = [], {}
    for code in [str(v) for v in form.getlist("code")]:
        values: dict[str, float | None] = {}
        for name in ("actual", "forecast"):
            raw = str(form.get(f"{name}_{code}") or "").strip()
            try:
                values[name] = float(raw) if raw else None
            except ValueError:
                field_errors[f"{name}_{code}"] = f"Enter {name} for {code} as a number, like 42.5"
        narrative = str(form.get(f"narrative_{code}") or "").strip()
        if not field_errors and (values["actual"] is not None or narrative):
            rows.append(ActualIn(code, values["actual"], narrative, values["forecast"]))
    if field_errors:
        return _instance_page(request, key, user, field_errors=field_errors, form=dict(form), status=400)
    try:
        _framework(request).performance.record_actuals(cycle, rows, by=user)
    except PmfError as exc:
        return _instance_page(request, key, user, errors=[str(exc)], form=dict(form), status=400)
    return RedirectResponse(f"/instances/{key}?saved={len(rows)}", status_code=303)


@router.post("/instances/{key:path}/upload")
async def upload_return(request: Request, key: str, csrf_token: Text, file: UploadFile) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    parts = key.split("/")
    if len(parts) != 3:
        raise NotFound("service return", key)
    content = await file.read(20 * 1024 * 1024 + 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "return.xlsx"
        path.write_bytes(content)
        try:
            count = _framework(request).returns.import_return("/".join(parts[:2]), parts[2], path, by=user)
        except FileProblems as exc:
            messages = [f"{p.field}: {p.message}" for p in exc.problems]
            return _instance_page(request, key, user, errors=messages, status=400)
    return RedirectResponse(f"/instances/{key}?saved={count}", status_code=303)


@router.post("/instances/{key:path}/exception-reports")
def add_exception_report(
    request: Request,
    key: str,
    csrf_token: Text,
    code: Text,
    reason: Text,
    remedial_action: Text,
    owner: Text,
    recovery_date: Text,
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    project = code.startswith("project ")
    try:
        _framework(request).performance.add_exception_report(
            key,
            code.removeprefix("project "),
            project=project,
            reason=reason,
            remedial_action=remedial_action,
            owner=owner,
            recovery_date=recovery_date,
            by=user,
        )
    except PmfError as exc:
        return _instance_page(request, key, user, errors=[f"{code}: {exc}"], status=400)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.post("/instances/{key:path}/actions")
def raise_action(
    request: Request, key: str, csrf_token: Text, what: Text, assignee: Text, due: Text, link: Text = ""
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    try:
        _framework(request).actions.add(
            key, what, assignee=assignee.strip(), due=due.strip(), link=link.strip(), by=user
        )
    except PmfError as exc:
        return _instance_page(request, key, user, errors=[str(exc)], status=400)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.get("/instances/{key:path}/template.xlsx")
def return_template(request: Request, key: str) -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    parts = key.split("/")
    if len(parts) != 3:
        raise NotFound("service return", key)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "return.xlsx"
        _framework(request).returns.template("/".join(parts[:2]), parts[2], path)
        data = path.read_bytes()
    name = f"{parts[0]}-{parts[1]}-{parts[2]}-return.xlsx"
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/instances/{key:path}/report")
def committee_report(request: Request, key: str) -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, key.split("/", maxsplit=1)[0])
    return Response(
        report.html(report.gather(_framework(request), key)), media_type="text/html; charset=utf-8"
    )


@router.get("/instances/{key:path}")
def instance(request: Request, key: str, saved: int | None = None) -> Response:
    user = require_user(request)
    require_member(_engine(request), user, key.split("/", maxsplit=1)[0])
    return _instance_page(request, key, user, saved=saved)


def _instance_page(
    request: Request,
    key: str,
    user: str,
    *,
    errors: list[str] | None = None,
    field_errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    saved: int | None = None,
    status: int = 200,
) -> Response:
    engine = _engine(request)
    status_now = engine.status(key)
    with engine.store.read() as s:
        inst = s.scalar(select(Instance).where(Instance.key == key))
        assert inst is not None
        wf = engine.definition(inst.workflow_version)
        timeline = [
            e
            for e in s.scalars(select(AuditEntry).where(AuditEntry.instance == key).order_by(AuditEntry.seq))
            if e.event in ("fired", "refused", "cycle.started", "child.spawned", "child.started")
        ]
        measures: list[Any] = []
        if status_now.service:
            service_id = s.scalar(
                select(Service.id).where(
                    Service.organisation_id == inst.organisation_id, Service.code == status_now.service
                )
            )
            codes = set(s.scalars(select(Measure.code).where(Measure.service_id == service_id)))
            cycle = "/".join(key.split("/")[:2])
    if status_now.service:
        measures = [m for m in _framework(request).performance.status(cycle) if m.code in codes]
    open_for_data = status_now.service is not None and status_now.state in ("requested", "returned")
    owed: list[str] = []
    may_raise = False
    if status_now.service is None and key.count("/") == 1:
        with engine.store.read() as s:
            owed = missing_exception_reports(s, inst.id, _framework(request).rag)
            held = roles_held(s, user, inst.organisation_id)
        may_raise = status_now.state in RAISED_IN and any((r, None) in held for r in RAISING_ROLES)
    return render(
        request,
        "instance.html",
        {
            "title": key,
            "status": status_now,
            "states": [(name, st.label) for name, st in wf.states.items()],
            "transitions": wf.transitions,
            "diagram": state_diagram(wf, status_now.state),
            "timeline": timeline,
            "steps": engine.steps_for(key, user),
            "measures": measures,
            "open_for_data": open_for_data,
            "errors": errors or [],
            "field_errors": field_errors or {},
            "form": form or {},
            "saved": saved,
            "owed": owed,
            "may_raise": may_raise,
        },
        status,
    )


# -- measures, exception reports, actions, audit ----------------------------------------------


@router.get("/orgs/{org}/measures")
def measures(request: Request, org: str, cycle: str | None = None) -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, org)
    cycles = [c.key for c in engine.cycles(org)]
    chosen = cycle if cycle in cycles else (cycles[-1] if cycles else None)
    data = report.gather(_framework(request), chosen) if chosen else None
    sparks = (
        {m.code: report.sparkline(data.content.history.get(m.code, [])) for m in data.content.measures}
        if data
        else {}
    )
    return render(
        request,
        "measures.html",
        {
            "title": f"{org}: measures",
            "org": org,
            "cycles": cycles,
            "chosen": chosen,
            "data": data,
            "sparks": sparks,
        },
    )


@router.get("/orgs/{org}/actions")
def actions(request: Request, org: str) -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, org)
    found = _framework(request).actions.list_for(org)
    return render(
        request, "actions.html", {"title": f"{org}: Scrutiny actions", "org": org, "actions": found}
    )


@router.get("/orgs/{org}/audit.csv")
def audit_csv(request: Request, org: str, instance: str = "", actor: str = "", event: str = "") -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, org)
    out = io.StringIO()
    with engine.store.read() as s:
        audit.export(_entries(s, org, instance, actor, event), out, "csv")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{org}-audit.csv"'},
    )


@router.get("/orgs/{org}/audit")
def audit_trail(request: Request, org: str, instance: str = "", actor: str = "", event: str = "") -> Response:
    user = require_user(request)
    engine = _engine(request)
    require_member(engine, user, org)
    with engine.store.read() as s:
        verification = audit.verify(s, chain=org)
        entries = _entries(s, org, instance, actor, event)
    context = {
        "title": f"{org}: audit trail",
        "org": org,
        "entries": entries,
        "verification": verification,
        "filters": {"instance": instance, "actor": actor, "event": event},
        "query": "&".join(
            f"{k}={v}" for k, v in (("instance", instance), ("actor", actor), ("event", event)) if v
        ),
    }
    return render(request, "audit.html", context)


def _entries(s: Any, org: str, instance: str, actor: str, event: str) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.chain == org).order_by(AuditEntry.seq)
    if instance:
        query = query.where(
            (AuditEntry.instance == instance) | AuditEntry.instance.startswith(instance + "/")
        )
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if event:
        query = query.where(AuditEntry.event == event)
    return list(s.scalars(query.limit(2000)))
