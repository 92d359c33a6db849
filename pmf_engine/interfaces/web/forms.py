"""Reading the pages' forms before anything is written: each field's error, keyed by the id
of the element it sits beside (and that the error summary links to), in the words of the GOV.UK
Design System's error messages; and UK dates typed into the GOV.UK date input (day, month and
year fields) turned into ISO dates for the services.

A form that fails here is shown again with what was typed; nothing has been fired, written or
audited: the engine and the services see only forms that are complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

PARTS = ("day", "month", "year")


@dataclass(frozen=True)
class DateField:
    """A date typed into a GOV.UK date input: its ISO form, or the error to show beside it."""

    value: str | None
    """``2024-12-31``; ``None`` when the fields do not make a date (``error`` says why)."""
    error: str | None
    typed: dict[str, str]
    """What was typed into each of ``day``, ``month`` and ``year``, to show it again."""


def read_date(form: Mapping[str, Any], name: str, what: str) -> DateField:
    """The date in fields ``NAME-day``, ``NAME-month`` and ``NAME-year`` of ``form``; ``what``
    names it in the error (``the expected recovery date``)."""
    typed = {part: str(form.get(f"{name}-{part}") or "").strip() for part in PARTS}
    missing = [part for part in PARTS if not typed[part]]
    if len(missing) == len(PARTS):
        return DateField(None, f"Enter {what}", typed)
    named = what[0].upper() + what[1:]
    if missing:
        return DateField(None, f"{named} must include a {' and '.join(missing)}", typed)
    if not all(typed[part].isdigit() for part in PARTS):
        return DateField(None, f"{named} must be a real date, in numbers, like 31 12 2024", typed)
    if len(typed["year"]) != 4:
        return DateField(None, "Year must include 4 numbers", typed)
    try:
        day = date(int(typed["year"]), int(typed["month"]), int(typed["day"]))
    except ValueError:
        return DateField(None, f"{named} must be a real date", typed)
    return DateField(day.isoformat(), None, typed)


def required(form: Mapping[str, Any], fields: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The error of each of ``fields`` (form name: (element id, message)) left empty, by element id."""
    return {
        where: message for name, (where, message) in fields.items() if not str(form.get(name) or "").strip()
    }


def typed(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed into ``form``, to show it again (the CSRF token left out)."""
    return {k: str(v) for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
