"""What the command groups share: the application each command is passed, the check that the
actor named with ``--as`` may do an administration, and the parsing of values typed on the
command line (a bad one is a usage error, exit 2)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from pmf_engine.app.wiring import Application
from pmf_engine.core import values
from pmf_engine.pmf.meetings import parse_when

App = Application
"""The composition root every command is given (``ctx.obj`` of the ``pmf`` group)."""

pass_app = click.make_pass_decorator(App)
"""Decorator that passes the :data:`App` as a command's first argument."""


def permitted(app: App, by: str, permission: str, organisation: str | None = None) -> str:
    """``by`` if it is an existing active actor holding ``permission`` (from ``roles.yaml``) in
    ``organisation`` (any organisation when ``None``); ``NotPermitted`` (exit 1) otherwise."""
    app.engine.directory.authorise(by, permission, organisation)
    return by


def finite_number(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    """A click callback for a number option (``--forecast``): the finite number typed, or a
    usage error (``nan``, ``inf`` and ``1e400`` refused); ``None`` when it is not given."""
    if value is None:
        return None
    try:
        return values.parse_number(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def parse_time(value: str, name: str) -> datetime:
    """Parse a London time (or one with an offset) given as ``name``, or raise a usage error."""
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from exc


def names_output(command: Callable[..., None]) -> Callable[..., None]:
    """Make a command with an ``output`` path name it in an error writing it that names no file
    (a full disk: ``cannot use q1.pdf: No space left on device``, exit 1, one line)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except OSError as exc:
            output = kwargs.get("output")
            if exc.filename is not None or output is None:
                raise
            raise OSError(exc.errno, exc.strerror or str(exc), str(output)) from exc

    return run


@contextmanager
def open_output(path: Path | None) -> Iterator[Any]:
    """Yield the text file at ``path`` opened for writing, or stdout when there is none."""
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle
