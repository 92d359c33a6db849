"""Service plans in the browser: the organisation's plans by year (and starting a year's round),
and one service's plan for a year: where it stands and the steps the signed-in person may take
(posted to the instance's ``/fire``), its self-evaluation and sections, its actions with each
quarter's status, and its operational risks as the risk register holds them, with the forms
that write them (those that change or withdraw an action: ``plan_changes``; the risks':
``plan_risks``).

A form that is not complete shows the page again with each field's error beside it and in the
error summary, what was typed kept; nothing is written. A change a service refuses (the plan
is under review, the owner holds no role) is said the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.clock import london
from pmf_engine.core.errors import InvalidInput, NotFound, PmfError
from pmf_engine.core.period import FinancialYear, Period
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import read_date, required, typed
from pmf_engine.interfaces.web.rendering import Renderer, name_of
from pmf_engine.pmf.framework import Framework

router = APIRouter()
Text = Annotated[str, Form()]
FORM_ERRORS = 400
DONE = {
    "written": "Plan saved",
    "action": "Action added",
    "risk": "Risk added",
    "action_edited": "Action changed",
    "action_withdrawn": "Action withdrawn",
    "risk_edited": "Risk changed",
    "risk_withdrawn": "Risk withdrawn",
}
"""What the plan's page says after a change (by code: a link cannot make it say anything else)."""


@router.get("/orgs/{org}/plans")
def plans(org: str, user: Member, framework: FrameworkDep, render: Render, started: str = "") -> Response:
    """The organisation's service plans, newest year first, and the form to start a year's round."""
    return _list_page(render, framework, org, user, started=started)


@router.post("/orgs/{org}/plans")
def start_plans(
    org: str, user: FormMember, framework: FrameworkDep, render: Render, form: CheckedForm
) -> Response:
    """Start the year's planning round: a plan for every service."""
    year = str(form.get("year") or "").strip()
    if not year:
        errors = {"year": "Enter the financial year, like 2025-26"}
        return _list_page(render, framework, org, user, errors=errors, status=FORM_ERRORS)
    try:
        framework.plans.start(org, year, by=user)
    except PmfError as exc:
        words = wording.refusal(exc, roles=framework.engine.catalog.roles, what=f"start the plans of {year}")
        status = FORM_ERRORS if isinstance(exc, InvalidInput) else status_of(exc)[0]
        return _list_page(render, framework, org, user, errors={"year": words}, year=year, status=status)
    return RedirectResponse(f"/orgs/{org}/plans?started={year}", status_code=303)


@router.get("/orgs/{org}/plans/{year}/{service}")
def plan(
    org: str, year: str, service: str, user: Member, framework: FrameworkDep, render: Render, done: str = ""
) -> Response:
    """A service's plan for the year."""
    return plan_page(render, framework, org, year, service, user, done=DONE.get(done, ""))


SECTION_FIELD = "section-"


@router.post("/orgs/{org}/plans/{year}/{service}")
def write_plan(
    org: str,
    year: str,
    service: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Save the plan's self-evaluation and sections."""
    sections = {
        name: str(form.get(SECTION_FIELD + name) or "")
        for name in framework.plans.policy.sections
        if SECTION_FIELD + name in form
    }
    evaluation = str(form.get("self_evaluation") or "")
    return change(
        render, framework, org, year, service, user, form, "written",
        lambda key: framework.plans.write(key, self_evaluation=evaluation, sections=sections, by=user),
        {"self_evaluation": "self-evaluation"},
    )  # fmt: skip


ACTION_FIELDS = {
    "what": ("action-what", "Enter what is to be done"),
    "owner": ("action-owner", "Enter the username of the action's owner"),
}


@router.post("/orgs/{org}/plans/{year}/{service}/actions")
def add_action(
    org: str,
    year: str,
    service: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Add an action: what, whose, by when, and the measure or project it serves."""
    errors = required(form, ACTION_FIELDS)
    due = read_date(form, "due", "the date it is due")
    if due.error:
        errors["action-due-day"] = due.error
    if errors or due.value is None:
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=typed(form))
    return change(
        render, framework, org, year, service, user, form, "action",
        lambda key: framework.plans.add_action(
            key, str(form.get("what") or ""), owner=str(form.get("owner") or "").strip(), due=str(due.value),
            link=str(form.get("link") or "").strip(), by=user,
        ),
        {"what": "action-what", "owner": "action-owner", "link": "action-link", "due": "action-due-day"},
    )  # fmt: skip


def change(
    render: Renderer,
    framework: Framework,
    org: str,
    year: str,
    service: str,
    user: str,
    form: Any,
    done: str,
    make: Any,
    fields: dict[str, str],
) -> Response:
    """Make the change ``make`` makes to the plan (given its key), then back to its page saying
    ``done``; the page again with the refusal beside the field it names (or over the page) if a
    service refuses it."""
    key = framework.plans.plan_key(org, year, service)
    try:
        make(key)
    except InvalidInput as invalid:
        where = fields.get(invalid.field, next(iter(fields.values())))
        errors = {where: wording.sentence(invalid.why)}
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=typed(form))
    except PmfError as exc:
        if getattr(exc, "kind", "") in ("measure", "project") and "link" in fields:
            errors = {fields["link"]: wording.refusal(exc)}
            return plan_page(
                render, framework, org, year, service, user, field_errors=errors, form=typed(form)
            )
        words = wording.refusal(exc, roles=framework.engine.catalog.roles, what="change the plan")
        return plan_page(
            render,
            framework,
            org,
            year,
            service,
            user,
            errors=[words],
            form=typed(form),
            status=status_of(exc)[0],
        )
    return RedirectResponse(f"/orgs/{org}/plans/{year}/{service}?done={done}", status_code=303)


def _list_page(
    render: Renderer,
    framework: Framework,
    org: str,
    user: str,
    *,
    started: str = "",
    errors: dict[str, str] | None = None,
    year: str = "",
    status: int = 200,
) -> Response:
    engine = framework.engine
    found = framework.plans.list_for(org)
    today = london(engine.clock.now()).date()
    years = sorted({p.year for p in found}, reverse=True)
    return render(
        "plans.html",
        {
            "title": f"{name_of(render, org)}: service plans",
            "org": org,
            "years": [(y, [p for p in found if p.year == y]) for y in years],
            "may_start": framework.plans.may_start(org, user),
            "year": year or str(FinancialYear(Period.containing(today).start_year)),
            "started": started if started in years else "",
            "field_errors": errors or {},
            "summary": list((errors or {}).items()),
        },
        status,
    )


def plan_page(
    render: Renderer,
    framework: Framework,
    org: str,
    year: str,
    service: str,
    user: str,
    *,
    done: str = "",
    errors: list[str] | None = None,
    field_errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = FORM_ERRORS,
) -> Response:
    """The plan's page; shown with a form's errors at ``status`` (400), else at 200."""
    plans_ = framework.plans
    key = plans_.plan_key(org, year, service)
    view = plans_.get(key)
    if view.organisation != org:
        raise NotFound("service plan", key)
    engine = framework.engine
    start_year = int(view.year[:4])
    quarters = [str(Period(start_year, q)) for q in (1, 2, 3, 4)]
    shown = errors or field_errors
    return render(
        "plan.html",
        {
            "title": f"{view.service_name}: service plan {view.year}",
            "org": org,
            "plan": view,
            "status": engine.status(key, with_children=False),
            "steps": engine.steps_for(key, user),
            "may_write": plans_.may_write(key, user),
            "scales": framework.risks.policy.scales,
            "quarters": quarters,
            "done": done,
            "summary": [("steps", e) for e in errors or []] + list((field_errors or {}).items()),
            "field_errors": field_errors or {},
            "form": form or {},
        },
        status if shown else 200,
    )
