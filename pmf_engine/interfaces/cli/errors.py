"""The one place where the ``pmf`` command turns an error into lines on stderr and an exit code.

The root group is a :class:`PmfGroup`: every command runs inside its ``invoke``, so commands
raise and never catch. An error whose class (or a base of it) is in :data:`EXIT_CODES` is
reported without a traceback: a :class:`FileProblems` as one ``invalid: file:line: [field]
message`` line per problem, a database error as one ``database error: ...`` line, any other
as one ``ClassName: message`` line. Anything else is a bug and keeps its traceback.

A closed pipe (``pmf ... | head``) is not reported: it goes on to click's own handling, which
exits 1 without a word.

Exit codes: 0 done, 1 refused or invalid (every error below; a closed pipe), 2 usage (click's own).
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from pmf_engine.core.errors import (
    AuditError,
    Conflict,
    FileProblems,
    InvalidInput,
    NotFound,
    PmfError,
    Refused,
)

EXIT_CODES: dict[type[Exception], int] = {
    InvalidInput: 1,  # a value given is not acceptable
    NotFound: 1,  # an organisation, service, actor, cycle or version is unknown
    Conflict: 1,  # already exists, changed meanwhile, not now, migration refused
    FileProblems: 1,  # a definition or data file has problems
    Refused: 1,  # a transition was refused (and audited)
    AuditError: 1,  # the audit log or a frozen report failed verification
    PmfError: 1,  # any other of ours
    SQLAlchemyError: 1,  # the database could not be reached or refused the statement
    OSError: 1,  # a file could not be read or written (an output folder that does not exist, ...)
}
"""Exit code by error class; the nearest class in the error's MRO wins."""


def exit_code(exc: Exception) -> int:
    """The exit code for ``exc``: that of the nearest of its classes in EXIT_CODES."""
    return next(EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES)


def describe(exc: Exception) -> list[str]:
    """The lines that tell the person at the terminal what went wrong."""
    if isinstance(exc, FileProblems):
        return [f"invalid: {problem}" for problem in exc.problems]
    if isinstance(exc, SQLAlchemyError):
        first = (str(exc).splitlines() or [""])[0]
        return [f"database error: {exc.__class__.__name__}: {first}"]
    if isinstance(exc, OSError) and exc.filename is not None:
        return [f"cannot use {exc.filename}: {exc.strerror or exc}"]
    return [f"{type(exc).__name__}: {exc}"]


class PmfGroup(click.Group):
    """A click group that reports the errors of every command under it and exits with their code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the chosen command; on an error of EXIT_CODES print it and exit with its code."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # the reader stopped reading: click's main quiets stdout and exits 1
        except tuple(EXIT_CODES) as exc:
            for line in describe(exc):
                click.echo(line, err=True)
            raise click.exceptions.Exit(exit_code(exc)) from exc
