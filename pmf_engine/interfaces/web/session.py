"""The signed session of a browser: who is signed in, the CSRF token every form carries, and
the organisations the person holds a role in (read once a request, whoever asks)."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from pmf_engine.core.engine import Engine
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.errors import Forbidden


def session_user(request: Request) -> str | None:
    """The username signed in to this session, if any."""
    user = request.session.get("user")
    return str(user) if user else None


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    """``Forbidden`` unless ``submitted`` is this session's CSRF token."""
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise Forbidden(
            "The form has expired or did not come from this site. Go back, reload the page and try again."
        )


def organisations_for(request: Request, engine: Engine, username: str) -> list[tuple[str, str]]:
    """(code, name) of the organisations where ``username`` holds a role: read from the
    database once a request (the membership check and the page's menu both need them)."""
    cached: tuple[str, list[tuple[str, str]]] | None = getattr(request.state, "organisations", None)
    if cached is None or cached[0] != username:
        cached = (username, queries.organisations_of(engine.store, username))
        request.state.organisations = cached
    return cached[1]
