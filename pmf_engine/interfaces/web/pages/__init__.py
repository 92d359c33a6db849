"""Server-rendered pages: sign-in, the quarter at a glance, cycle, return and action pages
with the steps the signed-in person may take, measures, Scrutiny actions, the audit trail and
the committee report (and the annual report), the dashboard and its drill-down, a measure's page
with its targets' lifecycle, the set-up page (a council file, bulk people and services), the
committee calendar (and starting the next cycle), a person's calendar subscription, the
service plans and the public pages of published figures; one router per area, joined here.

The order below matters: ``/instances/{key:path}`` takes any path under ``/instances/``, so
the instance pages come last, after the report, the return's forms and template, and the
cycle's exception report and Scrutiny action forms; the evidence upload (``.../evidence/upload``)
comes before the return's own ``.../upload``.
"""

from __future__ import annotations

from fastapi import APIRouter

from pmf_engine.interfaces.web.pages import (
    actions,
    audit,
    calendar,
    cycle_forms,
    dashboard,
    instance,
    measures,
    open_data,
    overview,
    plan_changes,
    plan_risks,
    plans,
    quality,
    report,
    returns,
    risks,
    setup,
    sign_in,
    subscriptions,
    targets,
)

router = APIRouter(include_in_schema=False)
for area in (
    sign_in,
    open_data,
    overview,
    setup,
    dashboard,
    targets,
    measures,
    risks,
    actions,
    plans,
    plan_changes,
    plan_risks,
    audit,
    calendar,
    subscriptions,
    report,
    quality,
    returns,
    cycle_forms,
    instance,
):
    router.include_router(area.router)

__all__ = ["router"]
