"""How much free text and data one action may carry, so that no interface can bloat the
audit log: a reason, a narrative, the data of a transition. Over a limit, the caller is told
which and by how much (``InvalidInput``); what is kept of a refused attempt is clipped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_REASON = 2_000
"""Characters in the reason of a transition."""
MAX_NARRATIVE = 10_000
"""Characters in a narrative (a figure's explanation)."""
MAX_DATA_BYTES = 16 * 1024
"""Bytes of a transition's data, as compact UTF-8 JSON."""
CLIPPED = 200
"""Characters of an over-long reason kept with the refused attempt."""
INTEGER_MAX = 2**31 - 1
"""The largest id or chain position a path or query may name: the columns are INTEGER, and a
larger number bound to one overflows on PostgreSQL (a 500, where the answer is a 422)."""


def id_of(text: str) -> int | None:
    """The id ``text`` names (ASCII digits, from 1 to ``INTEGER_MAX``), or ``None``: a number
    no row can have is looked up nowhere (bound to a query it would overflow on PostgreSQL)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(INTEGER_MAX)):
        return None
    number = int(text)
    return number if 1 <= number <= INTEGER_MAX else None


def text_problem(what: str, value: str | None, limit: int) -> str | None:
    """Why ``value`` is too long for ``what`` (``None`` if it is not)."""
    if value is None or len(value) <= limit:
        return None
    return f"{what} may be at most {limit:,} characters (this one has {len(value):,})"


def data_bytes(data: Mapping[str, Any]) -> bytes:
    """The data as compact UTF-8 JSON, as near as may be to what the audit log would keep."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def fire_problem(reason: str | None, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, why) if a transition's reason or data is over its limit."""
    why = text_problem("a reason", reason, MAX_REASON)
    if why is not None:
        return "reason", why
    size = len(data_bytes(data))
    if size > MAX_DATA_BYTES:
        return "data", f"the data may be at most {MAX_DATA_BYTES // 1024} KB as JSON (this is {size:,} bytes)"
    return None


def clip(text: str | None) -> str | None:
    """The start of an over-long text and how long it was: what a refusal keeps of it."""
    if text is None or len(text) <= MAX_REASON:
        return text
    return f"{text[:CLIPPED]}... [clipped: {len(text):,} characters]"


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a refusal keeps of over-large data: its keys, size and digest, not its values."""
    raw = data_bytes(data)
    if len(raw) <= MAX_DATA_BYTES:
        return dict(data)
    return {
        "omitted": {"keys": sorted(str(k) for k in data)[:20], "bytes": len(raw)},
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
