"""The web application: server-rendered pages in the GOV.UK Design System for every role, and a
JSON API under ``/api/v1`` for scripts.

Pages sign people in with a local account (argon2id) and a signed session cookie (secure,
httponly, samesite=lax); every form carries a CSRF token. The API takes bearer tokens only, so a
browser's cookies can never act on it. Either way the engine decides: the buttons a page offers
come from the signed-in person's roles, and a forged POST is refused and audited by
``Engine.fire`` like any other refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import PmfError
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.errors import (
    Forbidden,
    SignInRequired,
    Unauthenticated,
    WebError,
    problem,
    status_of,
)
from pmf_engine.interfaces.web.rendering import Renderer, templates
from pmf_engine.pmf.framework import Framework

PACKAGE = Path(__file__).parent


@dataclass(frozen=True)
class WebSettings:
    secret_key: str
    secure_cookies: bool = True
    session_hours: int = 8


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
    from pmf_engine.interfaces.web import api, pages  # noqa: PLC0415 - the API imports this module's helpers

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
    app.state.accounts = Accounts(engine.store, engine.clock)
    app.state.templates = templates()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="pmf_session",
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
        return response

    app.include_router(pages.router)
    app.include_router(api.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(WebError)
    @app.exception_handler(PmfError)
    async def _refused(request: Request, exc: Exception) -> Response:
        status, title = status_of(exc)
        if request.url.path.startswith("/api/"):
            response = problem(status, title, str(exc))
            if isinstance(exc, Unauthenticated):
                response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if isinstance(exc, Forbidden):
            title = "You cannot see this page"
        return render(request, "error.html", {"title": title, "detail": str(exc)}, status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return problem(*status_of(exc), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or exc.status_code == 405:
            return problem(exc.status_code, str(exc.detail), str(exc.detail))
        return render(request, "error.html", {"title": str(exc.detail), "detail": ""}, exc.status_code)

    return app


# -- until the API takes these from deps.py -----------------------------------------------------


def organisations_of(engine: Engine, username: str) -> list[tuple[str, str]]:
    """(code, name) of the organisations where ``username`` holds a role."""
    return queries.organisations_of(engine.store, username)


def require_member(engine: Engine, username: str, organisation: str) -> None:
    """Read access: any role in the organisation (auditors included)."""
    if organisation not in {code for code, _ in organisations_of(engine, username)}:
        queries.check_organisation(engine.store, organisation)
        raise Forbidden(f"{username} holds no role in {organisation}")


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """An error page."""
    return Renderer(request, request.app.state.templates, request.app.state.engine)(template, context, status)
