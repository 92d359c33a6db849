"""The browser's session: the ``pmf_session`` cookie holds only a random id, looked up in the
server's ``web_sessions`` (``core.sessions``); the CSRF token every form carries is an HMAC of
that id under the app's secret key, so it is tied to the session and stored nowhere.

A visitor who is not signed in gets an id too (for the sign-in form's CSRF token), but no row:
only signing in creates one, under a new id (no fixation). The cookie is set when an id is
issued and cleared at sign-out, never re-issued on every response; the organisations a person
holds a role in are read once a request, whoever asks.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from pmf_engine.core.engine import Engine
from pmf_engine.core.sessions import MAX_TOKEN, Sessions, new_token
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.errors import Forbidden

COOKIE = "pmf_session"
_UNSET = object()


def cookie_token(conn: HTTPConnection) -> str | None:
    """The session id the browser sent, if it is one we could have issued."""
    token = conn.cookies.get(COOKIE)
    return token if token and len(token) <= MAX_TOKEN else None


def session_user(request: HTTPConnection) -> str | None:
    """The username signed in to this session, if any (looked up once a request)."""
    found = request.scope.setdefault("state", {}).get("pmf_user", _UNSET)
    if found is _UNSET:
        token = _issued(request) or cookie_token(request)
        sessions: Sessions = request.app.state.sessions
        found = sessions.user(token) if token else None
        request.scope["state"]["pmf_user"] = found
    return found if isinstance(found, str) else None


def begin(request: Request, user: str) -> None:
    """Start a signed-in session under a new id: its cookie goes with this response."""
    sessions: Sessions = request.app.state.sessions
    token = sessions.start(user)
    request.state.pmf_issue = token
    request.state.pmf_user = user


def finish(request: Request, user: str | None) -> None:
    """Sign out: every session of ``user`` ends and the cookie is cleared."""
    if user is not None:
        sessions: Sessions = request.app.state.sessions
        sessions.end_all(user, "signed out")
    request.state.pmf_clear = True
    request.state.pmf_user = None


def csrf_token(request: Request) -> str:
    """This session's CSRF token; a visitor without a session id is given one with this response."""
    token = _issued(request) or cookie_token(request)
    if token is None:
        token = request.state.pmf_issue = new_token()
    return _mac(request, token)


def check_csrf(request: Request, submitted: str | None) -> None:
    """``Forbidden`` unless ``submitted`` is this session's CSRF token."""
    token = cookie_token(request)
    if not token or not submitted or not hmac.compare_digest(_mac(request, token), submitted):
        raise Forbidden(
            "The form has expired or did not come from this site. Go back, reload the page and try again."
        )


def set_cookie(request: Request, response: Response) -> None:
    """Put a newly issued session id in the response's cookie, or clear it after sign-out."""
    issued = _issued(request)
    secure = bool(request.app.state.web_settings.secure_cookies)
    if issued is not None:
        response.set_cookie(
            COOKIE,
            issued,
            max_age=int(request.app.state.web_settings.session_hours * 3600),
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
    elif getattr(request.state, "pmf_clear", False):
        response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="lax")


def organisations_for(request: Request, engine: Engine, username: str) -> list[tuple[str, str]]:
    """(code, name) of the organisations where ``username`` holds a role: read from the
    database once a request (the membership check and the page's menu both need them)."""
    cached: tuple[str, list[tuple[str, str]]] | None = getattr(request.state, "organisations", None)
    if cached is None or cached[0] != username:
        cached = (username, queries.organisations_of(engine.store, username))
        request.state.organisations = cached
    return cached[1]


def _issued(conn: HTTPConnection) -> str | None:
    issued = conn.scope.get("state", {}).get("pmf_issue")
    return str(issued) if issued else None


def _mac(conn: HTTPConnection, token: str) -> str:
    key = str(conn.app.state.web_settings.secret_key).encode()
    return hmac.new(key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()
