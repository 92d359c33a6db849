"""A cycle, a service return or a Scrutiny action: its state, diagram, deadline, timeline and
the steps the signed-in person may take; and the forms a cycle's page posts (a step, an
exception report, a Scrutiny action).

A form that fails shows the page again with the reasons; a refused step has already been
audited by ``Engine.fire``. The page itself is the last route: ``{key:path}`` would take the
paths of the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.clock import london
from pmf_engine.core.errors import ConcurrencyConflict, InvalidInput, NotFound, PmfError, Refused
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.diagram import state_diagram
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.rendering import Renderer
from pmf_engine.pmf.actions import ActionView
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.status import MeasureStatus

router = APIRouter()
Text = Annotated[str, Form()]
OptionalText = Annotated[str | None, Form()]
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
    by = f", last by {moved.actor} ({moved.trigger}, {_when(moved.at)})" if moved else ""
    return (
        f"Nothing was done: {key} changed while the page was open. You saw version {conflict.expected}; "
        f"it is now {now.state_label} (version {now.version}){by}. Check the page below and try again."
    )


@router.post("/instances/{key:path}/fire")
def fire(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
    trigger: Text,
    reason: OptionalText = None,
    expected_version: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Take a step; the page again with the engine's reason if it is refused. The data it
    sends is what the workflow declares for the step: its ``fields`` (one value each) and the
    children its cascade may be limited to (checkboxes, several values).

    The form carries the version of the instance it showed, and acts only on that version:
    if someone has moved it since, nothing is done and the page says what changed (409)."""
    if expected_version is None:
        return instance_page(render, framework, key, user, errors=[STALE_FORM], status=FORM_ERRORS)
    step = next((s for s in framework.engine.steps_for(key, user) if s.trigger == trigger), None)
    data: dict[str, Any] = {}
    if step is not None:
        data = {f: str(form[f]).strip() for f in step.fields if str(form.get(f) or "").strip()}
        data |= {k: [str(v) for v in form.getlist(k)] for k, _ in step.choices if form.getlist(k)}
    try:
        framework.engine.fire(key, trigger, user, reason=reason, data=data, expected_version=expected_version)
    except ConcurrencyConflict as conflict:
        errors = [_what_changed(framework, key, conflict)]
        return instance_page(render, framework, key, user, errors=errors, status=status_of(conflict)[0])
    except Refused as refusal:  # already audited by the engine
        status, _title = status_of(refusal)
        return instance_page(render, framework, key, user, errors=[refusal.reason], status=status)
    except InvalidInput as invalid:  # a reason or data over its limit: audited, clipped
        status, _title = status_of(invalid)
        return instance_page(render, framework, key, user, errors=[invalid.why], status=status)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.post("/instances/{key:path}/exception-reports")
def add_exception_report(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    code: Text,
    reason: Text,
    remedial_action: Text,
    owner: Text,
    recovery_date: Text,
) -> Response:
    """Record why a red measure (or ``project CODE``) missed and how it will recover."""
    try:
        framework.performance.add_exception_report(
            key,
            code.removeprefix("project "),
            project=code.startswith("project "),
            reason=reason,
            remedial_action=remedial_action,
            owner=owner,
            recovery_date=recovery_date,
            by=user,
        )
    except PmfError as exc:
        return instance_page(render, framework, key, user, errors=[f"{code}: {exc}"], status=FORM_ERRORS)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.post("/instances/{key:path}/actions")
def raise_action(
    key: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    what: Text,
    assignee: Text,
    due: Text,
    link: Text = "",
) -> Response:
    """Record an action Scrutiny raised on the cycle."""
    try:
        framework.actions.add(
            key, what, assignee=assignee.strip(), due=due.strip(), link=link.strip(), by=user
        )
    except PmfError as exc:
        return instance_page(render, framework, key, user, errors=[str(exc)], status=FORM_ERRORS)
    return RedirectResponse(f"/instances/{key}", status_code=303)


@router.post("/instances/{key:path}/chase")
def chase(key: str, user: FormMember, framework: FrameworkDep, render: Render) -> Response:
    """Queue a reminder now to whoever must act at the instance's stage (once a day at most)."""
    try:
        done = framework.chasing.chase(key, by=user)
    except PmfError as exc:
        status, _title = status_of(exc)
        return instance_page(render, framework, key, user, errors=[str(exc)], status=status)
    return RedirectResponse(f"/instances/{key}?chased={len(done.recipients)}", status_code=303)


@router.get("/instances/{key:path}")
def instance(
    key: str,
    user: Member,
    framework: FrameworkDep,
    render: Render,
    saved: int | None = None,
    chased: int | None = None,
) -> Response:
    """The page of cycle, return or action ``key``."""
    return instance_page(render, framework, key, user, saved=saved, chased=chased)


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
    chased: int | None = None,
    status: int = 200,
) -> Response:
    """The instance page, with the errors of a form it posted if any."""
    engine = framework.engine
    status_now = engine.status(key)
    details = queries.instance_details(framework, key, user)
    parsed = InstanceKey.parse(key)
    cycle_key = parsed.cycle
    measures: list[Any] = []
    cycle_measures: list[MeasureStatus] | None = None
    if status_now.service:
        cycle_measures = framework.performance.status(cycle_key)
        measures = [m for m in cycle_measures if m.service == status_now.service]
    wf = details.definition
    action = _action(framework, key, status_now.workflow)
    action_measure = None
    if action is not None and action.link and not action.link.startswith("project "):
        cycle_measures = cycle_measures or framework.performance.status(cycle_key)
        action_measure = next((m for m in cycle_measures if m.code == action.link), None)
    owed: list[tuple[str, str]] = []
    if details.owed:
        owed = _owed(framework, key, details.owed)
    arrival = _arrival(details.timeline, status_now.state)
    labels = {t.trigger: t.label or t.trigger for t in wf.transitions}
    may_chase = not status_now.terminal and framework.chasing.may_chase(key, user)
    last_chase = framework.chasing.last(key) if may_chase else None
    return render(
        "instance.html",
        {
            "title": key,
            "status": status_now,
            "states": [(name, st.label) for name, st in wf.states.items()],
            "transitions": wf.transitions,
            "diagram": state_diagram(wf, status_now.state),
            "timeline": details.timeline,
            "steps": engine.steps_for(key, user),
            "measures": measures,
            "open_for_data": status_now.service is not None and framework.performance.is_open(key),
            "errors": errors or [],
            "field_errors": field_errors or {},
            "form": form or {},
            "saved": saved,
            "owed": owed,
            "may_raise": details.may_raise,
            "arrival": arrival,
            "arrival_label": labels.get(arrival.trigger or "", arrival.trigger) if arrival else "",
            "action": action,
            "action_measure": action_measure,
            "action_figures": _figures(action_measure) if action_measure else "",
            "may_chase": may_chase,
            "last_chase": last_chase,
            "chase_ready": last_chase is None or engine.clock.now() >= last_chase.again_at,
            "chased": chased,
        },
        status,
    )


def _arrival(timeline: list[AuditEntry], state: str) -> AuditEntry | None:
    """The step that brought the instance to ``state``, if it was given with a reason (a return
    sent back for correction, reopened by CMT, waived): why it is where it is."""
    for entry in reversed(timeline):
        if entry.event == "fired" and entry.to_state is not None:
            if entry.to_state != state:
                return None
            return entry if entry.reason else None
    return None


def _action(framework: Framework, key: str, workflow: str) -> ActionView | None:
    """The Scrutiny action ``key``, if the instance is one."""
    if workflow.split("@", maxsplit=1)[0] != framework.actions.policy.workflow:
        return None
    try:
        return framework.actions.get(key)
    except NotFound:
        return None


def _owed(framework: Framework, cycle: str, owed: list[str]) -> list[tuple[str, str]]:
    """Each exception report owed, with what the form needs to say why: the measure's title,
    actual and target, or the project's title and status."""
    measures = {m.code: m for m in framework.performance.status(cycle)}
    projects = (
        {p.code: p for p in framework.projects.status(cycle)}
        if any(item.startswith("project ") for item in owed)
        else {}
    )
    described = []
    for item in owed:
        if item.startswith("project "):
            project = projects.get(item.removeprefix("project "))
            text = f"{project.title}: reported {project.status.replace('_', ' ')}" if project else ""
        else:
            m = measures.get(item)
            text = f"{m.title}: {_figures(m)}" if m else ""
        described.append((item, text))
    return described


def _figures(m: MeasureStatus) -> str:
    """``actual 33.5 days against a target of 28 days``."""
    return f"actual {_figure(m.actual, m.unit)} against a target of {_figure(m.target, m.unit)}"


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "none"
    if unit == "£":
        return f"£{value:,g}"
    return f"{value:,g}{'%' if unit == '%' else f' {unit}' if unit else ''}"
