"""Where a change came from, beside who made it: facts an interface sets for the changes it
makes (the CLI: the operating-system user), added to the data of each audit entry they write.

The CLI names an actor with ``--as``; anyone who can run it could type any name, so each entry
it writes also records who ran it on the host (``os_user``). A context variable carries it, so
the engine's functions need no extra argument; the web app and the worker set nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_FACTS: ContextVar[Mapping[str, str]] = ContextVar("pmf_provenance", default=MappingProxyType({}))


@contextmanager
def recorded(**facts: str) -> Iterator[None]:
    """Within the block, every audit entry written records ``facts`` in its data too."""
    token = _FACTS.set({**_FACTS.get(), **facts})
    try:
        yield
    finally:
        _FACTS.reset(token)


def current() -> Mapping[str, str]:
    """The facts set by the enclosing :func:`recorded` blocks (empty outside any)."""
    return _FACTS.get()


def stamp(data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An audit entry's ``data`` with the current facts added (the entry's own keys win)."""
    return {**_FACTS.get(), **(data or {})}
