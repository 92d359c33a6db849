"""Every error pmf-engine raises, in one tree under ``PmfError``.

    PmfError
    ├── InvalidInput             a value given is not acceptable (names the field)
    ├── NotFound                 an organisation, service, actor, cycle or version is unknown
    ├── Conflict                 the request is sound but clashes with what is stored
    │   ├── AlreadyExists        an organisation, service, actor, cycle or meeting of that key
    │   ├── ConcurrencyConflict  the instance changed since it was read; nothing was written
    │   ├── NotNow               not possible in the state things are in (a frozen report, ...)
    │   ├── MigrationRefused     a cycle cannot move to the requested workflow version
    │   └── SchemaBehind         the database's schema is older than this release needs
    ├── FileProblems             a file given has problems (each with its file, line and field)
    │   ├── DefinitionError      a workflow or policy YAML file is invalid
    │   └── DataFileError        a CSV, XLSX or ICS data file cannot be imported
    ├── Refused                  a fire() attempt was refused; it is recorded in the audit log
    │   ├── UnknownTrigger       the workflow has no such trigger
    │   ├── TransitionNotAllowed the trigger exists but not from the current state
    │   ├── PermissionDenied     the actor's roles, scope or segregation of duties forbid it
    │   │   └── NotPermitted     an administration permission of roles.yaml is not held
    │   └── GuardFailed          a named guard does not hold (or a reason/field is missing)
    └── AuditError               the audit log (or a frozen report) failed verification

Raise a leaf (or ``InvalidInput``/``NotFound``), never ``PmfError`` itself: the interfaces turn
each class into an exit code or an HTTP status by looking the class up in one table.

Messages are built from attributes, so callers can match on the attributes and people can
read the message. Third-party errors are wrapped at our boundary with ``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PmfError(Exception):
    """Root of every error raised by pmf-engine."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a definition file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.message}"


class InvalidInput(PmfError, ValueError):
    """A value given is not acceptable: ``field`` says which, ``value`` what it was (a ``ValueError``
    too, as a malformed value is)."""

    def __init__(self, field: str, value: object, why: str) -> None:
        self.field = field
        self.value = value
        self.why = why
        super().__init__(why if value is None else f"{field} {value!r}: {why}")


class Conflict(PmfError):
    """The request is well formed, but what is stored does not allow it."""


class AlreadyExists(Conflict):
    """Something with this key is there already."""

    def __init__(self, kind: str, key: object, where: str | None = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} already exists" + (f" in {where}" if where else ""))


class NotNow(Conflict):
    """Not possible in the state things are in now (the message says which and why)."""


class FileProblems(PmfError):
    """A file has problems; ``problems`` lists every one found, each with file, line and field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def file(self) -> str:
        """The file of the first problem, for callers that report one place."""
        return self.problems[0].file

    @property
    def line(self) -> int | None:
        """The line of the first problem; ``None`` when it concerns the file as a whole."""
        return self.problems[0].line

    @property
    def field(self) -> str:
        """The dotted path of the first problem's field (``transitions.2.roles``); empty for a whole file."""
        return self.problems[0].field


class DefinitionError(FileProblems):
    """A workflow or policy YAML file is invalid."""


class DataFileError(FileProblems):
    """A CSV, XLSX or ICS data file (measures, actuals, projects, meetings) cannot be imported."""


class NotFound(PmfError):
    """Nothing of ``kind`` (organisation, service, actor, cycle, version...) has the key ``key``."""

    def __init__(self, kind: str, key: object, hint: str = "") -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}" + (f": {hint}" if hint else ""))


class Refused(PmfError):
    """A transition attempt that was refused; the engine records it in the audit log."""

    def __init__(self, instance: str, trigger: str, state: str, reason: str) -> None:
        self.instance = instance
        self.trigger = trigger
        self.state = state
        self.reason = reason
        super().__init__(f"{instance}: {trigger!r} refused in state {state!r}: {reason}")


class UnknownTrigger(Refused):
    """The workflow has no trigger of that name; ``known`` lists the ones it has."""

    def __init__(self, instance: str, trigger: str, state: str, known: Sequence[str]) -> None:
        self.known = tuple(known)
        super().__init__(instance, trigger, state, f"unknown trigger; the workflow knows {', '.join(known)}")


class TransitionNotAllowed(Refused):
    """The trigger exists, but not from the current state; ``allowed`` lists the triggers that do."""

    def __init__(self, instance: str, trigger: str, state: str, allowed: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        now = ", ".join(allowed) if allowed else "nothing (terminal state)"
        super().__init__(instance, trigger, state, f"not allowed now; allowed: {now}")


class PermissionDenied(Refused):
    """The actor's roles, their scope or segregation of duties forbid the trigger; ``rule`` says which."""

    def __init__(self, instance: str, trigger: str, state: str, actor: str, rule: str) -> None:
        self.actor = actor
        self.rule = rule
        super().__init__(instance, trigger, state, f"permission denied for {actor!r}: {rule}")


class NotPermitted(PermissionDenied):
    """The actor may not do this administration: ``permission`` (``calendar.manage``, from
    ``roles.yaml``) is not held in ``organisation`` (any organisation when ``None``), the actor
    is unknown or deactivated, or is ``system``; ``rule`` says which."""

    def __init__(self, actor: str, permission: str, organisation: str | None, rule: str) -> None:
        self.permission = permission
        self.organisation = organisation
        self.actor = actor
        self.rule = rule
        self.instance = organisation or ""
        self.trigger = permission
        self.state = ""
        self.reason = rule
        Exception.__init__(self, f"permission denied for {actor!r}: {rule}")


class GuardFailed(Refused):
    """A named guard does not hold, or a required reason or field is missing; ``why`` says what is wanted."""

    def __init__(self, instance: str, trigger: str, state: str, guard: str, why: str) -> None:
        self.guard = guard
        self.why = why
        super().__init__(instance, trigger, state, f"guard {guard!r} failed: {why}")


class ConcurrencyConflict(Conflict):
    """The instance is no longer at version ``expected`` (it is at ``actual``, if known); nothing written."""

    def __init__(self, instance: str, expected: int, actual: int | None) -> None:
        self.instance = instance
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{instance} changed since it was read (expected version {expected}, "
            f"found {actual}); nothing was written"
        )


class MigrationRefused(Conflict):
    """A cycle cannot be moved to workflow version ``target``; ``reason`` says why."""

    def __init__(self, instance: str, target: str, reason: str) -> None:
        self.instance = instance
        self.target = target
        self.reason = reason
        super().__init__(f"cannot migrate {instance} to {target}: {reason}")


class SchemaBehind(Conflict):
    """The database's schema is at ``current`` (``None``: never created), this release needs
    ``head``, and this connection's role may not bring it up (no right to change the schema)."""

    def __init__(self, current: str | None, head: str | None, refusal: str | None = None) -> None:
        self.current = current
        self.head = head
        self.refusal = refusal
        """What the database said when the upgrade was tried (``permission denied for schema public``)."""
        said = f" (the database said: {refusal})" if refusal else ""
        super().__init__(
            f"the database schema is at revision {current or 'none'}, this release needs {head}, and "
            f"this role may not change the schema{said}: run `pmf db upgrade` with the schema owner's URL"
        )


class Busy(PmfError):
    """The database did not give this request its turn in time (SQLite's one writer held the
    lock past the busy timeout): nothing was written; try again."""

    def __init__(self, waited_s: float) -> None:
        self.waited_s = waited_s
        super().__init__(
            f"the database is busy: another change held it for {waited_s:.0f} s and nothing was "
            "written; try again (on PostgreSQL, several processes write at once)"
        )


class AuditError(PmfError):
    """The audit log (or a frozen report checked against it) failed verification."""
