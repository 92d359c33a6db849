"""``GET /api/v1/organisations/{org}/comparators``: each measure's position among similar
councils (``pmf_engine.pmf.comparators``) as JSON, for a bearer token of a member of the
organisation: rank of n, quartile and median by the measure's polarity, and every council's
value with its source and date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from pmf_engine.interfaces.web.api import ERRORS
from pmf_engine.interfaces.web.deps import ApiMember, FrameworkDep
from pmf_engine.pmf.comparison import Position, group_label

router = APIRouter(prefix="/api/v1", tags=["comparators"], responses=ERRORS)
Org = Annotated[str, Path(description="An organisation's code", examples=["WDC"])]


@router.get("/organisations/{org}/comparators")
def comparators(org: Org, _user: ApiMember, framework: FrameworkDep) -> list[dict[str, Any]]:
    """Each measure's position in each comparison group holding values of its metric (the
    latest period), measures by code; measures without a metric are left out."""
    found = framework.comparators.positions(org)
    return [_position(code, p) for code, positions in sorted(found.items()) for p in positions]


def _position(code: str, p: Position) -> dict[str, Any]:
    return {
        "measure": code,
        "group": p.group,
        "group_label": group_label(p.group),
        "metric": p.metric,
        "period": p.period,
        "n": p.n,
        "rank": p.rank,
        "quartile": p.quartile,
        "median": p.median,
        "own_value": p.own.value if p.own else None,
        "areas": [
            {
                "gss_code": a.area_gss,
                "name": a.area_name,
                "value": a.value,
                "source": a.source,
                "date": a.dated,
            }
            for a in p.areas
        ],
    }
