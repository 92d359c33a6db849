"""The error tree: every class the package raises has its own HTTP status (none falls through to
the 400 fallback, as "already exists" once did) and an exit code, and messages are built from
the attributes a caller can match on."""

from __future__ import annotations

import inspect

import pytest

from pmf_engine.core import errors
from pmf_engine.interfaces.cli.errors import exit_code
from pmf_engine.interfaces.web.errors import status_of

CLASSES = sorted(
    (c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.PmfError)),
    key=lambda c: c.__name__,
)
EXPECTED = {
    "AlreadyExists": 409,
    "ConcurrencyConflict": 409,
    "NotNow": 409,
    "MigrationRefused": 409,
    "SchemaBehind": 409,
    "InvalidInput": 422,
    "DefinitionError": 422,
    "DataFileError": 422,
    "NotFound": 404,
    "PermissionDenied": 403,
    "NotPermitted": 403,
    "GuardFailed": 409,
    "TransitionNotAllowed": 409,
    "UnknownTrigger": 422,
    "AuditError": 409,
    "Busy": 503,
}


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.__name__ in EXPECTED], ids=lambda c: c.__name__)
def test_each_error_has_its_http_status_and_exit_code(cls: type[errors.PmfError]) -> None:
    error = cls.__new__(cls)  # the status depends on the class alone
    assert status_of(error)[0] == EXPECTED[cls.__name__]
    assert exit_code(error) == 1


def test_every_leaf_of_the_tree_is_listed_here() -> None:
    """A new error class must be given a status deliberately (and added above)."""
    bases = {b for c in CLASSES for b in c.__mro__[1:]}
    leaves = {c.__name__ for c in CLASSES if c not in bases}
    assert leaves <= set(EXPECTED), leaves - set(EXPECTED)


def test_messages_are_built_from_attributes() -> None:
    exists = errors.AlreadyExists("service", "HOUSING", "TDC")
    assert (exists.kind, exists.key, str(exists)) == (
        "service",
        "HOUSING",
        "service 'HOUSING' already exists in TDC",
    )
    invalid = errors.InvalidInput("due", "2024-13-01", "not a date like 2024-12-31")
    assert (invalid.field, str(invalid)) == ("due", "due '2024-13-01': not a date like 2024-12-31")
    problem = errors.Problem("measures.csv", 4, "unit", "unknown unit 'kg'")
    data = errors.DataFileError([problem])
    assert isinstance(data, errors.FileProblems) and not isinstance(data, errors.DefinitionError)
    assert (data.file, data.line, data.field, str(data)) == (
        "measures.csv",
        4,
        "unit",
        "measures.csv:4: [unit] unknown unit 'kg'",
    )
