"""The framework's own words for what people read: the stage at which the report is frozen,
what its actions are called, and its roles, read from the workflows, ``framework.yaml`` and
``roles.yaml``. A council whose sign-off is by a Directors Board, or whose actions are Audit
Committee recommendations, says so in its YAML; no page, report or message says otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.definition import WorkflowDef, parse_workflow

FREEZE_EFFECT = "freeze_report"
"""The effect that freezes the committee report (``pmf.registry``)."""
NO_FREEZE = "sign-off"
"""The stage's words for a workflow with no transition that freezes the report."""
SHEET_LIMIT = 31
"""The longest name a worksheet may have (Excel's limit)."""


def frozen_stage(wf: WorkflowDef) -> str:
    """The label of the stage at which ``wf``'s report is frozen (``Leadership Team
    sign-off``): the source of its transition with the ``freeze_report`` effect."""
    for t in wf.transitions:
        if FREEZE_EFFECT in t.effects:
            return " or ".join(dict.fromkeys(wf.state_label(source) for source in t.source))
    return NO_FREEZE


@lru_cache(maxsize=64)
def _stored(source_text: str) -> WorkflowDef:
    return parse_workflow(source_text, "stored workflow version")[0]


def stored_state_label(source_text: str | None, state: str) -> str:
    """State ``state`` by its label in a stored workflow version's text (what the instance
    runs), or its name if the text is missing or has no such state."""
    return _stored(source_text).state_label(state) if source_text else state


def joined(words: Iterable[str], last: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def with_article(noun: str) -> str:
    """``a Scrutiny action``, ``an Audit Committee recommendation``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def sheet_name(title: str) -> str:
    """``title`` as a worksheet may be named: no ``[]:*?/\\``, at most 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:SHEET_LIMIT].strip() or "Sheet"


@dataclass(frozen=True)
class Words:
    """What the framework calls its actions, the stage that freezes the report and its roles."""

    action: str
    """One action, as the actions workflow's ``title`` says (``Scrutiny action``)."""
    actions: str
    """Several (``framework.yaml``'s ``actions.plural``, or the title with an ``s``)."""
    frozen_at: str
    """The stage at which the report is frozen, by its label (``Leadership Team sign-off``)."""
    roles: Mapping[str, str]
    """Each role's label in ``roles.yaml``."""

    @property
    def an_action(self) -> str:
        """``a Scrutiny action``."""
        return with_article(self.action)

    def role(self, name: str) -> str:
        """Role ``name`` by its label."""
        return self.roles.get(name, name.replace("_", " "))


def words_of(catalog: Catalog, actions_workflow: str | None, plural: str | None = None) -> Words:
    """The words of ``catalog``: its actions are instances of ``actions_workflow`` (``None``: no
    actions are tracked, and they are plain "actions"); its report is frozen by the first
    workflow that freezes one."""
    found = catalog.workflows.get(actions_workflow) if actions_workflow else None
    fallback = (actions_workflow or "action").replace("_", " ").capitalize()
    action = (found.title if found is not None else "") or fallback
    stages = [frozen_stage(wf) for wf in catalog.workflows.values()]
    return Words(
        action=action,
        actions=plural or f"{action}s",
        frozen_at=next((stage for stage in stages if stage != NO_FREEZE), NO_FREEZE),
        roles={name: role.label for name, role in catalog.roles.roles.items()},
    )


_SMALL_WORDS = frozenset({"a", "and", "at", "for", "in", "of", "on", "or", "the", "to"})


def committee_name(body: str) -> str:
    """A committee as people write it, from its body's name (a meeting's title when its file
    gave none, the meetings page's rows and picker): a word of up to three
    letters is taken for an initialism (``cmt``: ``CMT``) unless it is a small word (``and``,
    ``of``), ``overview_and_scrutiny`` is ``Overview and scrutiny``."""
    words = [w.upper() if len(w) <= 3 and w not in _SMALL_WORDS else w for w in body.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def plain_number(value: float) -> str:
    """A number as written by hand, with thousands separators and no needless ``.0``."""
    if math.isclose(value, round(value), abs_tol=1e-9) and abs(value) < 1e15:
        return f"{round(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def day_words(day: date) -> str:
    """A day as people write it: ``31 December 2024``."""
    return f"{day.day} {day:%B %Y}"
