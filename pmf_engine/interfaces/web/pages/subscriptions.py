"""Calendar subscriptions: the signed-in person's page of their secret calendar address (make
one, see when it was made, make a new one, stop it) and the address itself,
``/calendar/{token}.ics``, which a calendar fetches with no sign-in (Outlook cannot send one).
A revoked or unknown token is not found."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pmf_engine.interfaces.web.deps import CheckedForm, CurrentUser, FrameworkDep, Render
from pmf_engine.pmf.calendar_feed import CalendarFeeds

router = APIRouter()
TITLE = "Your deadlines in your calendar"


@router.get("/todo/calendar")
def calendar_page(user: CurrentUser, framework: FrameworkDep, render: Render) -> Response:
    """Whether the person has a live calendar address, and the buttons to make or stop one."""
    feed = CalendarFeeds(framework).current(user)
    return render("subscription.html", {"title": TITLE, "feed": feed, "address": None})


@router.post("/todo/calendar")
def calendar_change(
    request: Request,
    user: CurrentUser,
    _form: CheckedForm,
    framework: FrameworkDep,
    render: Render,
    action: Annotated[Literal["create", "revoke"], Form()],
) -> Response:
    """Make a new address (shown on this page, once) or stop the live one: the person's own."""
    feeds = CalendarFeeds(framework)
    if action == "revoke":
        feeds.revoke(user, by=user)
        return RedirectResponse("/todo/calendar?stopped=1", status_code=303)
    token = feeds.create(user, by=user)
    address = f"{str(request.base_url).rstrip('/')}/calendar/{token}.ics"
    return render("subscription.html", {"title": TITLE, "feed": feeds.current(user), "address": address})


@router.get("/calendar/{token}.ics")
def calendar_feed(token: str, request: Request, framework: FrameworkDep) -> Response:
    """The person's deadlines as iCalendar; no sign-in: the secret address is the key."""
    body = CalendarFeeds(framework).feed(token, str(request.base_url))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="deadlines.ics"', "Referrer-Policy": "no-referrer"},
    )
