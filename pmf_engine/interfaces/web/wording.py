"""What the pages say, in plain words: a period as people write it (``Quarter 2 2024-25``), a
figure in its measure's unit (``£62,500.00``, ``65%``, ``28 days``), a count with its noun in
the right number, an audit event as a phrase, and an engine refusal as a sentence that says
what to do rather than which guard failed.

The engine's messages (``core/errors.py``) name triggers, states and guards for the audit log,
the CLI and the API; the pages turn them into sentences here, from the error's attributes and
the workflow's own labels, never by parsing the message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime

from pmf_engine.core.clock import london
from pmf_engine.core.definition import RolesPolicy, WorkflowDef
from pmf_engine.core.errors import (
    ConcurrencyConflict,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PmfError,
    Refused,
    TransitionNotAllowed,
    UnknownTrigger,
)
from pmf_engine.core.period import AdHoc, FinancialYear, Month, Period, parse_period
from pmf_engine.core.views import InstanceStatus
from pmf_engine.pmf.words import day_words, plain_number

EVENTS = {
    "fired": "Step taken",
    "refused": "Refused",
    "cycle.started": "Cycle started",
    "child.spawned": "Started",
    "child.started": "Started",
}
"""The timeline's audit events as phrases (a transition shows its own label instead)."""


def period_words(period: str) -> str:
    """``2024-25-Q2`` as ``Quarter 2 2024-25``; a year, a month or a due day likewise."""
    try:
        found = parse_period(period)
    except ValueError:
        return period
    if isinstance(found, Period):
        return f"Quarter {found.quarter} {period[:7]}"
    if isinstance(found, Month):
        return f"{found.start:%B %Y}"
    if isinstance(found, FinancialYear):
        return f"{found}"
    assert isinstance(found, AdHoc)
    return f"due {day_words(found.due)}"


def instant_words(moment: datetime) -> str:
    """A moment as people in the council read it, in London time: ``4 Dec 2026 09:15``."""
    local = london(moment)
    return f"{local.day} {local:%b %Y %H:%M}"


def stored_instant(text: str) -> datetime:
    """An audit entry's stored UTC time (``2024-07-01T08:00:00.000000Z``) as a moment."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 figure``, ``3 figures``, ``1 working day``: never ``figure(s)``."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def figure(value: float | None, fmt: str = "number", unit: str = "") -> str:
    """A measure's figure in its format and unit, as the committee report writes it:
    ``£62,500.00``, ``65%``, ``28 days``, ``230,000 tonnes``; ``–`` for none."""
    if value is None:
        return "–"
    if fmt == "currency":
        return f"£{value:,.2f}"
    if fmt == "percent":
        return f"{plain_number(value)}%"
    if fmt == "days":
        return f"{plain_number(value)} {'day' if value == 1 else 'days'}"
    shown = plain_number(value)
    return f"{shown} {unit}" if unit and unit not in ("%", "£", "number") else shown


def editable(value: float | None) -> str:
    """A stored figure as a form field shows it for editing: ``230000`` (not ``230000.0``)."""
    if value is None:
        return ""
    if math.isclose(value, round(value), abs_tol=1e-9) and abs(value) < 1e15:
        return str(round(value))
    return repr(value)


def field_words(name: str) -> str:
    """A step's data field in words: ``minute_reference`` as ``minute reference``."""
    return name.replace("_", " ")


def role_words(roles: Iterable[str], policy: RolesPolicy | None) -> str:
    """Roles by their labels in ``roles.yaml``, joined with "or"."""
    names = [
        policy.roles[r].label if policy is not None and r in policy.roles else r.replace("_", " ")
        for r in roles
    ]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def state_words(wf: WorkflowDef | None, state: str | None) -> str:
    """A state by its label in the workflow."""
    if not state:
        return ""
    if wf is not None:
        return wf.state_label(state)
    return state.replace("_", " ").capitalize()


def step_words(wf: WorkflowDef | None, trigger: str | None) -> str:
    """A trigger by the label its transition declares (or its name in plain words)."""
    if not trigger:
        return ""
    if wf is not None:
        for t in wf.transitions:
            if t.trigger == trigger:
                return t.shown_label
    return trigger.replace("_", " ").capitalize()


def refusal(
    exc: PmfError,
    *,
    wf: WorkflowDef | None = None,
    roles: RolesPolicy | None = None,
    what: str = "",
) -> str:
    """An engine error as a sentence for the person who asked: what could not be done, why, and
    what to do. ``what`` names the attempt when it was not a transition (``write the exception
    report for WAS-01``)."""
    if isinstance(exc, Refused):
        named = f"“{step_words(wf, exc.trigger)}”"
        doing = what or f"do {named}"
        if isinstance(exc, UnknownTrigger):
            return (
                f"“{exc.trigger}” is not a step of this workflow. Reload the page to see the steps there are."
            )
        if isinstance(exc, TransitionNotAllowed):
            return (
                f"You cannot {doing} at this stage ({state_words(wf, exc.state)}). "
                "Reload the page to see what can be done now."
            )
        if isinstance(exc, PermissionDenied):
            return _denied(exc, doing, wf, roles)
        if isinstance(exc, GuardFailed):
            return _guard(exc, doing, named)
        return f"You cannot {doing} now: {exc.reason}."
    if isinstance(exc, ConcurrencyConflict):
        return "Someone else changed this while the page was open. Reload the page and try again."
    if isinstance(exc, InvalidInput):
        return sentence(exc.why)
    if isinstance(exc, NotFound):
        return sentence(f"there is no {exc.kind} {exc.key}")
    return sentence(str(exc))


def _denied(exc: PermissionDenied, doing: str, wf: WorkflowDef | None, roles: RolesPolicy | None) -> str:
    rule = exc.rule
    if rule.startswith("scope:"):
        return f"You cannot {doing} here: your role covers your own service only."
    if rule.startswith("segregation of duties"):
        return (
            f"Someone else must {doing}: you took an earlier step on it, and the same person may not do both."
        )
    if rule.endswith("is deactivated"):
        return "Your account has been deactivated. Ask an administrator."
    transition = next((t for t in wf.transitions if t.trigger == exc.trigger), None) if wf else None
    if transition is not None:
        return f"You cannot {doing}: only a {role_words(transition.roles, roles)} may."
    return f"You cannot {doing}: your roles do not allow it."


def _guard(exc: GuardFailed, doing: str, named: str) -> str:
    if exc.guard == "reason":
        return f"Enter the reason for {named}."
    if exc.guard == "fields":
        return f"Fill in every field of {named}."
    return f"You cannot {doing} yet: {exc.why}."


def sentence(text: str) -> str:
    """``text`` with a capital letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def waiting_on(
    wf: WorkflowDef,
    step: str,
    trigger: str,
    children: Iterable[InstanceStatus],
    child_workflow: Callable[[str], WorkflowDef | None],
) -> list[str]:
    """Why step ``step`` (trigger ``trigger``) waits, one sentence a child set it joins that is
    not settled: ``“Close the data request” can be done once every service performance return
    is Accepted or Waived. Still open: HOUSING (Requested).`` Empty when it waits for nothing.
    The words come from the child workflow (``child_workflow`` finds it by name): its title
    and the labels of the set's settled states."""
    listed = list(children)
    said: list[str] = []
    for spec in wf.joined_by(trigger):
        members = [c for c in listed if c.workflow.split("@")[0] == spec.workflow]
        unsettled = [
            f"{c.key.rsplit('/', 1)[1]} ({c.state_label})" for c in members if c.state not in spec.settled
        ]
        if not unsettled or (spec.require == "any" and len(unsettled) < len(members)):
            continue
        child = child_workflow(spec.workflow)
        title = (child.title if child and child.title else spec.workflow.replace("_", " ")).lower()
        settled = " or ".join(state_words(child, state) for state in spec.settled)
        which = "any one" if spec.require == "any" else "every"
        said.append(
            f"“{step}” can be done once {which} {title} is {settled}. Still open: {', '.join(unsettled)}."
        )
    return said
