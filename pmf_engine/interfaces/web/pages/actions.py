"""The organisation's actions: what was asked, of whom, by when, and whether closed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from pmf_engine.interfaces.web.deps import FrameworkDep, Member, Render
from pmf_engine.interfaces.web.rendering import name_of

router = APIRouter()


@router.get("/orgs/{org}/actions")
def actions(org: str, _user: Member, framework: FrameworkDep, render: Render) -> Response:
    """Every action raised on the organisation's cycles, oldest first (409 where none are tracked)."""
    framework.actions.check_tracked()
    found = framework.actions.list_for(org)
    return render(
        "actions.html",
        {"title": f"{name_of(render, org)}: {framework.words.actions}", "org": org, "actions": found},
    )
