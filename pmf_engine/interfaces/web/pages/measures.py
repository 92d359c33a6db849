"""An organisation's measures in a chosen cycle (by default the latest) with their RAG,
trend and sparkline of the quarters before."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from pmf_engine.core.period import parse_period
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import FrameworkDep, Member, Render
from pmf_engine.interfaces.web.rendering import name_of
from pmf_engine.pmf import report
from pmf_engine.pmf.comparison import group_label

router = APIRouter()


@router.get("/orgs/{org}/measures")
def measures(
    org: str, _user: Member, framework: FrameworkDep, render: Render, cycle: str | None = None
) -> Response:
    """The measures of ``cycle``, or of the organisation's latest cycle; the quarters to pick
    from newest first."""
    found = [c for c in framework.engine.cycles(org) if parse_period(c.period).kind == "quarter"]
    cycles = [c.key for c in found]
    chosen = cycle if cycle in cycles else (cycles[-1] if cycles else None)
    listed = [(c.key, wording.period_words(c.period)) for c in reversed(found)]
    data = report.gather(framework, chosen) if chosen else None
    sparks = (
        {m.code: report.sparkline(data.content.history.get(m.code, [])) for m in data.content.measures}
        if data
        else {}
    )
    positions = data.comparators if data else {}
    return render(
        "measures.html",
        {
            "title": f"{name_of(render, org)}: measures",
            "org": org,
            "cycles": listed,
            "chosen": chosen,
            "data": data,
            "sparks": sparks,
            "groups": {p.group: group_label(p.group) for ps in positions.values() for p in ps},
        },
    )
