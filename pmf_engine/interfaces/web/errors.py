"""The web's refusals and the one table that gives every error its HTTP status and title.

The engine's errors (``PmfError`` and its subclasses) and the web layer's own refusals
(``WebError``: no bearer token, a forbidden page, a reused ``Idempotency-Key``) are looked up in
``HTTP_STATUS`` by class; the exception handlers in ``app.py`` answer with a problem document
(the API) or the error page (the pages) from what ``status_of`` says.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pmf_engine.core.errors import (
    AlreadyExists,
    AuditError,
    Busy,
    ConcurrencyConflict,
    Conflict,
    FileProblems,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Refused,
    UnknownTrigger,
)


class SignInRequired(Exception):
    """A page asked for without a signed-in session: answered by a redirect to sign-in."""


class WebError(Exception):
    """A refusal by the web layer itself, with the detail shown to the person or script."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(WebError):
    """An API request without a valid bearer token."""


class Forbidden(WebError):
    """A form without this session's CSRF token, or a page of an organisation the user is not in."""


class IdempotencyKeyReused(WebError):
    """An ``Idempotency-Key`` sent again with a different request."""


class PreconditionRequired(WebError):
    """A transition asked for without the version it was meant for (no ``If-Match``, no
    ``expected_version``)."""


class PreconditionFailed(WebError):
    """``If-Match`` named a version the instance is no longer at; nothing was written."""


HTTP_STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    PermissionDenied: (403, "Not allowed"),
    ConcurrencyConflict: (409, "Changed by someone else"),
    AlreadyExists: (409, "Already exists"),
    Conflict: (409, "Not possible now"),
    Refused: (409, "Not possible now"),
    UnknownTrigger: (422, "Not valid"),
    InvalidInput: (422, "Not valid"),
    FileProblems: (422, "Not valid"),
    AuditError: (409, "Failed verification"),
    Busy: (503, "Busy: try again"),
    Unauthenticated: (401, "Not signed in"),
    Forbidden: (403, "Forbidden"),
    IdempotencyKeyReused: (422, "Idempotency-Key reused"),
    PreconditionRequired: (428, "Precondition required"),
    PreconditionFailed: (412, "Changed by someone else"),
    RequestValidationError: (422, "The request is not valid"),
}
"""The HTTP status and title of each error class; a subclass takes its nearest listed base."""


def status_of(exc: Exception) -> tuple[int, str]:
    """The status and title of ``exc`` from ``HTTP_STATUS``, by the class's method resolution order."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400, "Not possible"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type="application/problem+json",
    )
