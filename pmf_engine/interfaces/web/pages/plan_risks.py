"""A service plan's operational risks from its page: raised, changed and withdrawn while the plan
may change (``pmf.plan_changes`` holds the rules: the same as the CLI's). Each is an entry of
the risk register, so the forms ask what the register holds: the residual likelihood and impact
on ``risk.yaml``'s scales (the inherent pair optional: the residual one by default), cause and
effect, controls, further actions, and the measures and projects it threatens.

An incomplete form shows the plan's page again with each error beside its field (and in the
error summary), what was typed kept and nothing written; a refusal is said over the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Render
from pmf_engine.interfaces.web.forms import required, typed
from pmf_engine.interfaces.web.pages.plan_changes import BASE, withdraw
from pmf_engine.interfaces.web.pages.plans import change, plan_page
from pmf_engine.pmf.risk_entries import RESIDUAL

router = APIRouter()
TEXTS = ("cause", "effect", "controls", "actions")
SCALES = ("likelihood", "impact", "inherent_likelihood", "inherent_impact")


def _risk(form: dict[str, str]) -> dict[str, Any]:
    """The risk's fields as typed: scale points as numbers (an empty optional one left out),
    links split at ``;`` or ``,``."""
    found: dict[str, Any] = {"title": form.get("title", ""), "owner": form.get("owner", "").strip()}
    found |= {name: form.get(name, "") for name in TEXTS}
    for name in SCALES:
        value = form.get(name, "").strip()
        if value:
            found[name] = int(value) if value.isdigit() else 0
    for name in ("measures", "projects"):
        found[name] = [c.strip() for c in form.get(name, "").replace(",", ";").split(";") if c.strip()]
    return found


def _errors(form: dict[str, str], at: str) -> dict[str, str]:
    return required(
        form,
        {
            "title": (f"{at}-title", "Enter the risk"),
            "owner": (f"{at}-owner", "Enter the username of the risk's owner"),
            "likelihood": (f"{at}-likelihood", "Select the residual likelihood"),
            "impact": (f"{at}-impact", "Select the residual impact"),
        },
    )


def _fields(at: str) -> dict[str, str]:
    names = ("title", "owner", *TEXTS, *SCALES, "measures", "projects")
    found = {name: f"{at}-{name}" for name in names}
    found |= {register: found[name] for name, register in RESIDUAL.items()}  # a refusal's names
    return found | {"measure": f"{at}-measures", "project": f"{at}-projects"}


@router.post(BASE + "/risks")
def add_risk(
    org: str,
    year: str,
    service: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Raise an operational risk in the plan: an entry of the risk register."""
    posted = typed(form)
    errors = _errors(posted, "risk")
    if errors:
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=posted)
    return change(
        render, framework, org, year, service, user, posted, "risk",
        lambda key: framework.plans.add_risk(key, by=user, **_risk(posted)),
        _fields("risk"),
    )  # fmt: skip


@router.post(BASE + "/risks/{risk}")
def edit_risk(
    org: str,
    year: str,
    service: str,
    risk: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Change an operational risk (its residual pair only until its first quarterly review)."""
    at = f"risk-{risk}"
    posted = {**typed(form), "form_of": at}
    errors = _errors(posted, at)
    if errors:
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=posted)
    return change(
        render, framework, org, year, service, user, posted, "risk_edited",
        lambda key: framework.plans.edit_risk(key, risk, by=user, **_risk(posted)),
        _fields(at),
    )  # fmt: skip


@router.post(BASE + "/risks/{risk}/withdraw")
def withdraw_risk(
    org: str,
    year: str,
    service: str,
    risk: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Withdraw an operational risk, saying why: off the register, kept on the plan, marked withdrawn."""
    return withdraw(
        render, framework, org, year, service, user, form, "risk", risk, framework.plans.withdraw_risk
    )
