"""The organisation's audit trail: its chain verified, the entries filtered by instance, actor
or event, and the same entries as CSV."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from pmf_engine.core import audit
from pmf_engine.interfaces.web import queries
from pmf_engine.interfaces.web.deps import EngineDep, Member, Render
from pmf_engine.interfaces.web.queries import AuditFilters

router = APIRouter()


async def audit_filters(instance: str = "", actor: str = "", event: str = "") -> AuditFilters:
    """The filters in the query string."""
    return AuditFilters(instance, actor, event)


Filters = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("/orgs/{org}/audit.csv")
def audit_csv(org: str, _user: Member, engine: EngineDep, filters: Filters) -> Response:
    """The filtered entries as a CSV download (no cell starts a formula)."""
    out = io.StringIO()
    audit.export(queries.audit_entries(engine.store, org, filters), out, "csv")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{org}-audit.csv"'},
    )


@router.get("/orgs/{org}/audit")
def audit_trail(org: str, _user: Member, engine: EngineDep, render: Render, filters: Filters) -> Response:
    """The chain's verification and the filtered entries."""
    verification, entries = queries.audit_view(engine.store, org, filters)
    context = {
        "title": f"{org}: audit trail",
        "org": org,
        "entries": entries,
        "verification": verification,
        "filters": {"instance": filters.instance, "actor": filters.actor, "event": filters.event},
        "query": "&".join(f"{k}={v}" for k, v in filters.pairs()),
    }
    return render("audit.html", context)
