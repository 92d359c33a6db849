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

from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.errors import ConcurrencyConflict, InvalidInput, NotFound, PmfError, Refused
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.period import parse_period
from pmf_engine.core.store import AuditEntry
from pmf_engine.core.views import InstanceStatus
from pmf_engine.interfaces.web import offers, queries, wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, MaybeCount, Member, Render
from pmf_engine.interfaces.web.diagram import state_diagram
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import required, typed
from pmf_engine.interfaces.web.rendering import Renderer
from pmf_engine.pmf.actions import ActionView
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.status import MeasureStatus

router = APIRouter()
Text = Annotated[str, Form()]
FORM_ERRORS = 400
"""The status of a page shown again with the errors of the form it posted."""
STALE_FORM = (
    "This form is out of date (it does not say which version it was for): reload the page and try again."
)


def _when(at: str) -> str:
    return wording.instant_words(datetime.fromisoformat(at))


def _what_changed(framework: Framework, key: str, conflict: ConcurrencyConflict) -> str:
    """What a conflict page says: the version the form showed, the state now and who moved it."""
    now = framework.engine.status(key, with_children=False)
    moved = queries.last_move(framework.engine.store, key)
    wf = offers.definition_of(framework.engine, key) if moved else None
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
        words = plain_refusal(framework, key, refused)
        return instance_page(render, framework, key, user, errors=[words], form=typed(form), status=status)
    return RedirectResponse(f"/instances/{key}", status_code=303)


def plain_refusal(framework: Framework, key: str, exc: PmfError, what: str = "") -> str:
    """``exc`` as a sentence, with the instance's workflow and the roles' labels at hand."""
    wf = offers.definition_of(framework.engine, key)
    return wording.refusal(exc, wf=wf, roles=framework.engine.catalog.roles, what=what)


@router.get("/instances/{key:path}")
def instance(
    key: str,
    user: Member,
    framework: FrameworkDep,
    render: Render,
    saved: MaybeCount = None,
    chased: MaybeCount = None,
) -> Response:
    """The page of cycle, return or action ``key``."""
    return instance_page(render, framework, key, user, saved=saved, chased=chased)


def instance_title(framework: Framework, status: InstanceStatus, title: str) -> str:
    """A page's title in words: ``Housing return, Quarter 2 2024-25`` for a service's return,
    ``Quarterly performance cycle, Quarter 2 2024-25`` for a cycle, ``Scrutiny action SA-1,
    Quarter 1 2024-25`` for another child."""
    when = wording.period_words(status.period)
    if status.service:
        name = offers.service_name(framework.engine.store, status.organisation, status.service)
        if parse_period(status.period).kind != "quarter":  # a service's plan for the year
            return f"{name}: {title.lower()}, {when}"
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
    chased: int | None = None,
    status: int = 200,
) -> Response:
    """The instance page, with the errors of a form it posted if any: ``errors`` about the
    whole step (linked to the steps), ``field_errors`` by the id of the field each sits beside."""
    engine = framework.engine
    status_now = engine.status(key)
    details = queries.instance_details(framework, key, user)
    parsed = InstanceKey.parse(key)
    cycle_key = parsed.cycle
    measures: list[Any] = []
    cycle_measures: list[MeasureStatus] | None = None
    if status_now.service and parse_period(status_now.period).kind == "quarter":  # a return
        cycle_measures = framework.performance.status(cycle_key)
        measures = [m for m in cycle_measures if m.service == status_now.service]
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
    action = _action(framework, key, status_now.workflow)
    action_measure = None
    if action is not None and action.link and not action.link.startswith("project "):
        cycle_measures = cycle_measures or framework.performance.status(cycle_key)
        action_measure = next((m for m in cycle_measures if m.code == action.link), None)
    owed: list[tuple[str, str]] = []
    if details.owed:
        owed = _owed(framework, key, details.owed)
    arrival = _arrival(details.timeline, status_now.state)
    labels = {t.trigger: t.shown_label for t in wf.transitions}
    may_chase = not status_now.terminal and framework.chasing.may_chase(key, user)
    last_chase = framework.chasing.last(key) if may_chase else None
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
            "lexicon": offers.lexicon_of(
                engine, (e.instance for e in details.timeline), (e.actor for e in details.timeline)
            ),
            "steps": steps,
            "waiting": waiting,
            "events": wording.EVENTS,
            "measures": measures,
            "open_for_data": status_now.service is not None and framework.performance.is_open(key),
            "summary": summary,
            "field_errors": field_errors or {},
            "form": form or {},
            "saved": saved,
            "owed": owed,
            "may_write": offers.may_write(framework, key, details.owed, user) if details.owed else [],
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
            "stage_meetings": framework.moderngov.stage_links(key),
            "plan_actions": framework.returns.plan_actions(cycle_key, status_now.service or "")
            if measures
            else (),
            "action_statuses": framework.plans.policy.action_statuses
            if framework.policies.framework.plans
            else (),
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
    tracked = framework.actions.tracked
    if tracked is None or workflow.split("@", maxsplit=1)[0] != tracked.workflow:
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
    """``actual 33.5 days against a target of 28 days``, each in the measure's format and unit."""
    return f"actual {_figure(m.actual, m)} against a target of {_figure(m.target, m)}"


def _figure(value: float | None, m: MeasureStatus) -> str:
    return "none" if value is None else wording.figure(value, m.fmt, m.unit)
