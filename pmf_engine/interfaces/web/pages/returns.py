"""A service's return: its figures typed into the page, or its Excel template downloaded,
filled in and uploaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, UploadFile
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core import values as checks
from pmf_engine.core.errors import FileProblems, InvalidInput, PmfError
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import (
    CheckedForm,
    CurrentUser,
    FormMember,
    FrameworkDep,
    Member,
    PathKey,
    Render,
    ReturnKey,
)
from pmf_engine.interfaces.web.forms import typed
from pmf_engine.interfaces.web.pages.instance import FORM_ERRORS, instance_page
from pmf_engine.pmf.performance import ActualIn
from pmf_engine.pmf.rules import InvalidFigures

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/instances/{key:path}/actuals")
def save_actuals(
    key: str,
    user: CurrentUser,
    form: CheckedForm,  # FormMember's checks, in its order, with the form itself at hand
    _member: Member,
    parsed: PathKey,
    framework: FrameworkDep,
    render: Render,
) -> Response:
    """Save the actuals, forecasts, narratives and missing reasons typed into a return's page.
    The data rules are the application's (``pmf.rules``): each problem is shown by its field."""
    rows, field_errors = [], {}
    for code in [str(v) for v in form.getlist("code")]:
        values: dict[str, float | None] = {}
        for name in ("actual", "forecast"):
            raw = str(form.get(f"{name}_{code}") or "").strip()
            try:
                values[name] = checks.parse_number(raw) if raw else None  # nan, inf, 1e400 refused
            except ValueError as exc:
                field_errors[f"{name}_{code}"] = f"Enter {name} for {code} as a number, like 42.5 ({exc})"
        narrative = str(form.get(f"narrative_{code}") or "").strip()
        missing = str(form.get(f"missing_reason_{code}") or "").strip()
        quality = str(form.get(f"quality_{code}") or "").strip()
        if len(values) == 2 and (values["actual"] is not None or narrative or missing):
            rows.append(ActualIn(code, values["actual"], narrative, values["forecast"], missing, quality))
    if not field_errors:
        try:
            framework.performance.record_actuals(parsed.cycle, rows, by=user)
        except InvalidFigures as refused:
            field_errors = {f"{p.field}_{p.code}": str(p) for p in refused.problems}
        except PmfError as exc:
            words = wording.refusal(exc, roles=framework.engine.catalog.roles, what="save these figures")
            return instance_page(
                render, framework, key, user, errors=[words], form=typed(form), status=FORM_ERRORS
            )
    if field_errors:
        return instance_page(
            render, framework, key, user, field_errors=field_errors, form=typed(form), status=FORM_ERRORS
        )
    return RedirectResponse(f"/instances/{key}?saved={len(rows)}", status_code=303)


@router.post("/instances/{key:path}/plan-actions")
def save_plan_status(
    key: str,
    user: CurrentUser,
    form: CheckedForm,
    _member: Member,
    parsed: ReturnKey,
    framework: FrameworkDep,
    render: Render,
) -> Response:
    """One plan action's status for the return's quarter (``pmf plans report``'s rule: a role
    that reports the service's figures, while the return is open)."""
    ref = str(form.get("ref") or "").strip()
    status = str(form.get(f"status_{ref}") or "").strip()
    note = str(form.get(f"note_{ref}") or "").strip()
    try:
        framework.plans.report_status(parsed.cycle, parsed.child or "", ref, status, note=note, by=user)
    except InvalidInput as exc:
        field = f"{'note' if exc.field == 'note' else 'status'}_{ref}"
        return instance_page(
            render,
            framework,
            key,
            user,
            field_errors={field: str(exc.why)},
            form=typed(form),
            status=FORM_ERRORS,
        )
    except PmfError as exc:
        words = wording.refusal(exc, roles=framework.engine.catalog.roles, what="save this action's status")
        return instance_page(
            render, framework, key, user, errors=[words], form=typed(form), status=FORM_ERRORS
        )
    return RedirectResponse(f"/instances/{key}?saved=1#plan-actions", status_code=303)


@router.post("/instances/{key:path}/upload")
def upload_return(
    key: str,
    user: FormMember,
    parsed: ReturnKey,
    framework: FrameworkDep,
    render: Render,
    file: UploadFile | None = None,
) -> Response:
    """Import a filled-in Excel return; the page again with every problem found in it, or
    with the error beside the file field if none was chosen."""
    content = file.file.read() if file is not None else b""  # bounded at the gate: PMF_MAX_UPLOAD_BYTES
    if file is None or not file.filename:
        return _file_error(render, framework, key, user, "Select the filled-in return (.xlsx) to upload")
    if not content:
        return _file_error(render, framework, key, user, f"The selected file {file.filename} is empty")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "return.xlsx"
        path.write_bytes(content)
        try:
            count = framework.returns.import_return(parsed.cycle, str(parsed.child), path, by=user)
        except FileProblems as exc:
            messages = [_where(file.filename, p.line, p.field) + p.message for p in exc.problems]
            return instance_page(render, framework, key, user, errors=messages, status=FORM_ERRORS)
        except PmfError as exc:
            return _file_error(render, framework, key, user, wording.refusal(exc))
    return RedirectResponse(f"/instances/{key}?saved={count}", status_code=303)


def _file_error(render: Render, framework: FrameworkDep, key: str, user: str, message: str) -> Response:
    return instance_page(render, framework, key, user, field_errors={"file": message}, status=FORM_ERRORS)


def _where(filename: str, line: int | None, field: str) -> str:
    """Where in the uploaded file a problem is: ``return.xlsx, row 5, actual: ``."""
    parts = [filename] + ([f"row {line}"] if line is not None else []) + ([field] if field else [])
    return ", ".join(parts) + ": "


@router.get("/instances/{key:path}/template.xlsx")
def return_template(_user: Member, parsed: ReturnKey, framework: FrameworkDep) -> Response:
    """The return's Excel template, with this quarter's measures and projects."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "return.xlsx"
        framework.returns.template(parsed.cycle, str(parsed.child), path)
        data = path.read_bytes()
    name = f"{parsed.organisation}-{parsed.period}-{parsed.child}-return.xlsx"
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
