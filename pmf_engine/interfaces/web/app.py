"""The web application: server-rendered pages in the GOV.UK Design System for every role, and a
JSON API under ``/api/v1`` for scripts.

Pages sign people in with a local account (argon2id, throttled) and a server-side session
whose random id is the only thing in the cookie (secure, httponly, samesite=lax); every form
carries a CSRF token. The API takes bearer tokens only, so a
browser's cookies can never act on it. Either way the engine decides: the buttons a page offers
come from the signed-in person's roles, and a forged POST is refused and audited by
``Engine.fire`` like any other refusal.

This module builds the app: its state, middleware, routers and exception handlers, which answer
every error by the one table in ``errors.py``. The routers take what they need from
``deps.py`` and never import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.errors import Busy, PmfError
from pmf_engine.core.sessions import SessionPolicy, Sessions
from pmf_engine.interfaces.web import api, api_assurance, api_planning, comparisons, feed, pages, wording
from pmf_engine.interfaces.web.errors import (
    Forbidden,
    SignInRequired,
    Unauthenticated,
    WebError,
    problem,
    status_of,
)
from pmf_engine.interfaces.web.gate import BodyGate, Limits
from pmf_engine.interfaces.web.rendering import Renderer, templates
from pmf_engine.interfaces.web.session import set_cookie
from pmf_engine.pmf.framework import Framework

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class WebSettings:
    """The key of the CSRF tokens, the cookie's flags, the sessions' time-outs and the most a
    request body may hold."""

    secret_key: str
    secure_cookies: bool = True
    session_hours: float = 8
    """The absolute lifetime of a signed-in session, however active."""
    session_idle_minutes: float = 30
    """A session with no request for this long ends."""
    max_body_bytes: int = 1024 * 1024
    """The most a JSON or form body may hold."""
    max_upload_bytes: int = 10 * 1024 * 1024
    """The most an uploaded return may hold."""


SECURITY_HEADERS = {
    # No page runs a script or loads anything from elsewhere; the report's own styles are inline.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(framework: Framework, settings: WebSettings) -> FastAPI:
    """The web application and API over ``framework`` (and its engine)."""
    engine = framework.engine
    app = FastAPI(
        title="pmf-engine",
        version="1",
        description="The quarterly Performance Management Framework cycle of UK councils.",
        docs_url=None,  # Swagger UI would fetch its scripts from a CDN: the OpenAPI JSON is served
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.framework = framework
    app.state.accounts = Accounts(engine.store, engine.clock).ready_for_sign_in()
    policy = SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_hours),
    )
    app.state.sessions = Sessions(engine.store, engine.clock, policy)
    app.state.web_settings = settings
    app.state.templates = templates()
    # The pages link to an optional framework.yaml section's pages only when it is there.
    app.state.templates.globals["sections"] = framework.policies.framework.sections()
    app.state.templates.globals["words"] = framework.words  # what the framework calls things
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    limits = Limits(body=settings.max_body_bytes, upload=settings.max_upload_bytes)
    app.add_middleware(BodyGate, limits=limits, token_user=app.state.accounts.token_user)
    app.middleware("http")(_security_headers)  # outside the gate: its answers get the headers too
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(feed.router)
    app.include_router(comparisons.router)
    app.include_router(api_planning.router)
    app.include_router(api_assurance.router)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(WebError, _refused)
    app.add_exception_handler(PmfError, _refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    return app


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    set_cookie(request, response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
    return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, title: str, detail: str, status: int) -> Response:
    render = Renderer(request, request.app.state.templates, request.app.state.engine)
    return render("error.html", {"title": title, "detail": detail}, status)


async def _sign_in(request: Request, _exc: Exception) -> Response:
    return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    """An engine error or a web refusal: a problem document on the API, else the error page."""
    status, title = status_of(exc)
    response: Response
    if _is_api(request):
        response = problem(status, title, str(exc))
        if isinstance(exc, Unauthenticated):
            response.headers["WWW-Authenticate"] = "Bearer"
    else:
        if isinstance(exc, Forbidden):
            title = "You cannot see this page"
        roles = request.app.state.engine.catalog.roles
        detail = wording.refusal(exc, roles=roles) if isinstance(exc, PmfError) else str(exc)
        response = _error_page(request, title, detail, status)
    if isinstance(exc, Busy):
        response.headers["Retry-After"] = "5"
    return response


async def _invalid(request: Request, exc: Exception) -> Response:
    """A request the routes' parameters refuse: a problem document on the API; on a page, the
    error page in plain words (each form checks its own fields first, so this is a form the
    pages never send, or one sent again after the page changed)."""
    assert isinstance(exc, RequestValidationError)
    if not _is_api(request) and any(e["loc"][:1] == ("path",) for e in exc.errors()):
        # a path the routes' types refuse (``deps.PathId``: an id no row can have) names no
        # page; the API answers 422 naming the parameter
        return _error_page(
            request, "Page not found", "If you typed the web address, check it is correct.", 404
        )
    if _is_api(request):
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return problem(*status_of(exc), details)
    fields = sorted({str(e["loc"][-1]).replace("_", " ") for e in exc.errors() if e["loc"]})
    detail = (
        f"The form sent was not complete or not valid ({', '.join(fields)}). "
        "Go back, reload the page and try again."
    )
    return _error_page(request, "There is a problem with the form", detail, status_of(exc)[0])


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request) or exc.status_code == 405:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))
    return _error_page(request, str(exc.detail), "", exc.status_code)
