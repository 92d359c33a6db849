"""One measure's page: its quarters (chart, table, what was said) and its annual targets through
their lifecycle, with the forms to propose or revise one (the measure's service, or the
performance team) and to agree or send back one at the stage it awaits (that stage's roles,
``framework.yaml``'s ``targets``). Each field's error sits beside it; a refused or incomplete
form writes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from pmf_engine.core import values
from pmf_engine.core.errors import InvalidInput, PermissionDenied, PmfError
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Member, PathId, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import required, typed
from pmf_engine.interfaces.web.pages.dashboard import cycle_of
from pmf_engine.interfaces.web.rendering import Renderer
from pmf_engine.pmf import dashboard, report
from pmf_engine.pmf.framework import Framework

router = APIRouter()
Text = Annotated[str, Form()]
FIELD_OF = {
    "year": "target-year",
    "value": "target-value",
    "effective_from": "target-from",
    "reason": "target-reason",
}
"""The element beside which an ``InvalidInput`` of each field is shown."""
FORM_ERRORS = 400


@router.get("/orgs/{org}/measures/{code}/history")
def measure_page(
    org: str, code: str, user: Member, framework: FrameworkDep, render: Render, upto: str | None = None
) -> Response:
    """One measure over three years: chart with its target, the figures as a table, what was
    said and by whom, exception reports and restatements; its targets and their forms."""
    return measure_history_page(render, framework, org, code, user, upto)


@router.post("/orgs/{org}/measures/{code}/targets")
def propose_target(
    org: str,
    code: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
    kind: Text = "original",
    upto: Text = "",
) -> Response:
    """Propose the measure's annual target for a year, or a mid-year revision of it."""
    errors = required(
        form,
        {
            "year": ("target-year", "Enter the financial year, like 2025-26"),
            "value": ("target-value", "Enter the annual target"),
            "reason": ("target-reason", "Enter why this target"),
        },
    )
    number = None
    if "target-value" not in errors:
        try:
            number = values.parse_number(str(form.get("value") or ""))
        except ValueError as exc:
            errors["target-value"] = wording.sentence(f"The target must be a number: {exc}")
    if not errors and number is not None:
        year, reason = str(form.get("year") or "").strip(), str(form.get("reason") or "")
        try:
            if kind == "revision":
                framework.targets.revise(
                    org, code, year, number, reason=reason, by=user,
                    effective_from=str(form.get("effective_from") or "").strip() or None,
                )  # fmt: skip
            else:
                framework.targets.propose(org, code, year, number, reason=reason, by=user)
        except InvalidInput as invalid:
            errors[FIELD_OF.get(invalid.field, "target-reason")] = wording.sentence(invalid.why)
        except PmfError as exc:
            return _refused(render, framework, org, code, user, upto, exc, form)
        else:
            return _back(org, code, upto)
    return measure_history_page(
        render, framework, org, code, user, upto or None, errors=errors, form=typed(form), status=FORM_ERRORS
    )


@router.post("/orgs/{org}/measures/{code}/targets/{target}")
def decide_target(
    org: str,
    code: str,
    target: PathId,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
    decision: Text = "agree",
    upto: Text = "",
) -> Response:
    """Agree the target at the stage it awaits, or send it back, with the reason."""
    where = f"decision-{target}-reason"
    errors = required(form, {"reason": (where, "Enter the reason for the decision")})
    if not errors:
        reason = str(form.get("reason") or "")
        try:
            if decision == "send_back":
                framework.targets.send_back(org, target, reason=reason, by=user)
            else:
                framework.targets.agree(org, target, reason=reason, by=user)
        except InvalidInput as invalid:
            errors[where] = wording.sentence(invalid.why)
        except PmfError as exc:
            return _refused(render, framework, org, code, user, upto, exc, form)
        else:
            return _back(org, code, upto)
    return measure_history_page(
        render, framework, org, code, user, upto or None, errors=errors, form=typed(form), status=FORM_ERRORS
    )


def measure_history_page(
    render: Renderer,
    framework: Framework,
    org: str,
    code: str,
    user: str,
    upto: str | None,
    *,
    errors: dict[str, str] | None = None,
    refusal: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The measure's page up to quarter ``upto`` (the latest cycle's without it)."""
    cycle = cycle_of(framework, org, upto)
    detail = dashboard.measure_detail(framework, org, code, cycle.rsplit("/", 1)[-1])
    label = (
        f"{detail.title}: figures for {detail.quarters[0].period} to {detail.quarters[-1].period}, "
        "solid line; target, dashed line. The same figures are in the table below."
    )
    chart = Markup(  # noqa: S704 - numbers and escaped text
        report.history_chart([(q.period, q.value, q.target) for q in detail.quarters], label=label)
    )
    service = framework.targets
    lifecycle = framework.policies.framework.targets is not None
    listed = service.list(org, code=code) if lifecycle else []
    summary = ([("target-form", refusal)] if refusal else []) + list((errors or {}).items())
    return render(
        "measure_history.html",
        {
            "title": f"{detail.code}: {detail.title}",
            "detail": detail,
            "chart": chart,
            "period": cycle,
            "lifecycle": lifecycle,
            "targets": [(t, service.may_decide(org, user, t)) for t in reversed(listed)],
            "may_propose": lifecycle and service.may_propose(org, user, code),
            "errors": errors or {},
            "refusal": refusal,
            "summary": summary,
            "form": form or {},
        },
        status,
    )


def _back(org: str, code: str, upto: str) -> Response:
    query = f"?upto={upto}" if upto else ""
    return RedirectResponse(f"/orgs/{org}/measures/{code}/history{query}#targets", status_code=303)


def _refused(
    render: Renderer,
    framework: Framework,
    org: str,
    code: str,
    user: str,
    upto: str,
    exc: PmfError,
    form: CheckedForm,
) -> Response:
    what = f"change the targets of {code}"
    words = (
        wording.sentence(f"you cannot {what}: {exc.rule}")
        if isinstance(exc, PermissionDenied)
        else wording.refusal(exc, roles=framework.engine.catalog.roles, what=what)
    )
    return measure_history_page(
        render,
        framework,
        org,
        code,
        user,
        upto or None,
        refusal=words,
        form=typed(form),
        status=status_of(exc)[0],
    )
