"""The organisation's audit trail: newest first, a page at a time (``?before=N`` pages back by
chain position), filtered by instance, actor or event; the chain verified only when asked
(``?verify=1``), since verifying reads the whole chain; the same entries as CSV."""

from __future__ import annotations

import io
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from pmf_engine.core import audit
from pmf_engine.core.limits import INTEGER_MAX
from pmf_engine.interfaces.web import offers, queries
from pmf_engine.interfaces.web.deps import EngineDep, Member, Render
from pmf_engine.interfaces.web.queries import AuditFilters
from pmf_engine.interfaces.web.rendering import csv_download, name_of

router = APIRouter()
Before = Annotated[
    int | None,
    Query(ge=1, le=INTEGER_MAX, description="List entries older than this chain position"),
]


async def audit_filters(instance: str = "", actor: str = "", event: str = "") -> AuditFilters:
    """The filters in the query string."""
    return AuditFilters(instance, actor, event)


Filters = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("/orgs/{org}/audit.csv")
def audit_csv(
    org: str, _user: Member, engine: EngineDep, filters: Filters, before: Before = None
) -> Response:
    """The newest matching entries (at most ``queries.AUDIT_CSV_LIMIT``) as a CSV download (no
    cell starts a formula)."""
    out = io.StringIO()
    audit.export(queries.audit_entries(engine.store, org, filters, before=before), out, "csv")
    return csv_download(out.getvalue(), f"{org}-audit.csv")


@router.get("/orgs/{org}/audit")
def audit_trail(
    org: str,
    _user: Member,
    engine: EngineDep,
    render: Render,
    filters: Filters,
    before: Before = None,
    verify: bool = False,
) -> Response:
    """A page of the filtered entries, newest first, in the framework's words (each step and
    state by its label in the workflow version its instance runs, each role by its label), the
    stored names kept on each row under "As recorded"; the chain's verification if asked for."""
    page = queries.audit_page(engine.store, org, filters, before=before)
    pairs = list(filters.pairs())
    older = urlencode([*pairs, ("before", page.next_before)]) if page.next_before else ""
    context = {
        "title": f"{name_of(render, org)}: audit trail",
        "org": org,
        "entries": page.entries,
        "lexicon": offers.lexicon_of(
            engine, (e.instance for e in page.entries), (e.actor for e in page.entries)
        ),
        "older": older,
        "paged": before is not None,
        "verification": queries.audit_verification(engine.store, org) if verify else None,
        "filters": {"instance": filters.instance, "actor": filters.actor, "event": filters.event},
        "query": urlencode(pairs),
        "verify_query": urlencode([*pairs, ("verify", "1")]),
    }
    return render("audit.html", context)
