"""A service plan's actions changed or withdrawn from its page: each standing one has a form to
change it (the fields of adding one) and one to withdraw it with a reason, while the plan may
change (``pmf.plan_changes`` holds the rules: the same as the CLI's; risks: ``plan_risks``).

An incomplete form shows the plan's page again with each error beside its field of that form
(and in the error summary), what was typed kept and nothing written; a refusal (under review,
agreed, not the person's service) is said over the page with the status of its error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Render
from pmf_engine.interfaces.web.forms import read_date, required, typed
from pmf_engine.interfaces.web.pages.plans import change, plan_page

router = APIRouter()
BASE = "/orgs/{org}/plans/{year}/{service}"


def _of(form: CheckedForm, at: str) -> dict[str, str]:
    """What was typed, marked as typed into the forms of ``at`` (the page opens those, and
    keeps the add forms clear)."""
    return {**typed(form), "form_of": at}


def _text(form: dict[str, str], name: str) -> str:
    return str(form.get(name) or "")


@router.post(BASE + "/actions/{ref}")
def edit_action(
    org: str,
    year: str,
    service: str,
    ref: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Change an action: what, whose, by when, and what it serves."""
    at = f"action-{ref}"
    posted = _of(form, at)
    errors = required(
        form,
        {
            "what": (f"{at}-what", "Enter what is to be done"),
            "owner": (f"{at}-owner", "Enter the username of the action's owner"),
        },
    )
    due = read_date(posted, "due", "the date it is due")
    if due.error:
        errors[f"{at}-due-day"] = due.error
    if errors or due.value is None:
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=posted)
    return change(
        render, framework, org, year, service, user, posted, "action_edited",
        lambda key: framework.plans.edit_action(
            key, ref, what=_text(posted, "what"), owner=_text(posted, "owner").strip(), due=str(due.value),
            link=_text(posted, "link").strip(), by=user,
        ),
        {"what": f"{at}-what", "owner": f"{at}-owner", "link": f"{at}-link", "due": f"{at}-due-day"},
    )  # fmt: skip


@router.post(BASE + "/actions/{ref}/withdraw")
def withdraw_action(
    org: str,
    year: str,
    service: str,
    ref: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Withdraw an action, saying why: it stays on the plan, marked withdrawn."""
    return withdraw(
        render, framework, org, year, service, user, form, "action", ref, framework.plans.withdraw_action
    )


def withdraw(
    render: Render,
    framework: FrameworkDep,
    org: str,
    year: str,
    service: str,
    user: str,
    form: CheckedForm,
    kind: str,
    ref: str,
    withdraw: Callable[..., Any],
) -> Response:
    """Withdraw the plan's ``kind`` (action or risk) ``ref`` with the reason typed into its form."""
    where = f"{kind}-{ref}-reason"
    posted = _of(form, f"{kind}-{ref}")
    errors = required(posted, {"reason": (where, f"Enter why the {kind} is withdrawn")})
    if errors:
        return plan_page(render, framework, org, year, service, user, field_errors=errors, form=posted)
    return change(
        render, framework, org, year, service, user, posted, f"{kind}_withdrawn",
        lambda key: withdraw(key, ref, reason=_text(posted, "reason"), by=user),
        {"reason": where},
    )  # fmt: skip
