"""What an audit entry says, in words: the audit page and the instance timeline show who got
what role, which value was recorded, who a reminder went to, rather than the entry's JSON.

``describe`` reads the entry's ``data`` by the event's name; an event it does not know (or data
it cannot read) is shown as its fields, one ``name: value`` each, so nothing is hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pmf_engine.core.clock import london

HIDDEN = frozenset({"os_user"})
"""Fields shown on their own line (``Run as``) rather than among the entry's details."""
SHORT_HASH = 12


@dataclass(frozen=True)
class Described:
    """An entry in words: a one-line ``headline`` and (label, value) ``details``."""

    headline: str
    details: list[tuple[str, str]] = field(default_factory=list)


def describe(entry: Any) -> Described:
    """``entry`` (an ``AuditEntry``) in words."""
    data = _data(entry.data)
    describer = _DESCRIBERS.get(entry.event)
    if describer is not None:
        try:
            described = describer(entry, data)
        except (KeyError, TypeError, ValueError, AttributeError):
            described = Described(_label(entry.event), _fields(data))
    else:
        described = Described(_label(entry.event), _fields(data))
    if entry.reason and entry.event not in ("refused", "target.refused"):
        described.details.append(("Reason", str(entry.reason)))
    if data.get("os_user"):
        described.details.append(("Run as", f"{data['os_user']} (operating-system user)"))
    return described


def _data(text: str | None) -> dict[str, Any]:
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {"data": text}
    return loaded if isinstance(loaded, dict) else {"data": loaded}


def _label(name: str) -> str:
    return name.replace(".", " ").replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{_label(str(k))}: {_value(v)}" for k, v in value.items()) or "–"
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return f"{text[:SHORT_HASH]}…"  # a SHA-256: the CSV export has it whole
    return text


def _fields(data: dict[str, Any], *skip: str) -> list[tuple[str, str]]:
    return [(_label(k), _value(v)) for k, v in data.items() if k not in HIDDEN and k not in skip]


def _when(text: str | None) -> str:
    if not text:
        return "–"
    return f"{london(datetime.fromisoformat(text.replace('Z', '+00:00'))):%a %d %b %Y %H:%M}"


def _state(name: str | None) -> str:
    return (name or "").replace("_", " ")


def _fired(entry: Any, data: dict[str, Any]) -> Described:
    moved = f"{_state(entry.from_state)} → {_state(entry.to_state)}"
    return Described(f"{entry.trigger}: {moved}", _fields(data))


def _refused(entry: Any, data: dict[str, Any]) -> Described:
    details = [("Refused because", str(data.get("why", "")))]
    if data.get("refusal"):
        details.append(("Rule", str(data["refusal"])))
    if entry.reason:
        details.append(("Reason given", str(entry.reason)))
    asked = data.get("asked")
    if isinstance(asked, dict):  # an attempt that was not a fire (a target's): what it asked for
        details += _fields(asked, "asked") + _fields(data, "why", "refusal", "asked")
        return Described(f"Refused: {asked.get('asked', entry.event)}", details)
    details += _fields(data, "why", "refusal")
    return Described(f"Refused: {entry.trigger or entry.event}", details)


def _role(entry: Any, data: dict[str, Any]) -> Described:
    where = f" for {data['service']}" if data.get("service") else ""
    verb = "Granted" if entry.event.endswith("granted") else "Revoked"
    to = "to" if verb == "Granted" else "from"
    return Described(
        f"{verb} the role {_state(data['role'])}{where} {to} {data['username']}",
        _fields(data, "role", "service", "username"),
    )


def _actual(entry: Any, data: dict[str, Any]) -> Described:
    verb = "Restated" if entry.event.endswith("restated") else "Recorded"
    headline = f"{verb} {data['measure']} for {data['period']}: {_value(data.get('value'))}"
    details = []
    if data.get("forecast") is not None:
        details.append(("Year-end forecast", _value(data["forecast"])))
    if data.get("narrative"):
        details.append(("Narrative", str(data["narrative"])))
    details += _fields(data, "measure", "period", "value", "forecast", "narrative")
    return Described(headline, details)


def _step(entry: Any, data: dict[str, Any]) -> Described:
    kind = "Reminder" if entry.event.startswith("reminder") else "Escalation"
    to = _value(data.get("recipients")) or "nobody"
    details = [("Deadline", _when(data.get("deadline"))), ("Step", str(data.get("rung", "–")))]
    if data.get("due_at"):
        details.append(("Due to be sent", _when(data["due_at"])))
    details += _fields(data, "recipients", "deadline", "rung", "due_at", "step")
    return Described(f"{kind} sent to {to}", details)


def _chased(entry: Any, data: dict[str, Any]) -> Described:
    to = _value(data.get("recipients")) or "nobody"
    return Described(f"Chased: a reminder queued for {to}", _fields(data, "recipients"))


def _actor(entry: Any, data: dict[str, Any]) -> Described:
    return Described(f"Added {data['username']} ({data.get('name', '')})", _fields(data, "username", "name"))


def _meeting(entry: Any, data: dict[str, Any]) -> Described:
    verb = {"meeting.added": "Added", "meeting.moved": "Moved", "meeting.cancelled": "Cancelled"}.get(
        entry.event, "Changed"
    )
    if "to" in data:
        when = f"{_when(data.get('from'))} → {_when(data['to'])}"
    else:
        when = _when(data.get("starts_at"))
    return Described(
        f"{verb} a {data.get('body', '')} meeting: {when}", _fields(data, "body", "starts_at", "from", "to")
    )


def _moderngov(entry: Any, data: dict[str, Any]) -> Described:
    if entry.event == "moderngov.linked":
        headline = (
            f"Linked a {data.get('body', '')} meeting to ModernGov meeting {data.get('moderngov_meeting')}"
        )
        return Described(headline, _fields(data, "body", "moderngov_meeting"))
    counts = ", ".join(f"{data.get(k, 0)} {k}" for k in ("added", "moved", "cancelled", "linked"))
    return Described(
        f"Synchronised with ModernGov: {counts}", _fields(data, "added", "moved", "cancelled", "linked")
    )


def _exception(entry: Any, data: dict[str, Any]) -> Described:
    what = f"project {data['project']}" if data.get("project") else str(data.get("measure", ""))
    return Described(f"Exception report for {what}", _fields(data, "project", "measure"))


def _started(entry: Any, data: dict[str, Any]) -> Described:
    return Described(f"Started {entry.instance}", _fields(data))


def _action(entry: Any, data: dict[str, Any]) -> Described:
    headline = f"Raised: {data['what']}, for {data['assignee']} by {data['due']}"
    return Described(headline, _fields(data, "what", "assignee", "due"))


_DESCRIBERS: dict[str, Callable[[Any, dict[str, Any]], Described]] = {
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
