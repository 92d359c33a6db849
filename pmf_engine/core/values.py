"""What a value typed by a person, sent to the API or read from a file must be before anything
stores or audits it: numbers finite, text free of control characters, and (for the text of
a library that spreadsheets will show) not a formula.

Every entry point (CLI, web forms, the API, CSV, XLSX and ICS imports) and ``Engine.fire`` ask
these pure functions, so one rule holds everywhere:

- a number is a plain decimal (``42``, ``-1.5``, ``2e3``) and finite: ``nan``, ``inf`` and
  ``1e400`` (which overflows to infinity) are refused, as are Python's extras (``1_000``);
  the audit log's canonical JSON would otherwise hold ``NaN``, which is not JSON;
- text holds no C0 control character but tab and newline (a CR only as part of CRLF, which is
  read as a newline): a NUL byte cannot be stored by PostgreSQL at all, and the others are
  invisible in a page or a report; lone surrogates (not encodable as UTF-8) are refused too;
- formula-like text starts with ``= + - @``, a tab or a CR (OWASP's list for CSV injection).

The checks return the value to store or raise ``InvalidInput`` naming the field; the
``*_problem`` variants return the message instead, for importers that list every problem
with its file, line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pmf_engine.core.errors import InvalidInput

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may run as a formula when a cell starts with it."""
_NAMES = {0: "a NUL byte", 9: "a tab", 10: "a newline", 13: "a carriage return"}


def number_problem(value: object) -> str | None:
    """Why ``value`` (a float or int) is not a number to store, or ``None`` when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    return None


def check_number(field: str, value: float | None) -> float | None:
    """``value`` as a float if it is a finite number (``None`` stays ``None``); else ``InvalidInput``."""
    if value is None:
        return None
    why = number_problem(value)
    if why is not None:
        raise InvalidInput(field, None, f"{field}: {why}")
    return float(value)


def parse_number(text: str) -> float:
    """The finite number written in ``text`` (white space around it ignored); ``ValueError``
    saying why otherwise (``nan``, ``inf``, ``1e400``, ``1_000`` and words are refused)."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        raise ValueError(f"{_shown(stripped)} is not a number")
    parsed = float(stripped)
    if not math.isfinite(parsed):
        raise ValueError(f"{_shown(stripped)} is too large a number")
    return parsed


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (the first control character and where), or ``None``."""
    found = _CONTROL.search(text.replace("\r\n", "\n"))
    if found is None:
        return None
    code = ord(found.group())
    name = _NAMES.get(code, f"the control character U+{code:04X}")
    if 0xD800 <= code <= 0xDFFF:
        name = f"a lone surrogate U+{code:04X} (not UTF-8)"
    return f"contains {name} at character {found.start() + 1}; remove it"


def check_text(field: str, text: str | None) -> str | None:
    """``text`` with CRLF read as newlines, if it holds no control character other than tab and
    newline; ``InvalidInput`` naming ``field`` otherwise. ``None`` stays ``None``."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(field, None, f"{field}: {type(text).__name__} is not text")
    why = text_problem(text)
    if why is not None:
        raise InvalidInput(field, None, f"{field} {why}")
    return text.replace("\r\n", "\n")


def check_line(field: str, text: str | None) -> str | None:
    """As ``check_text``, for a one-line value (a name, a key): no tab or newline either."""
    checked = check_text(field, text)
    if checked is not None and ("\n" in checked or "\t" in checked):
        which = "a newline" if "\n" in checked else "a tab"
        raise InvalidInput(field, None, f"{field} contains {which}; it is one line of text")
    return checked


def check_data(field: str, value: Any) -> Any:
    """``value`` (the JSON-like data of a transition) with every text checked by ``check_text``
    and every number by ``check_number``; keys are checked as one-line text. Nested mappings
    and lists are walked; the field of a problem is its dotted path (``data.services.0``)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(field, value)
    if isinstance(value, int | float):
        check_number(field, value)
        return value
    if isinstance(value, Mapping):
        return {check_line(f"{field} key", str(k)): check_data(f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [check_data(f"{field}.{i}", v) for i, v in enumerate(value)]
    raise InvalidInput(field, None, f"{field}: a {type(value).__name__} is not data (use text or numbers)")


def check_attempt(
    key: str, trigger: str, actor: str, reason: str | None, data: Mapping[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """The reason and data of an attempt to fire ``trigger`` on ``key`` as ``actor``, checked
    before anything is read or written (``InvalidInput`` otherwise): a refusal is audited with
    what was sent, so what was sent must be storable (a NUL cannot be, on PostgreSQL)."""
    for name, text in (("key", key), ("trigger", trigger), ("actor", actor)):
        check_line(name, text)
    return check_text("reason", reason), check_data("data", dict(data))


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula (it starts with ``FORMULA_START``)."""
    return text.startswith(FORMULA_START)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
