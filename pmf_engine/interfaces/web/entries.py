"""What an audit entry says, in words: the audit page and the instance timeline show who got
what role, which value was recorded, who a reminder went to, rather than the entry's JSON; and a
step, a state or a role by its label (``entry_values``), never by its stored name.

``describe`` reads the entry's ``data`` by the event's name; an event it does not know (or data
it cannot read) is shown as its fields, one ``name: value`` each, so nothing is hidden. What the
words replace stays on the entry as ``recorded``: the event, trigger, states and role as stored,
each field shown in other words, the stored times and the hash, for an auditor to compare.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmf_engine.core.clock import london
from pmf_engine.core.definition import RolesPolicy, WorkflowDef
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.entry_values import Lexicon, Value, label, raw, text, worded

HIDDEN = frozenset({"os_user"})
"""Fields shown on their own line (``Run as``) rather than among the entry's details."""
REFUSED = frozenset({"refused", "target.refused"})
"""The events of an attempt that was refused."""
COLUMNS = (
    ("Event", "event"),
    ("Trigger", "trigger"),
    ("From state", "from_state"),
    ("To state", "to_state"),
    ("Role", "role"),
    ("Written at (UTC)", "at"),
    ("As of (UTC)", "as_of"),
    ("Hash", "hash"),
)
"""The entry's stored columns listed under "As recorded", by their label."""


@dataclass(frozen=True)
class Described:
    """An entry in words: a one-line ``headline``, (label, value) ``details`` and what they
    replace, as stored: (label, stored text) ``recorded``."""

    headline: str
    details: list[tuple[str, Value]] = field(default_factory=list)
    recorded: list[tuple[str, str]] = field(default_factory=list)


def describe(entry: Any, lex: Lexicon | None = None) -> Described:
    """``entry`` (an ``AuditEntry``) in words, its names by ``lex`` (none: as stored)."""
    lex = lex or Lexicon()
    data = _data(entry.data)
    describer = _DESCRIBERS.get(entry.event)
    described = None
    if describer is not None:
        try:
            described = describer(entry, data, lex)
        except (KeyError, TypeError, ValueError, AttributeError):
            described = None
    if described is None:
        described = Described(label(entry.event), _fields(entry, data, lex))
    if entry.reason and entry.event not in REFUSED:
        described.details.append(("Reason", str(entry.reason)))
    if data.get("os_user"):
        described.details.append(("Run as", f"{data['os_user']} (operating-system user)"))
    described.recorded.extend(_recorded(entry, data, described, lex))
    return described


def _recorded(entry: Any, data: dict[str, Any], described: Described, lex: Lexicon) -> list[tuple[str, str]]:
    """The stored columns, then each field of the data not shown among the details exactly as
    it is stored (in other words, in the headline, or not at all)."""
    found = [(name, str(getattr(entry, column))) for name, column in COLUMNS if getattr(entry, column, None)]
    shown = {(name, text(value)) for name, value in described.details}
    for key, value in data.items():
        if key in HIDDEN or (label(key), raw(value)) in shown:  # shown as stored already
            continue
        found.append((f"data.{key}", raw(value)))
    return found


def refused_why(entry: Any, wf: WorkflowDef | None = None, roles: RolesPolicy | None = None) -> str:
    """Why an attempt was refused, as the page said it then (``Only a Performance officer
    may take this step``), not as the audit log records the rule; any other entry's reason."""
    if entry.event not in REFUSED:
        return str(entry.reason or "")
    data = _data(entry.data)
    kind, why = str(data.get("refusal", "")), str(data.get("why", ""))
    if kind == "TransitionNotAllowed":
        return "Not possible at that stage"
    if kind == "UnknownTrigger":
        return "Not a step of this workflow"
    if kind in ("PermissionDenied", "NotPermitted"):
        return _denied(entry, why, wf, roles)
    if kind == "GuardFailed":
        return wording.sentence(re.sub(r"^guard '[^']*' failed: ", "", why))
    return why


def _denied(entry: Any, why: str, wf: WorkflowDef | None, roles: RolesPolicy | None) -> str:
    """A permission refusal's recorded rule (``PermissionDenied.rule``, after ``permission
    denied for 'x': ``) as the page said it: the rule's own description where it has one."""
    rule = why.split(": ", 1)[1] if why.startswith("permission denied for ") and ": " in why else why
    step = next((t for t in wf.transitions if t.trigger == entry.trigger), None) if wf else None
    if step is not None and " needs one of " in rule:
        return f"Only a {wording.role_words(step.roles, roles)} may take this step"
    if rule.startswith("segregation of duties"):
        described = re.search(r"\(([^()]+)\)$", rule)
        return described[1] if described else "Someone else must: the same person may not take both steps"
    if rule.startswith("scope:"):
        return "Their role covers their own service only"
    if rule.endswith("is deactivated"):
        return "Their account is deactivated"
    role = r"[a-z][a-z0-9_]*"
    plain = re.sub(rf" \({role}(?: or {role})*\)$", "", rule.rsplit(": ", 1)[-1])  # roles' names after words
    return "Not allowed: " + wording.sentence(plain)


def _data(text: str | None) -> dict[str, Any]:
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {"data": text}
    return loaded if isinstance(loaded, dict) else {"data": loaded}


def _fields(entry: Any, data: dict[str, Any], lex: Lexicon, *skip: str) -> list[tuple[str, Value]]:
    shown = (k for k in data if k not in HIDDEN and k not in skip)
    return [(label(k), worded(k, data[k], lex, entry.instance)) for k in shown]


def _one(entry: Any, key: str, value: Any, lex: Lexicon) -> str:
    return text(worded(key, value, lex, entry.instance))


def _when(stamp: str | None) -> str:
    """A deadline's stored time with its weekday: ``Fri 12 Jul 2024 17:00``."""
    if not stamp:
        return "–"
    moment = wording.stored_instant(stamp)
    return f"{london(moment):%a} {wording.instant_words(moment)}"


def _fired(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    i = entry.instance
    moved = f"{lex.state(i, entry.from_state)} to {lex.state(i, entry.to_state)}"
    return Described(f"{lex.step(i, entry.trigger)}: {moved}", _fields(entry, data, lex))


def _refused(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    details: list[tuple[str, Value]] = [("Why", refused_why(entry, lex.workflow(entry.instance), lex.roles))]
    if entry.reason:
        details.append(("Reason given", str(entry.reason)))
    asked = data.get("asked")
    if isinstance(asked, dict):  # an attempt that was not a fire (a target's): what it asked for
        details += _fields(entry, asked, lex, "asked") + _fields(entry, data, lex, "why", "refusal", "asked")
        return Described(f"Refused: {asked.get('asked', label(entry.event))}", details)
    details += _fields(entry, data, lex, "why", "refusal", *(() if data.get("data") else ("data",)))
    return Described(f"Refused: {lex.step(entry.instance, entry.trigger) or label(entry.event)}", details)


def _role(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    where = f" for {data['service']}" if data.get("service") else ""
    verb = "Granted" if entry.event.endswith("granted") else "Revoked"
    to = "to" if verb == "Granted" else "from"
    return Described(
        f"{verb} the role {lex.role(data['role'])}{where} {to} {data['username']}",
        _fields(entry, data, lex, "role", "service", "username"),
    )


def _actual(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    verb = "Restated" if entry.event.endswith("restated") else "Recorded"
    value = _one(entry, "value", data.get("value"), lex)
    headline = f"{verb} {data['measure']} for {data['period']}: {value}"
    details: list[tuple[str, Value]] = []
    if data.get("forecast") is not None:
        details.append(("Year-end forecast", _one(entry, "forecast", data["forecast"], lex)))
    if data.get("narrative"):
        details.append(("Narrative", str(data["narrative"])))
    details += _fields(entry, data, lex, "measure", "period", "value", "forecast", "narrative")
    return Described(headline, details)


def _step(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    kind = "Reminder" if entry.event.startswith("reminder") else "Escalation"
    to = _one(entry, "recipients", data.get("recipients"), lex) if data.get("recipients") else "nobody"
    details: list[tuple[str, Value]] = [("Deadline", _when(data.get("deadline")))]
    if entry.from_state:
        details.append(("Stage", lex.state(entry.instance, entry.from_state)))
    details.append((f"{kind} number", str(data.get("rung", "–"))))  # the ladder's rung
    if data.get("due_at"):
        details.append(("Due to be sent", _when(data["due_at"])))
    details += _fields(entry, data, lex, "recipients", "deadline", "rung", "due_at", "step")
    return Described(f"{kind} sent to {to}", details)


def _chased(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    to = _one(entry, "recipients", data.get("recipients"), lex) if data.get("recipients") else "nobody"
    return Described(f"Chased: a reminder queued for {to}", _fields(entry, data, lex, "recipients"))


def _actor(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    return Described(
        f"Added {data['username']} ({data.get('name', '')})", _fields(entry, data, lex, "username", "name")
    )


def _meeting(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    verb = {"meeting.added": "Added", "meeting.moved": "Moved", "meeting.cancelled": "Cancelled"}.get(
        entry.event, "Changed"
    )
    if "to" in data:
        when = f"{_when(data.get('from'))} to {_when(data['to'])}"
    else:
        when = _when(data.get("starts_at"))
    return Described(
        f"{verb} a {data.get('body', '')} meeting: {when}",
        _fields(entry, data, lex, "body", "starts_at", "from", "to"),
    )


def _moderngov(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    if entry.event == "moderngov.linked":
        headline = (
            f"Linked a {data.get('body', '')} meeting to ModernGov meeting {data.get('moderngov_meeting')}"
        )
        return Described(headline, _fields(entry, data, lex, "body", "moderngov_meeting"))
    counts = ", ".join(f"{data.get(k, 0)} {k}" for k in ("added", "moved", "cancelled", "linked"))
    return Described(
        f"Synchronised with ModernGov: {counts}",
        _fields(entry, data, lex, "added", "moved", "cancelled", "linked"),
    )


def _exception(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    what = f"project {data['project']}" if data.get("project") else str(data.get("measure", ""))
    return Described(f"Exception report for {what}", _fields(entry, data, lex, "project", "measure"))


def _started(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    return Described(f"Started {entry.instance}", _fields(entry, data, lex))


def _action(entry: Any, data: dict[str, Any], lex: Lexicon) -> Described:
    due = _one(entry, "due", data["due"], lex)
    headline = f"Raised: {data['what']}, for {data['assignee']} by {due}"
    return Described(headline, _fields(entry, data, lex, "what", "assignee", "due"))


_DESCRIBERS: dict[str, Callable[[Any, dict[str, Any], Lexicon], Described]] = {
    "fired": _fired,
    "refused": _refused,
    "target.refused": _refused,
    "role.granted": _role,
    "role.revoked": _role,
    "actual.recorded": _actual,
    "actual.restated": _actual,
    "reminder.fired": _step,
    "escalation.fired": _step,
    "chase.queued": _chased,
    "actor.added": _actor,
    "meeting.added": _meeting,
    "meeting.moved": _meeting,
    "meeting.cancelled": _meeting,
    "moderngov.synced": _moderngov,
    "moderngov.linked": _moderngov,
    "exception.reported": _exception,
    "cycle.started": _started,
    "child.spawned": _started,
    "child.started": _action,
}
