"""Signing in with a local account (``Accounts`` does the throttling and the auditing) and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pmf_engine.interfaces.web.deps import AccountsDep, CheckedForm, Render
from pmf_engine.interfaces.web.session import begin, finish, session_user

router = APIRouter()
Text = Annotated[str, Form()]


@router.get("/sign-in")
def sign_in_page(render: Render, next: str = "/") -> Response:
    """The sign-in form."""
    return render("sign_in.html", {"title": "Sign in", "next": _safe_next(next), "field_errors": {}})


@router.post("/sign-in")
def sign_in(
    request: Request,
    _form: CheckedForm,
    accounts: AccountsDep,
    render: Render,
    username: Text = "",
    password: Text = "",
    next: Text = "/",
) -> Response:
    """Sign in and go on to ``next``; the form again, with the reason, if refused. A field
    left empty is the form's error (400): no attempt is made, counted or audited."""
    field_errors: dict[str, str] = {}
    if not username.strip():
        field_errors["username"] = "Enter your username"
    if not password:
        field_errors["password"] = "Enter your password"  # noqa: S105 - a message, not a password
    status = 400
    if not field_errors:
        address = request.client.host if request.client else "unknown"
        user, error = accounts.sign_in(username, password, address=address)
        if user is not None:
            begin(request, user)  # a new session under a new id: no fixation
            return RedirectResponse(_safe_next(next), status_code=303)
        field_errors["username"] = error or "Enter a correct username and password"
        status = 401
    context = {
        "title": "Sign in",
        "next": _safe_next(next),
        "field_errors": field_errors,
        "summary": list(field_errors.items()),
        "username": username,
    }
    return render("sign_in.html", context, status)


@router.post("/sign-out")
def sign_out(request: Request, _form: CheckedForm) -> Response:
    """End every session of the person signed in, here and elsewhere, and clear the cookie."""
    finish(request, session_user(request))
    return RedirectResponse("/sign-in", status_code=303)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"
