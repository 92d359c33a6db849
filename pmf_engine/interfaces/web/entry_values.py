"""An audit entry's stored values in the framework's own words: a trigger by its transition's
label and a state by its label in the workflow the entry's instance runs, a role by its label
in ``roles.yaml``, a stored time in London time, a day as people write it, a status in plain
words and a list as a list. A name the lexicon does not know is shown as stored.

``raw`` is the same value as stored (no JSON: ``a, b`` for a list), for an auditor to compare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pmf_engine.core.definition import RolesPolicy, WorkflowDef
from pmf_engine.interfaces.web import wording
from pmf_engine.pmf.words import day_words

Value = str | list[str]
"""What a detail shows: one text, or a list of them (shown as a list)."""
SHORT_HASH = 12
_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
LABELS = {
    "sha256": "SHA-256",
    "public_sha256": "Public SHA-256",
    "rung": "Number on the ladder",
    "step": "Step record",
    "target": "Target record",
    "trigger": "At the step",
    "data": "Data sent",
    "gss_code": "GSS code",
}
"""Field names whose plain words are not the name with its ``_`` as spaces."""


@dataclass(frozen=True)
class Lexicon:
    """The words for what entries store by name: each instance's workflow (by instance key, the
    version it runs), the workflows' titles (by name) and the roles policy."""

    workflows: Mapping[str, WorkflowDef] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)
    roles: RolesPolicy | None = None
    people: Mapping[str, str] = field(default_factory=dict)
    """Each actor's name, by username."""

    def person(self, username: str | None) -> str:
        """Who ``username`` is, as people and auditors both read it: ``Priya Shah (priya)``;
        the username alone when no other name is known."""
        name = self.people.get(username or "")
        return f"{name} ({username})" if name and name != username else username or ""

    def workflow(self, instance: str | None) -> WorkflowDef | None:
        """The workflow ``instance`` runs, if known."""
        return self.workflows.get(instance) if instance else None

    def state(self, instance: str | None, name: str | None) -> str:
        """State ``name`` by its label (as stored if the workflow is not known)."""
        wf = self.workflow(instance)
        return wf.state_label(name) if wf is not None and name else name or ""

    def step(self, instance: str | None, trigger: str | None) -> str:
        """Trigger ``trigger`` by its transition's label; one no transition of the workflow
        declares (an attempt that was not a fire, like ``sign_off_return``) in plain words, as
        a transition with no label is shown."""
        wf = self.workflow(instance)
        found = next((t for t in wf.transitions if t.trigger == trigger), None) if wf else None
        if found is not None:
            return found.shown_label
        return (trigger or "").replace("_", " ").capitalize()

    def role(self, name: str) -> str:
        """Role ``name`` by its label in ``roles.yaml`` (as stored if not known)."""
        found = self.roles.roles.get(name) if self.roles is not None else None
        return found.label if found is not None else name

    def title(self, workflow: str) -> str:
        """A workflow (``service_return@7833…``) by its title (as stored if it has none)."""
        return self.titles.get(workflow.split("@", 1)[0]) or workflow


def label(name: str) -> str:
    """A field's or an event's name in words: ``submitted_at`` as ``Submitted at``."""
    return LABELS.get(name) or name.replace(".", " ").replace("_", " ").capitalize()


def text(value: Value) -> str:
    """A value as one line (a list joined with commas)."""
    return value if isinstance(value, str) else ", ".join(value) or "–"


def worded(key: str, value: Any, lex: Lexicon, instance: str | None = None) -> Value:
    """``value``, stored under ``key`` in an entry of ``instance``, in words."""
    if isinstance(value, list):
        return [text(worded("", item, lex, instance)) for item in value] or "–"
    if isinstance(value, dict):
        return [f"{label(str(k))}: {text(worded(str(k), v, lex, instance))}" for k, v in value.items()] or "–"
    return _scalar(key, value, lex, instance)


def _scalar(key: str, value: Any, lex: Lexicon, instance: str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    found = str(value)
    if key == "role" or key.endswith("_role"):
        return lex.role(found)
    if key == "trigger":
        return lex.step(instance, found)
    if key in ("state", "from_state", "to_state"):
        return lex.state(instance, found)
    if key == "workflow":
        return lex.title(found)
    if _INSTANT.match(found):
        try:
            return wording.instant_words(wording.stored_instant(found))
        except ValueError:
            return found
    if _DAY.match(found):
        try:
            return day_words(date.fromisoformat(found))
        except ValueError:
            return found
    if _HASH.match(found):
        return f"{found[:SHORT_HASH]}…"  # a SHA-256: "As recorded" and the CSV have it whole
    if key == "status" or key.endswith("_status"):
        return found.replace("_", " ").capitalize() if _NAME.match(found) else found
    return found


def raw(value: Any) -> str:
    """``value`` as stored, without JSON's quotes and braces: what an auditor compares."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(raw(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {raw(v)}" for k, v in value.items()) or "(none)"
    return str(value)
