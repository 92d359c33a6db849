"""Data quality and assurance: a quarter's figures with their quality flags and evidence, each
service's return with its head of service's sign-off (and the button to give it), the same as
CSV for an internal auditor; evidence uploaded beside a figure and served back only to members,
as an attachment the browser may not sniff."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import RedirectResponse, Response

from pmf_engine.core.errors import InvalidInput, NotFound, PmfError
from pmf_engine.core.period import FinancialYear, parse_period
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import (
    FormMember,
    FrameworkDep,
    Member,
    PathId,
    PathKey,
    Render,
    ReturnKey,
)
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.pages.instance import FORM_ERRORS
from pmf_engine.interfaces.web.rendering import csv_download, evidence_download, name_of
from pmf_engine.pmf.framework import Framework

router = APIRouter()


def _chosen(framework: Framework, org: str, cycle: str | None) -> tuple[str | None, list[tuple[str, str]]]:
    """The cycle asked for (else the latest) and the quarters to pick from, newest first: the
    cycles of a reporting period (a quarter, a month), not a year's (service planning)."""
    found = [c for c in framework.engine.cycles(org) if not _of_a_year(c.period)]
    keys = [c.key for c in found]
    chosen = cycle if cycle in keys else (keys[-1] if keys else None)
    return chosen, [(c.key, wording.period_words(c.period)) for c in reversed(found)]


def _of_a_year(period: str) -> bool:
    try:
        return isinstance(parse_period(period), FinancialYear)
    except ValueError:
        return False


def assurance_page(
    render: Render,
    framework: Framework,
    org: str,
    user: str,
    cycle: str | None,
    *,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    """The assurance page of ``cycle`` (or the latest), with ``errors`` at the top if any."""
    chosen, listed = _chosen(framework, org, cycle)
    summary = framework.assurance.summary(chosen) if chosen else None
    evidence = framework.evidence.listed(chosen) if chosen else []
    context = {
        "title": f"{name_of(render, org)}: data quality and assurance",
        "org": org,
        "cycles": listed,
        "chosen": chosen,
        "assurance": summary,
        "evidence": evidence,
        "errors": errors or [],
        "summary": [("evidence-file", e) for e in errors or []],
        "kinds": ", ".join(k.upper() for k in framework.policies.framework.quality.evidence.kinds),
        "max_mb": framework.policies.framework.quality.evidence.max_bytes / 1024 / 1024,
    }
    return render("assurance.html", context, status)


@router.get("/orgs/{org}/assurance")
def assurance(
    org: str, user: Member, framework: FrameworkDep, render: Render, cycle: str | None = None
) -> Response:
    """Figures by quality flag, with evidence, and each return's sign-off: what an auditor reads."""
    return assurance_page(render, framework, org, user, cycle)


@router.get("/orgs/{org}/assurance.csv")
def assurance_csv(org: str, _user: Member, framework: FrameworkDep, cycle: str | None = None) -> Response:
    """The assurance summary as CSV: one line per figure with its flag, evidence and sign-off."""
    chosen, _ = _chosen(framework, org, cycle)
    if chosen is None:
        raise NotFound("cycle of", org)
    out = io.StringIO()
    framework.assurance.write_csv(chosen, out)
    return csv_download(out.getvalue(), f"{chosen.replace('/', '-')}-assurance.csv")


@router.get("/orgs/{org}/evidence/{evidence}")
def evidence_file(org: str, _user: Member, framework: FrameworkDep, evidence: PathId) -> Response:
    """An evidence file, to members of its organisation only, always as a download: the type
    it was sniffed to be when stored, ``nosniff``, and a sandboxing content security policy."""
    return evidence_download(framework.evidence.download(org, evidence))


@router.post("/instances/{key:path}/evidence/upload")  # "/upload": the upload limit of the gate
def upload_evidence(
    key: str,
    user: FormMember,
    parsed: PathKey,
    framework: FrameworkDep,
    render: Render,
    code: Annotated[str, Form()] = "",
    file: UploadFile | None = None,
) -> Response:
    """Attach an evidence file to the cycle's figure of measure ``code``."""
    cycle = parsed.cycle
    content = file.file.read() if file is not None else b""  # bounded at the gate first
    problem = "" if file is not None and file.filename else "Select the evidence file to upload"
    if not problem and not code.strip():
        problem = "Select the measure the evidence supports"
    if not problem:
        try:
            framework.evidence.attach(cycle, code.strip(), file.filename or "", content, by=user)  # type: ignore[union-attr]
        except InvalidInput as invalid:  # the file itself: a form error, as on every form
            org = parsed.organisation
            return assurance_page(
                render, framework, org, user, cycle, errors=[invalid.why], status=FORM_ERRORS
            )
        except PmfError as exc:
            status, _ = status_of(exc)
            return assurance_page(
                render,
                framework,
                parsed.organisation,
                user,
                cycle,
                errors=[wording.refusal(exc)],
                status=status,
            )
        return RedirectResponse(
            f"/orgs/{parsed.organisation}/assurance?cycle={cycle}#evidence", status_code=303
        )
    return assurance_page(
        render, framework, parsed.organisation, user, cycle, errors=[problem], status=FORM_ERRORS
    )


@router.post("/instances/{key:path}/sign-off")
def sign_off(
    key: str, user: FormMember, parsed: ReturnKey, framework: FrameworkDep, render: Render
) -> Response:
    """Sign off the service's return as it was submitted."""
    try:
        framework.sign_offs.sign_off(key, by=user)
    except PmfError as exc:
        status, _ = status_of(exc)
        return assurance_page(
            render,
            framework,
            parsed.organisation,
            user,
            parsed.cycle,
            errors=[wording.refusal(exc)],
            status=status,
        )
    return RedirectResponse(
        f"/orgs/{parsed.organisation}/assurance?cycle={parsed.cycle}#returns", status_code=303
    )
