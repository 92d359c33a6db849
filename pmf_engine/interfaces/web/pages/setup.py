"""Setting up from the browser: an administrator uploads a whole council's file (the same
file as ``pmf org init``), or a CSV or workbook of people or services for an organisation they
administer. All or nothing, as on the command line; every problem of a refused file is listed
in a GOV.UK error summary by its line (a workbook's row) and field or column.

``organisation.manage`` (anywhere) sets up a council; ``people.manage`` in an organisation
uploads its people, ``organisation.manage`` there its services (``permissions`` of
``policies/roles.yaml``). Each upload is audited as the signed-in administrator.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import FileProblems, NotPermitted, PmfError
from pmf_engine.core.registry import ORGANISATION_MANAGE, PEOPLE_MANAGE
from pmf_engine.interfaces.web.deps import (
    CheckedForm,
    Count,
    CurrentUser,
    EngineDep,
    FormMember,
    FrameworkDep,
    Render,
)
from pmf_engine.interfaces.web.errors import Forbidden
from pmf_engine.interfaces.web.pages.instance import FORM_ERRORS
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.interfaces.web.wording import count as said
from pmf_engine.pmf.onboarding import SetUp

router = APIRouter()
SUFFIXES = {"council": (".yaml", ".yml", ".xlsx"), "people": (".csv", ".xlsx"), "services": (".csv", ".xlsx")}


@dataclass(frozen=True)
class Administered:
    """An organisation the signed-in person administers, and what they may upload to it."""

    code: str
    name: str
    people: bool
    services: bool


def _may(engine: Engine, user: str, permission: str, organisation: str | None) -> bool:
    try:
        engine.directory.authorise(user, permission, organisation)
    except NotPermitted:
        return False
    return True


def _context(request: Request, engine: Engine, user: str) -> dict[str, Any]:
    """Whether ``user`` may set up a council, and the organisations they may upload to;
    ``Forbidden`` if neither."""
    administered = [
        Administered(
            code,
            name,
            people=_may(engine, user, PEOPLE_MANAGE, code),
            services=_may(engine, user, ORGANISATION_MANAGE, code),
        )
        for code, name in organisations_for(request, engine, user)
    ]
    administered = [a for a in administered if a.people or a.services]
    council = _may(engine, user, ORGANISATION_MANAGE, None)
    if not council and not administered:
        raise Forbidden(f"{user} holds neither {ORGANISATION_MANAGE} nor {PEOPLE_MANAGE}")
    return {"title": "Set up your council", "council": council, "administered": administered}


@router.get("/setup")
def setup(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    render: Render,
    done: str | None = None,
    org: str = "",
    count: Count = 0,
    people: Count = 0,
) -> Response:
    """The set-up page: a council file, and people or services for the organisations you
    administer; after an upload, what it did (``done``: council, people or services)."""
    banner = None
    if done == "council":
        banner = f"{org} is set up: {said(count, 'service')} and {said(people, 'person', 'people')}"
    elif done == "people":
        banner = f"{said(count, 'person', 'people')} added or given more roles in {org}"
    elif done == "services":
        banner = f"{said(count, 'service')} added to {org}"
    return render("setup.html", {**_context(request, engine, user), "done": banner})


def _uploaded(
    request: Request,
    user: str,
    engine: Engine,
    render: Render,
    file: UploadFile,
    kind: str,
    target: str,
    run: Any,
) -> Response:
    """Run ``run(path)`` on the upload saved under its own suffix; the page again with each
    problem, or a redirect that says what was done."""
    name = Path(file.filename or "").name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES[kind]:
        problems = [f"{name}: use a {' or '.join(SUFFIXES[kind])} file"]
        return _refused(request, user, engine, render, kind, target, name, problems)
    content = file.file.read()  # bounded before it was read: PMF_MAX_UPLOAD_BYTES, at the gate
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{kind}{suffix}"
        path.write_bytes(content)
        try:
            done: SetUp = run(path)
        except FileProblems as exc:
            problems = [_where(p.line, p.field) + p.message for p in exc.problems]
            return _refused(request, user, engine, render, kind, target, name, problems)
        except PmfError as exc:
            return _refused(request, user, engine, render, kind, target, name, [str(exc)])
    counts = {
        "council": done.services,
        "people": done.people + done.people_updated,
        "services": done.services,
    }
    query = urlencode({"done": kind, "org": done.organisation, "count": counts[kind], "people": done.people})
    return RedirectResponse(f"/setup?{query}", status_code=303)


def _where(line: int | None, field: str) -> str:
    parts = ([f"line {line}"] if line is not None else []) + ([field] if field else [])
    return f"{', '.join(parts)}: " if parts else ""


def _refused(
    request: Request,
    user: str,
    engine: Engine,
    render: Render,
    kind: str,
    target: str,
    name: str,
    problems: list[str],
) -> Response:
    context = _context(request, engine, user)
    context.update(errors=problems, error_file=name, error_target=f"{kind}-file{target}")
    return render("setup.html", context, FORM_ERRORS)


@router.post("/setup/upload")
def upload_council(
    request: Request,
    user: CurrentUser,
    _form: CheckedForm,
    file: UploadFile,
    framework: FrameworkDep,
    render: Render,
) -> Response:
    """Set up a whole council from its file (``organisation.manage`` anywhere)."""
    engine = framework.engine
    if not _may(engine, user, ORGANISATION_MANAGE, None):
        raise Forbidden(f"setting up a council needs {ORGANISATION_MANAGE}")
    onboarding = framework.onboarding
    return _uploaded(
        request, user, engine, render, file, "council", "", lambda p: onboarding.set_up(p, by=user)
    )


@router.post("/orgs/{org}/people/upload")
def upload_people(
    request: Request, org: str, user: FormMember, file: UploadFile, framework: FrameworkDep, render: Render
) -> Response:
    """Add the people of a CSV file or workbook to ``org`` (``people.manage`` there)."""
    engine = framework.engine
    engine.directory.authorise(user, PEOPLE_MANAGE, org)
    onboarding = framework.onboarding
    return _uploaded(
        request,
        user,
        engine,
        render,
        file,
        "people",
        f"-{org}",
        lambda p: onboarding.import_people(org, p, by=user),
    )


@router.post("/orgs/{org}/services/upload")
def upload_services(
    request: Request, org: str, user: FormMember, file: UploadFile, framework: FrameworkDep, render: Render
) -> Response:
    """Add the services of a CSV file or workbook to ``org`` (``organisation.manage`` there)."""
    engine = framework.engine
    engine.directory.authorise(user, ORGANISATION_MANAGE, org)
    onboarding = framework.onboarding
    return _uploaded(
        request,
        user,
        engine,
        render,
        file,
        "services",
        f"-{org}",
        lambda p: onboarding.import_services(org, p, by=user),
    )
