"""The home page and an organisation's quarter at a glance: each cycle's state and RAG counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.deps import CurrentUser, EngineDep, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.pmf import dashboard

router = APIRouter()


@router.get("/")
def home(
    request: Request, user: CurrentUser, engine: EngineDep, framework: FrameworkDep, render: Render
) -> Response:
    """The user's organisations, or straight to the only one: its dashboard once it has a
    quarterly cycle (the landing page of members, leadership and the performance team), its
    cycles before that."""
    orgs = organisations_for(request, engine, user)
    if len(orgs) == 1:
        code = orgs[0][0]
        if dashboard.quarterly_cycles(framework, code):
            return RedirectResponse(f"/orgs/{code}/dashboard", status_code=303)
        return RedirectResponse(f"/orgs/{code}", status_code=303)
    return render("home.html", {"title": "Your organisations"})


@router.get("/orgs/{org}")
def organisation(org: str, user: Member, framework: FrameworkDep, render: Render) -> Response:
    """Every cycle of the organisation with its returns and its measures' RAG counts, and the
    next quarter's cycle to start for those who start cycles."""
    return render("organisation.html", queries.organisation_context(framework, org, user))
