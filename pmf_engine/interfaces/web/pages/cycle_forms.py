"""The forms an instance's page posts besides its steps: a cycle's exception report for a red
measure (or an off-track project), a Scrutiny action, and chasing whoever must act. Each
field's error sits beside it, what was typed is kept, and dates are typed as UK dates; a form
that is not complete writes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.errors import InvalidInput, PmfError
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import read_date, required, typed
from pmf_engine.interfaces.web.pages.instance import FORM_ERRORS, instance_page, plain_refusal

router = APIRouter()
Text = Annotated[str, Form()]


EXCEPTION_FIELDS = (
    ("reason", "reason", "Enter why it missed"),
    ("remedial_action", "action", "Enter the remedial action"),
    ("owner", "owner", "Enter the owner"),
)
"""(form name, element id prefix, message when empty) of an exception report's text fields."""


@router.post("/instances/{key:path}/exception-reports")
def add_exception_report(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
    code: Text = "",
) -> Response:
    """Record why a red measure (or ``project CODE``) missed and how it will recover; the
    page again, with each field's error beside it, if the form is not complete."""
    slug = code.replace(" ", "-")
    errors = required(form, {name: (f"{prefix}-{slug}", words) for name, prefix, words in EXCEPTION_FIELDS})
    recovery = read_date(form, "recovery_date", "the expected recovery date")
    if recovery.error:
        errors[f"recovery-{slug}-day"] = recovery.error
    if not errors and recovery.value is not None:
        try:
            framework.performance.add_exception_report(
                key,
                code.removeprefix("project "),
                project=code.startswith("project "),
                reason=str(form.get("reason") or ""),
                remedial_action=str(form.get("remedial_action") or ""),
                owner=str(form.get("owner") or "").strip(),
                recovery_date=recovery.value,
                by=user,
            )
        except InvalidInput as invalid:
            prefix = next((p for n, p, _ in EXCEPTION_FIELDS if n == invalid.field), "recovery")
            where = f"{prefix}-{slug}" + ("-day" if prefix == "recovery" else "")
            errors[where] = wording.sentence(invalid.why)
        except PmfError as exc:
            words = plain_refusal(framework, key, exc, what=f"write the exception report for {code}")
            return instance_page(
                render, framework, key, user, errors=[words], form=typed(form), status=FORM_ERRORS
            )
        else:
            return RedirectResponse(f"/instances/{key}", status_code=303)
    return instance_page(
        render, framework, key, user, field_errors=errors, form=typed(form), status=FORM_ERRORS
    )


ACTION_FIELDS = {
    "what": ("action-what", "Enter what is to be done"),
    "assignee": ("action-assignee", "Enter the username of who is to do it"),
}


@router.post("/instances/{key:path}/actions")
def raise_action(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Record an action Scrutiny raised on the cycle; the page again, with each field's error
    beside it, if the form is not complete or a service refuses a value."""
    errors = required(form, ACTION_FIELDS)
    due = read_date(form, "due", "the date it is due")
    if due.error:
        errors["action-due-day"] = due.error
    if not errors and due.value is not None:
        try:
            framework.actions.add(
                key,
                str(form.get("what") or ""),
                assignee=str(form.get("assignee") or "").strip(),
                due=due.value,
                link=str(form.get("link") or "").strip(),
                by=user,
            )
        except InvalidInput as invalid:
            where = {"what": "action-what", "assignee": "action-assignee", "link": "action-link"}
            errors[where.get(invalid.field, "action-due-day")] = wording.sentence(invalid.why)
        except PmfError as exc:
            if getattr(exc, "kind", "") in ("measure", "project"):  # the link names nothing
                errors["action-link"] = wording.refusal(exc)
            else:
                words = plain_refusal(framework, key, exc, what=f"raise {framework.words.an_action}")
                return instance_page(
                    render, framework, key, user, errors=[words], form=typed(form), status=FORM_ERRORS
                )
        else:
            return RedirectResponse(f"/instances/{key}", status_code=303)
    return instance_page(
        render, framework, key, user, field_errors=errors, form=typed(form), status=FORM_ERRORS
    )


@router.post("/instances/{key:path}/chase")
def chase(key: str, user: FormMember, framework: FrameworkDep, render: Render) -> Response:
    """Queue a reminder now to whoever must act at the instance's stage (once a day at most)."""
    try:
        done = framework.chasing.chase(key, by=user)
    except PmfError as exc:
        status, _title = status_of(exc)
        return instance_page(render, framework, key, user, errors=[str(exc)], status=status)
    return RedirectResponse(f"/instances/{key}?chased={len(done.recipients)}", status_code=303)
