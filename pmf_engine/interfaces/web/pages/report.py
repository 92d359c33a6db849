"""The committee report of a cycle as a page of its own (frozen at sign-off, live before)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from pmf_engine.interfaces.web.deps import FrameworkDep, Member
from pmf_engine.pmf import report

router = APIRouter()


@router.get("/instances/{key:path}/report")
def committee_report(key: str, _user: Member, framework: FrameworkDep) -> Response:
    """The report of cycle ``key``."""
    return Response(report.html(report.gather(framework, key)), media_type="text/html; charset=utf-8")
