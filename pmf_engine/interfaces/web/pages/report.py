"""The committee report of a cycle as a page of its own (frozen at sign-off, live before), and
an organisation's annual report of a financial year (``?public=yes``: its public version)."""

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


@router.get("/orgs/{org}/annual-report/{year}")
def annual_report(org: str, year: str, _user: Member, framework: FrameworkDep, public: str = "") -> Response:
    """The annual report of financial ``year`` (``2024-25``); the public version with ``public=yes``."""
    found = report.annual_report(framework, org, year, public=public == "yes")
    return Response(report.annual_html(found), media_type="text/html; charset=utf-8")
