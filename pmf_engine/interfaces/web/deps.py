"""Everything a route needs, as FastAPI dependencies in ``Annotated`` aliases: the services
(engine, framework, accounts, templates), who is asking (``CurrentUser`` by session cookie,
``ApiUser`` by bearer token), the CSRF-checked form, and membership of the organisation that
the path names (``Member``, ``FormMember``, ``ApiMember``); and the pages' integers in a path
or query (``PathId``, ``Count``), bounded by what the INTEGER columns hold, and the cycle a
quarter in the path names (``quarter_cycle``).

FastAPI solves a route's dependencies before its own parameters, in the order they are
declared, and calls each dependency once a request however many others ask for it; so
``FormMember`` checks, in this order, that someone is signed in, that the form carries this
session's CSRF token, and that the person holds a role in the organisation. Dependencies that
only read ``request.app.state``, the session or the path are ``async`` (no thread hop); the
ones that read the database are plain functions, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

from typing import Annotated

import jinja2
from fastapi import Depends, Form, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import FormData

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput, NotFound
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.limits import INTEGER_MAX
from pmf_engine.core.period import Period
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.errors import Forbidden, SignInRequired, Unauthenticated
from pmf_engine.interfaces.web.rendering import Renderer
from pmf_engine.interfaces.web.session import check_csrf, organisations_for, session_user
from pmf_engine.pmf.framework import Framework

# -- the services ---------------------------------------------------------------------------


async def get_engine(request: Request) -> Engine:
    """The workflow engine the app serves."""
    engine: Engine = request.app.state.engine
    return engine


async def get_framework(request: Request) -> Framework:
    """The council framework's services over the engine."""
    framework: Framework = request.app.state.framework
    return framework


async def get_accounts(request: Request) -> Accounts:
    """Local accounts: passwords, lockout and API tokens."""
    accounts: Accounts = request.app.state.accounts
    return accounts


async def get_templates(request: Request) -> jinja2.Environment:
    """The pages' template environment."""
    env: jinja2.Environment = request.app.state.templates
    return env


EngineDep = Annotated[Engine, Depends(get_engine)]
FrameworkDep = Annotated[Framework, Depends(get_framework)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
TemplatesDep = Annotated[jinja2.Environment, Depends(get_templates)]


async def get_renderer(request: Request, env: TemplatesDep, engine: EngineDep) -> Renderer:
    """A renderer of this request's pages."""
    return Renderer(request, env, engine)


Render = Annotated[Renderer, Depends(get_renderer)]

# -- who is asking ----------------------------------------------------------------------------


def current_user(request: Request) -> str:
    """The signed-in user (a server-side session, read from the database); a redirect to
    sign-in (``SignInRequired``) if there is none."""
    user = session_user(request)
    if user is None:
        raise SignInRequired
    return user


BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API token of a person, made with `pmf actor token USER --name NAME` (shown once): "
    "`Authorization: Bearer pmf_...`. What it may read and do is what the person's roles allow.",
    auto_error=False,  # refused below, as a problem document naming what to send
)
"""The API's one security scheme: every route that takes ``ApiUser`` (and so ``ApiMember``)
declares it in the OpenAPI document, so the document cannot say less than the code checks."""


def api_user(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> str:
    """The actor a bearer token belongs to (cookies are not accepted here: no CSRF on the API)."""
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <token> (pmf actor token USER --name N)")
    user = accounts.token_user(credentials.credentials.strip())
    if user is None:
        raise Unauthenticated("the token is unknown, revoked, or its actor deactivated")
    return str(user)


CurrentUser = Annotated[str, Depends(current_user)]
ApiUser = Annotated[str, Depends(api_user)]


async def checked_form(request: Request, csrf_token: Annotated[str, Form()]) -> FormData:
    """The submitted form, once its ``csrf_token`` is this session's (``Forbidden`` if not)."""
    check_csrf(request, csrf_token)
    return await request.form()  # parsed already for the form's fields: Starlette keeps it


CheckedForm = Annotated[FormData, Depends(checked_form)]

# -- membership of the organisation in the path ---------------------------------------------


def require_member(request: Request, engine: Engine, username: str, organisation: str) -> None:
    """Read access: any role in the organisation (auditors included); ``NotFound`` for an
    organisation that does not exist, ``Forbidden`` for one the user holds no role in."""
    if organisation not in {code for code, _ in organisations_for(request, engine, username)}:
        queries.check_organisation(engine.store, organisation)
        raise Forbidden(f"{username} holds no role in {organisation}")


async def path_organisation(request: Request) -> str:
    """The organisation the path names: its ``{org}``, or the first part of its ``{key}``."""
    params = request.path_params
    if "org" in params:
        return str(params["org"])
    return InstanceKey.organisation_of(str(params["key"]))


PathOrganisation = Annotated[str, Depends(path_organisation)]


def page_member(request: Request, user: CurrentUser, org: PathOrganisation, engine: EngineDep) -> str:
    """The signed-in user, once they hold a role in the organisation of the path."""
    require_member(request, engine, user, org)
    return user


def form_member(
    request: Request, user: CurrentUser, _form: CheckedForm, org: PathOrganisation, engine: EngineDep
) -> str:
    """The signed-in user of a CSRF-checked form, once they hold a role in the path's organisation."""
    require_member(request, engine, user, org)
    return user


def api_member(request: Request, user: ApiUser, org: PathOrganisation, engine: EngineDep) -> str:
    """The bearer token's actor, once they hold a role in the organisation of the path."""
    require_member(request, engine, user, org)
    return user


Member = Annotated[str, Depends(page_member)]
FormMember = Annotated[str, Depends(form_member)]
ApiMember = Annotated[str, Depends(api_member)]

# -- integers in a page's path or query --------------------------------------------------------

PathId = Annotated[int, Path(ge=1, le=INTEGER_MAX)]
"""An id in a page's or the API's path (a meeting, a target, an evidence file). One that is not
a number from 1 to ``INTEGER_MAX`` names nothing: the page is a 404 (``app._invalid``; the API a
422 naming it) before anything reads the database, where a larger one bound to a query
overflows on PostgreSQL (a 500). ``Annotated[PathId, Path(description=...)]`` documents it."""
Count = Annotated[int, Query(ge=0, le=INTEGER_MAX)]
"""A count a page reports after a change (``?n=3``): beyond the columns' range, a 422."""
MaybeCount = Annotated[int | None, Query(ge=0, le=INTEGER_MAX)]
"""A count a page may report after a change (``?saved=3``)."""


def quarter_cycle(org: str, period: str) -> str:
    """The cycle of ``org``'s quarter ``period`` (``ORG/2024-25-Q1``, the period as written
    canonically); ``InvalidInput`` naming ``period`` if it is no quarter."""
    try:
        return f"{org}/{Period.parse(period)}"
    except ValueError as exc:
        raise InvalidInput("period", period, f"not a quarter like 2024-25-Q1: {exc}") from None


# -- instance keys in the path ----------------------------------------------------------------


async def instance_key(key: str) -> InstanceKey:
    """The ``{key:path}`` taken apart; ``NotFound`` for one no instance could have."""
    try:
        return InstanceKey.parse(key)
    except InvalidInput:
        raise NotFound("cycle or return", key) from None


async def return_key(key: str) -> InstanceKey:
    """The ``{key:path}`` of a service return (``ORG/PERIOD/SERVICE``); ``NotFound`` otherwise."""
    try:
        parsed = InstanceKey.parse(key)
    except InvalidInput:
        parsed = None
    if parsed is None or parsed.child is None:
        raise NotFound("service return", key)
    return parsed


PathKey = Annotated[InstanceKey, Depends(instance_key)]
ReturnKey = Annotated[InstanceKey, Depends(return_key)]
