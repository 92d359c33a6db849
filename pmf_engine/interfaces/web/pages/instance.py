"""A cycle, a service return or a Scrutiny action: its state, diagram, deadline, timeline and
the steps the signed-in person may take; and the forms a cycle's page posts (a step, an
exception report, a Scrutiny action).

A form that fails shows the page again with the reasons, in plain words, beside the fields and
in the error summary, with what was typed kept. A field left empty (a step's reason, an
exception report's owner, a date) is found before anything is fired or written, so it is not
an audited refusal; a step the engine refuses has been audited by ``Engine.fire``. The page
itself is the last route: ``{key:path}`` would take the paths of the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.clock import london
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.errors import ConcurrencyConflict, InvalidInput, PmfError, Refused
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.views import InstanceStatus
from pmf_engine.interfaces.web import queries, wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.diagram import state_diagram
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import read_date, required, typed
from pmf_engine.interfaces.web.rendering import Renderer
from pmf_engine.pmf.framework import Framework

router = APIRouter()
Text = Annotated[str, Form()]
FORM_ERRORS = 400
"""The status of a page shown again with the errors of the form it posted."""
STALE_FORM = (
    "This form is out of date (it does not say which version it was for): reload the page and try again."
)


def _when(at: str) -> str:
    return f"{london(datetime.fromisoformat(at)):%d %b %Y %H:%M}"


def _what_changed(framework: Framework, key: str, conflict: ConcurrencyConflict) -> str:
    """What a conflict page says: the version the form showed, the state now and who moved it."""
    now = framework.engine.status(key, with_children=False)
    moved = queries.last_move(framework.engine.store, key)
    wf = queries.definition_of(framework.engine, key) if moved else None
    step = wording.step_words(wf, moved.trigger) if moved else ""
    by = f", last by {moved.actor} (“{step}”, {_when(moved.at)})" if moved else ""
    return (
        f"Nothing was done: {key} changed while the page was open. You saw version {conflict.expected}; "
        f"it is now at {now.state_label} (version {now.version}){by}. Check the page below and try again."
    )


@router.post("/instances/{key:path}/fire")
def fire(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
    trigger: Text = "",
    expected_version: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Take a step; the page again with the reason in plain words if it cannot be taken. The
    data it sends is what the workflow declares for the step: its ``fields`` (one value each)
    and the children its cascade may be limited to (checkboxes, several values).

    A reason or field the step needs and the form left empty is the form's error, found before
    firing (nothing audited). The form carries the version of the instance it showed, and acts
    only on that version: if someone has moved it since, nothing is done and the page says what
    changed (409)."""
    if expected_version is None or not trigger:
        return instance_page(render, framework, key, user, errors=[STALE_FORM], status=FORM_ERRORS)
    step = next((s for s in framework.engine.steps_for(key, user) if s.trigger == trigger), None)
    reason = str(form.get("reason") or "").strip() or None
    data: dict[str, Any] = {}
    if step is not None:
        wanted = {f: (f"{f}-{trigger}", f"Enter the {wording.field_words(f)}") for f in step.fields}
        if step.reason_required:
            wanted["reason"] = (f"reason-{trigger}", f"Enter the reason for “{step.label}”")
        missing = required(form, wanted)
        if missing:
            return instance_page(
                render, framework, key, user, field_errors=missing, form=typed(form), status=FORM_ERRORS
            )
        data = {f: str(form[f]).strip() for f in step.fields if str(form.get(f) or "").strip()}
        data |= {k: [str(v) for v in form.getlist(k)] for k, _ in step.choices if form.getlist(k)}
    try:
        framework.engine.fire(key, trigger, user, reason=reason, data=data, expected_version=expected_version)
    except ConcurrencyConflict as conflict:
        errors = [_what_changed(framework, key, conflict)]
        return instance_page(render, framework, key, user, errors=errors, status=status_of(conflict)[0])
    except (Refused, InvalidInput) as refused:  # audited by the engine (an over-long reason: clipped)
        status, _title = status_of(refused)
        words = _plain(framework, key, refused)
        return instance_page(render, framework, key, user, errors=[words], form=typed(form), status=status)
    return RedirectResponse(f"/instances/{key}", status_code=303)


def _plain(framework: Framework, key: str, exc: PmfError, what: str = "") -> str:
    """``exc`` as a sentence, with the instance's workflow and the roles' labels at hand."""
    wf = queries.definition_of(framework.engine, key)
    return wording.refusal(exc, wf=wf, roles=framework.engine.catalog.roles, what=what)


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
            words = _plain(framework, key, exc, what=f"write the exception report for {code}")
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
                words = _plain(framework, key, exc, what="raise a Scrutiny action")
                return instance_page(
                    render, framework, key, user, errors=[words], form=typed(form), status=FORM_ERRORS
                )
        else:
            return RedirectResponse(f"/instances/{key}", status_code=303)
    return instance_page(
        render, framework, key, user, field_errors=errors, form=typed(form), status=FORM_ERRORS
    )


@router.get("/instances/{key:path}")
def instance(
    key: str, user: Member, framework: FrameworkDep, render: Render, saved: int | None = None
) -> Response:
    """The page of cycle, return or action ``key``."""
    return instance_page(render, framework, key, user, saved=saved)


def instance_title(framework: Framework, status: InstanceStatus, title: str) -> str:
    """A page's title in words: ``Housing return, Quarter 2 2024-25`` for a service's return,
    ``Quarterly performance cycle, Quarter 2 2024-25`` for a cycle, ``Scrutiny action SA-1,
    Quarter 1 2024-25`` for another child."""
    when = wording.period_words(status.period)
    if status.service:
        name = queries.service_name(framework.engine.store, status.organisation, status.service)
        return f"{name} return, {when}"
    parsed = InstanceKey.parse(status.key)
    if parsed.child is not None:
        return f"{title} {parsed.child}, {when}"
    return f"{title}, {when}"


def _child_workflow(framework: Framework) -> Callable[[str], WorkflowDef | None]:
    def find(name: str) -> WorkflowDef | None:
        return framework.engine.catalog.workflows.get(name)

    return find


def instance_page(
    render: Renderer,
    framework: Framework,
    key: str,
    user: str,
    *,
    errors: list[str] | None = None,
    field_errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    saved: int | None = None,
    status: int = 200,
) -> Response:
    """The instance page, with the errors of a form it posted if any: ``errors`` about the
    whole step (linked to the steps), ``field_errors`` by the id of the field each sits beside."""
    engine = framework.engine
    status_now = engine.status(key)
    details = queries.instance_details(framework, key, user)
    measures: list[Any] = []
    if status_now.service:
        cycle = InstanceKey.parse(key).cycle
        measures = [m for m in framework.performance.status(cycle) if m.service == status_now.service]
    wf = details.definition
    steps, waiting = [], []
    for step in engine.steps_for(key, user):
        said = wording.waiting_on(
            wf, step.label, step.trigger, status_now.children, _child_workflow(framework)
        )
        if said:  # it could not work yet: say what it waits for instead of offering a button
            waiting.extend(said)
        else:
            steps.append(step)
    summary = [("actions", e) for e in errors or []] + list((field_errors or {}).items())
    roles = engine.catalog.roles
    return render(
        "instance.html",
        {
            "title": instance_title(framework, status_now, wf.title or wf.name),
            "status": status_now,
            "workflow": wf,
            "states": [(name, st.label) for name, st in wf.states.items()],
            "transitions": wf.transitions,
            "roles": roles,
            "diagram": state_diagram(wf, status_now.state),
            "timeline": details.timeline,
            "steps": steps,
            "waiting": waiting,
            "measures": measures,
            "open_for_data": status_now.service is not None and framework.performance.is_open(key),
            "summary": summary,
            "field_errors": field_errors or {},
            "form": form or {},
            "saved": saved,
            "owed": details.owed,
            "may_write": details.may_write,
            "may_raise": details.may_raise,
        },
        status,
    )
