"""The annual report, sign-off and evidence routes of the JSON API under ``/api/v1``: an
organisation's annual report of a financial year (``pmf.report.annual``: a live draft before
the year's Q4 sign-off, the frozen content and its hash after; ``public=true`` its public
version); a head of service's sign-off of a return (``pmf.signoff``, as the assurance page's
button and ``pmf quality sign-off``); and the evidence files of a quarter's figures
(``pmf.evidence``): uploaded with the page's limits, listed, and downloaded as the page serves
them.

Writes take ``Idempotency-Key`` as ``api.py``'s transitions do: the answer is stored in the
transaction of the change it reports, so a retry changes nothing and gets the same answer. The
upload's path ends ``/upload``, so the gate gives it the upload limit (the evidence policy's own,
smaller, limit is then checked on the bytes, as on the page)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import Response

from pmf_engine.core.errors import InvalidInput
from pmf_engine.interfaces.web import idempotency
from pmf_engine.interfaces.web.api import ERRORS, Key, Org
from pmf_engine.interfaces.web.deps import ApiMember, FrameworkDep, PathId, ReturnKey, quarter_cycle
from pmf_engine.interfaces.web.rendering import evidence_download
from pmf_engine.pmf import report
from pmf_engine.pmf.evidence import EvidenceView, Then
from pmf_engine.pmf.signoff import SignedOff

router = APIRouter(prefix="/api/v1", tags=["annual report, sign-off and evidence"], responses=ERRORS)
Year = Annotated[
    str, Path(max_length=16, description="A financial year", examples=["2024-25"], pattern=r"^\d{4}-\d{2}$")
]
Quarter = Annotated[
    str, Path(max_length=16, description="A quarter of a financial year", examples=["2024-25-Q1"])
]
IdempotencyKey = Annotated[
    str | None,
    Header(max_length=200, description="Send the same key again to retry: the first answer, nothing changed"),
]
FILE = {"description": "The evidence file, as stored", "content": {"application/octet-stream": {}}}


# -- the annual report --------------------------------------------------------------------------


@router.get("/organisations/{org}/annual-report/{year}")
def annual_report(
    org: Org,
    year: Year,
    _user: ApiMember,
    framework: FrameworkDep,
    public: Annotated[
        bool, Query(description="The public version: approved figures only, no restricted narrative")
    ] = False,
) -> dict[str, Any]:
    """The annual report of financial ``year``, as its page shows it: each measure's four
    quarters, its outturn against the original and revised annual targets, direction of travel
    over the years, and the reds with the director's comments (restricted narrative: members of
    the organisation only, never in ``public=true``). ``status`` is ``draft`` (gathered live)
    until the year's Q4 cycle is signed off, then ``frozen``: the content as frozen, and
    ``frozen.sha256`` the SHA-256 of ``content`` written as canonical JSON (keys sorted, no
    spaces, UTF-8), the hash the audit entry ``annual_report.frozen`` holds."""
    found = report.annual_report(framework, org, year, public=public)
    frozen = found.frozen
    return {
        "status": "draft" if frozen is None else "frozen",
        "public": found.public,
        "content": json.loads(report.canonical_annual(found)),
        "went_well": [m.code for m in found.went_well],
        "reds": [m.code for m in found.reds],
        "frozen": None
        if frozen is None
        else {"at": frozen.at.isoformat(), "by": frozen.by, "sha256": frozen.sha256},
    }


# -- sign-off -----------------------------------------------------------------------------------


@router.post("/instances/{key:path}/sign-off", status_code=201)
def sign_off(
    key: Key,
    request: Request,
    user: ApiMember,
    _return: ReturnKey,
    framework: FrameworkDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Sign off the return ``key`` (``ORG/PERIOD/SERVICE``) as submitted, as the assurance
    page's button does: 201 with the sign-off (``late`` past ``quality.signing.within``
    working days). 403 (audited) without the sign-off role for the return's service, or for
    whoever submitted it; 409 unless the return awaits sign-off, or once it has one."""
    return idempotency.once(
        request.url.path,
        {},
        user,
        idempotency_key,
        framework.engine.store,
        framework.engine.clock,
        lambda then: framework.sign_offs.give(key, by=user, then=then),
        _signed,
    )


def _signed(s: SignedOff) -> dict[str, Any]:
    return {
        "return": s.key,
        "signed_by": s.signed_by,
        "signed_at": s.signed_at.isoformat(),
        "role": s.role,
        "submitted_at": s.submitted_at.isoformat(),
        "late": s.late,
    }


# -- evidence -----------------------------------------------------------------------------------


@router.get("/organisations/{org}/evidence/{period}")
def evidence(org: Org, period: Quarter, _user: ApiMember, framework: FrameworkDep) -> list[dict[str, Any]]:
    """The evidence files attached to the quarter's figures, by measure then upload: each
    one's label, kind (sniffed from its bytes), size, SHA-256, who attached it and when, and
    where to download it."""
    return [_evidence(org, e) for e in framework.evidence.listed(quarter_cycle(org, period))]


@router.post("/organisations/{org}/evidence/{period}/upload", status_code=201)
def upload_evidence(
    org: Org,
    period: Quarter,
    request: Request,
    user: ApiMember,
    framework: FrameworkDep,
    measure: Annotated[str, Form(min_length=1, max_length=32, description="The measure's code")],
    file: Annotated[UploadFile, File(description="The evidence file")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Attach an evidence file (``multipart/form-data``: ``measure`` and ``file``) to the
    quarter's figure of ``measure``, with the page's checks: at most
    ``quality.evidence.max_bytes``, its content one of ``quality.evidence.kinds`` and its name's
    extension agreeing (else a 422 naming ``file``); stored under its SHA-256, the name kept
    only as a label. 403 unless the token's actor may report the measure; 409 once its return
    is closed or the report frozen, or while the figure is not recorded."""
    cycle = quarter_cycle(org, period)
    content = file.file.read()  # bounded at the gate first
    filename = file.filename or ""
    body = {"measure": measure, "filename": filename, "sha256": hashlib.sha256(content).hexdigest()}

    def act(then: Then | None) -> EvidenceView:
        try:
            return framework.evidence.attach(cycle, measure.strip(), filename, content, by=user, then=then)
        except InvalidInput as invalid:  # the file itself: named as this form names it
            if invalid.field != "evidence":
                raise
            raise InvalidInput("file", filename[:120], invalid.why) from None

    return idempotency.once(
        request.url.path,
        body,
        user,
        idempotency_key,
        framework.engine.store,
        framework.engine.clock,
        act,
        lambda e: _evidence(org, e),
    )


@router.get("/organisations/{org}/evidence/{period}/{evidence}", responses={200: FILE})
def evidence_file(
    org: Org,
    period: Quarter,
    evidence: Annotated[PathId, Path(description="The evidence's id (`id` of the list)")],
    _user: ApiMember,
    framework: FrameworkDep,
) -> Response:
    """An evidence file of the quarter, as the page serves it: always an attachment, of the
    type it was sniffed to be when stored, ``nosniff``, its stored label as the file name
    (never a path). 404 for another organisation's or another quarter's."""
    quarter = quarter_cycle(org, period).split("/", 1)[1]
    return evidence_download(framework.evidence.download(org, evidence, period=quarter))


def _evidence(org: str, e: EvidenceView) -> dict[str, Any]:
    return {
        "id": e.id,
        "measure": e.code,
        "period": e.period,
        "label": e.label,
        "kind": e.kind,
        "size": e.size,
        "sha256": e.sha256,
        "uploaded_by": e.uploaded_by,
        "uploaded_at": e.uploaded_at.isoformat(),
        "download": f"/api/v1/organisations/{org}/evidence/{e.period}/{e.id}",
    }
