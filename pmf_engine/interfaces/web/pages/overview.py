"""The home page and an organisation's quarter at a glance: each cycle's state and RAG counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.deps import CurrentUser, EngineDep, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.session import organisations_for

router = APIRouter()


@router.get("/")
def home(request: Request, user: CurrentUser, engine: EngineDep, render: Render) -> Response:
    """The user's organisations, or straight to the only one."""
    orgs = organisations_for(request, engine, user)
    if len(orgs) == 1:
        return RedirectResponse(f"/orgs/{orgs[0][0]}", status_code=303)
    return render("home.html", {"title": "Your organisations"})


@router.get("/orgs/{org}")
def organisation(org: str, user: Member, framework: FrameworkDep, render: Render) -> Response:
    """Every cycle of the organisation with its returns and its measures' RAG counts, and the
    next quarter's cycle to start for those who start cycles."""
    return render("organisation.html", queries.organisation_context(framework, org, user))
