"""The committee calendar (add, move and cancel a meeting: ``calendar.manage``) and starting the
next quarter's cycle (the workflow's ``start_roles``), for the performance team in the browser.

Each change is one audited transaction in the framework (a meeting moved or cancelled reckons
again every open deadline that hung on it); a refused or invalid form shows its page again with
the reason, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.errors import FileProblems, InvalidInput, PmfError
from pmf_engine.interfaces.web import queries, wording
from pmf_engine.interfaces.web.deps import Count, FormMember, FrameworkDep, Member, PathId, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.pages.overview import organisation_context
from pmf_engine.interfaces.web.rendering import Renderer, name_of
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.meetings import parse_when
from pmf_engine.pmf.registry import CALENDAR_MANAGE

router = APIRouter()
Text = Annotated[str, Form()]
DONE = {
    "added": "Meeting added",
    "moved": "Meeting moved: {deadlines} reckoned again",
    "cancelled": "Meeting cancelled: {deadlines} reckoned again from the next meeting",
    "synced": "Synchronised with ModernGov: {meetings} added, moved or cancelled",
}
"""What the page says after a change (by code: a link cannot make it say anything else)."""


@router.get("/orgs/{org}/meetings")
def meetings(
    org: str, user: Member, framework: FrameworkDep, render: Render, done: str = "", n: Count = 0
) -> Response:
    """The organisation's meetings, the coming ones first; forms for those who manage them."""
    said = DONE.get(done)
    return _page(
        render,
        framework,
        org,
        user,
        done=said.format(deadlines=wording.count(n, "deadline"), meetings=wording.count(n, "meeting"))
        if said
        else "",
    )


@router.post("/orgs/{org}/meetings")
def add_meeting(
    org: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    body: Text,
    when: Text,
    title: Text = "",
    location: Text = "",
) -> Response:
    """Add a meeting: deadlines waiting for one of its body are reckoned from it."""
    try:
        framework.engine.directory.authorise(user, CALENDAR_MANAGE, org)
        starts_at = _when("when", when)
        framework.calendar.add(
            org, body.strip(), starts_at, title=title.strip(), location=location.strip(), by=user
        )
    except (PmfError, ValueError) as exc:
        return _refused(render, framework, org, user, exc, {"body": body, "when": when, "title": title})
    return _done(org, "added", 0)


@router.post("/orgs/{org}/meetings/{meeting}/move")
def move_meeting(
    org: str,
    meeting: PathId,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    when: Text,
    reason: Text = "",
) -> Response:
    """Move a meeting: every open deadline reckoned from it follows."""
    try:
        framework.engine.directory.authorise(user, CALENDAR_MANAGE, org)
        count = framework.calendar.move(
            org, str(meeting), _when(f"when-{meeting}", when), by=user, reason=reason.strip() or None
        )
    except (PmfError, ValueError) as exc:
        return _refused(render, framework, org, user, exc)
    return _done(org, "moved", count)


@router.post("/orgs/{org}/meetings/{meeting}/cancel")
def cancel_meeting(
    org: str, meeting: PathId, user: FormMember, framework: FrameworkDep, render: Render, reason: Text = ""
) -> Response:
    """Cancel a meeting, with a reason: its deadlines go to the body's next meeting."""
    try:
        framework.engine.directory.authorise(user, CALENDAR_MANAGE, org)
        count = framework.calendar.withdraw(org, str(meeting), by=user, reason=reason, cancelled=True)
    except PmfError as exc:
        return _refused(render, framework, org, user, exc)
    return _done(org, "cancelled", count)


@router.post("/orgs/{org}/meetings/sync")
def sync_meetings(org: str, user: FormMember, framework: FrameworkDep, render: Render) -> Response:
    """Bring the calendar into line with the organisation's ModernGov site now (as the worker
    does daily): all or nothing, the page saying why if the site could not be read."""
    try:
        framework.engine.directory.authorise(user, CALENDAR_MANAGE, org)
        done = framework.moderngov.sync(org, by=user)
    except PmfError as exc:
        return _refused(render, framework, org, user, exc, target="moderngov-sync")
    return _done(org, "synced", done.added + done.linked + done.moved + done.cancelled)


@router.post("/orgs/{org}/cycles")
def start_cycle(
    org: str, user: FormMember, framework: FrameworkDep, render: Render, period: Text
) -> Response:
    """Start the cycle of ``period`` (the one the organisation's page offers)."""
    try:
        started = framework.engine.start_cycle(org, period.strip(), by=user)
    except PmfError as exc:
        status, _title = status_of(exc)
        return render(
            "organisation.html",
            organisation_context(framework, org, user)
            | {"summary": [("start-cycle", _cannot_start(framework, period, exc))]},
            status,
        )
    return RedirectResponse(f"/instances/{started.key}", status_code=303)


def _when(field: str, text: str) -> datetime:
    try:
        return parse_when(text)
    except ValueError as exc:
        raise InvalidInput(field, None, f"Date and time: {exc}") from None


def _done(org: str, what: str, count: int) -> Response:
    return RedirectResponse(f"/orgs/{org}/meetings?done={what}&n={count}", status_code=303)


def _refused(
    render: Renderer,
    framework: Framework,
    org: str,
    user: str,
    exc: Exception,
    form: dict[str, str] | None = None,
    target: str = "add-meeting",
) -> Response:
    status = status_of(exc)[0] if isinstance(exc, PmfError) else 400
    errors = [str(p) for p in exc.problems] if isinstance(exc, FileProblems) else [str(exc)]
    return _page(render, framework, org, user, errors=errors, form=form, status=status, target=target)


def _page(
    render: Renderer,
    framework: Framework,
    org: str,
    user: str,
    *,
    done: str = "",
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    target: str = "add-meeting",
) -> Response:
    now = framework.engine.clock.now()
    listed = framework.calendar.list(org)
    may_manage = queries.may(framework, user, CALENDAR_MANAGE, org)
    return render(
        "meetings.html",
        {
            "title": f"{name_of(render, org)}: committee meetings",
            "org": org,
            "coming": [m for m in listed if m.starts_at > now],
            "past": [m for m in listed if m.starts_at <= now][::-1],
            "bodies": sorted(framework.policies.framework.calendar.bodies or {m.body for m in listed}),
            "may_manage": may_manage,
            "moderngov": framework.moderngov.policy.site(org) is not None,
            "links": framework.moderngov.meeting_links(org, [m.id for m in listed]),
            "done": done,
            "errors": errors or [],
            "error_target": target,
            "form": form or {},
        },
        status,
    )


def _cannot_start(framework: Framework, period: str, exc: PmfError) -> str:
    """Why the cycle of ``period`` was not started, in plain words."""
    what = f"start {wording.period_words(period.strip())}"
    return wording.refusal(exc, roles=framework.engine.catalog.roles, what=what)
