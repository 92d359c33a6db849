"""The organisation's risk register: a 5x5 heat map of residual scores (SVG with a name, a
description and words in every cell) with a table of the same data, the escalated risks with
why, and the whole register."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from pmf_engine.interfaces.web.deps import FrameworkDep, Member, Render
from pmf_engine.interfaces.web.rendering import name_of
from pmf_engine.pmf.report.heatmap import grid, heat_map

router = APIRouter()


@router.get("/orgs/{org}/risks")
def risks_page(
    org: str, _user: Member, framework: FrameworkDep, render: Render, period: str | None = None
) -> Response:
    """The register as of quarter ``period`` (default: with every review so far)."""
    section = framework.risks.section(org, period)
    return render(
        "risks.html",
        {
            "title": f"{name_of(render, org)}: risk register",
            "org": org,
            "period": period,
            "section": section,
            "heat_map": Markup(heat_map(section)),  # noqa: S704 - numbers and escaped text
            "grid": grid(section),
        },
    )
