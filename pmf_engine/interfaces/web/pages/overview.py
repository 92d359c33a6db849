"""The home page and an organisation's cycles at a glance: each cycle's state and (a quarter's) RAG counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.period import parse_period
from pmf_engine.core.views import InstanceStatus
from pmf_engine.interfaces.web import offers, queries
from pmf_engine.interfaces.web.deps import CurrentUser, EngineDep, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.pmf import dashboard
from pmf_engine.pmf.framework import Framework

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
    return render("organisation.html", organisation_context(framework, org, user))


def organisation_context(framework: Framework, organisation: str, username: str) -> dict[str, Any]:
    """The organisation's page: each cycle of any cadence, the newest first, with its returns,
    and a quarter's with its RAG counts (``None`` for a month's, a year's or ad hoc: figures
    and RAG are per quarter); the next to start."""
    engine = framework.engine
    cycles: list[tuple[InstanceStatus, Counter[Any] | None]] = []
    found = sorted(engine.cycles(organisation), key=lambda c: (parse_period(c.period).start, c.key))
    for summary in reversed(found):
        full = engine.status(summary.key)
        quarterly = parse_period(summary.period).kind == "quarter"
        counts = (
            Counter(m.rag.status for m in framework.performance.status(summary.key)) if quarterly else None
        )
        cycles.append((full, counts))
    return {
        "title": f"{offers.organisation_name(engine.store, organisation)}: cycles",
        "org": organisation,
        "cycles": cycles,
        "next_period": queries.next_period(framework, organisation, username),
        "summary": [],
    }
