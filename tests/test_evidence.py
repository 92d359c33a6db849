"""Evidence files beside figures: sniffed by content, bounded by the policy's size, stored in
the database under their SHA-256 (never under the name given), and served back only to members
of the organisation as an attachment with ``nosniff``. Refused: an oversized file, a type
disguised by its extension, an unknown kind; a path-traversal name is only a label."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.assurance_models import Evidence, EvidenceFile
from pmf_engine.pmf.evidence import check_file, safe_label, sniff
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.policy import EvidencePolicy
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services
from tests.test_web import PASSWORD, csrf, sign_in
from tests.test_web_forms import text_of

FIXTURES = Path(__file__).parent / "fixtures" / "measures"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active["A1"] = "figures"  # type: ignore[index]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def framework(engine: Engine) -> Framework:
    """The test council with its measures, Q1 started and HOU-01 reported."""
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    framework.performance.record_actual(CYCLE, "HOU-01", 29, quality="validated", by="sm_housing")
    return framework


def test_content_is_sniffed_not_taken_from_the_name() -> None:
    assert sniff(PDF) == "pdf" and sniff(PNG) == "png" and sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff(_xlsx()) == "xlsx"
    assert sniff(b"code,value\nHOU-01,29\n", "csv") == "csv"
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00") is None, "a Windows program is none of the kinds"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("payload.exe", b"MZ")
    assert sniff(plain_zip.getvalue()) is None, "a zip is not a workbook for being a zip"


def test_an_evidence_file_is_stored_once_by_its_hash_and_audited(
    framework: Framework, engine: Engine
) -> None:
    first = framework.evidence.attach(CYCLE, "HOU-01", "voids Q1.pdf", PDF, by="sm_housing")
    again = framework.evidence.attach(CYCLE, "HOU-01", "copy.pdf", PDF, by="perf")
    assert first.sha256 == again.sha256 and first.kind == "pdf" and first.size == len(PDF)
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(EvidenceFile)) == 1, "the same bytes stored once"
        assert s.scalar(select(func.count()).select_from(Evidence)) == 2
        attached = [json.loads(e.data) for e in audit.trail(s, CYCLE) if e.event == "evidence.attached"]
    assert [a["label"] for a in attached] == ["voids Q1.pdf", "copy.pdf"]
    assert attached[0]["sha256"] == first.sha256
    listed = framework.evidence.listed(CYCLE)
    assert [(e.code, e.label, e.uploaded_by) for e in listed] == [
        ("HOU-01", "voids Q1.pdf", "sm_housing"),
        ("HOU-01", "copy.pdf", "perf"),
    ]
    download = framework.evidence.download(ORG, first.id)
    assert (download.content, download.content_type, download.filename) == (
        PDF,
        "application/pdf",
        "voids Q1.pdf",
    )


def test_an_oversized_file_is_refused_and_nothing_stored(framework: Framework, engine: Engine) -> None:
    limit = SHIPPED_POLICIES.framework.quality.evidence.max_bytes
    big = PDF + b"0" * (limit - len(PDF) + 1)
    with pytest.raises(InvalidInput, match=f"at most {limit:,}"):
        framework.evidence.attach(CYCLE, "HOU-01", "big.pdf", big, by="sm_housing")
    exactly = PDF + b"0" * (limit - len(PDF))
    assert framework.evidence.attach(CYCLE, "HOU-01", "fits.pdf", exactly, by="sm_housing").size == limit
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 1


def test_a_type_disguised_by_its_extension_is_refused(framework: Framework) -> None:
    with pytest.raises(InvalidInput, match=r"named \.pdf but its content is PNG"):
        framework.evidence.attach(CYCLE, "HOU-01", "scan.pdf", PNG, by="sm_housing")
    with pytest.raises(InvalidInput, match="cannot recognise"):
        framework.evidence.attach(CYCLE, "HOU-01", "report.pdf", b"MZ\x90\x00 a program", by="sm_housing")
    with pytest.raises(InvalidInput, match="cannot recognise"):
        framework.evidence.attach(CYCLE, "HOU-01", "page.csv", b"<html>\x00<script>", by="sm_housing")
    with pytest.raises(InvalidInput, match="content is TXT"):  # text, but not a kind the policy takes
        framework.evidence.attach(CYCLE, "HOU-01", "notes.txt", b"just words", by="sm_housing")
    with pytest.raises(InvalidInput, match="formulas"):
        framework.evidence.attach(CYCLE, "HOU-01", "sheet.csv", b'a,b\n=HYPERLINK("x"),1\n', by="sm_housing")
    for disguised in (  # found by a security review: other separators, a space, a full-width sign
        b'x;=HYPERLINK("http://evil","click")\n',
        b"x\t=1+1\n",
        b'a, =HYPERLINK("x")\n',
        '\uff1dHYPERLINK("x")\n'.encode(),
    ):
        with pytest.raises(InvalidInput, match="formulas"):
            framework.evidence.attach(CYCLE, "HOU-01", "sheet.csv", disguised, by="sm_housing")
    assert framework.evidence.listed(CYCLE) == []


def test_a_path_traversal_name_is_only_a_label(framework: Framework, tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path.parent))
    found = framework.evidence.attach(CYCLE, "HOU-01", "../../../etc/passwd.pdf", PDF, by="sm_housing")
    assert found.label == "passwd.pdf"
    assert safe_label("..\\..\\windows\\system32\\x.pdf") == "x.pdf"
    assert safe_label("....pdf") == "pdf" and safe_label("/") == "evidence"
    assert safe_label("bad\x00name\r\n.pdf") == "badname.pdf"
    assert set(os.listdir(tmp_path.parent)) == before, "nothing written to disk under any name"
    assert framework.evidence.download(ORG, found.id).filename == "passwd.pdf"


def test_who_may_attach_and_when(framework: Framework, engine: Engine) -> None:
    with pytest.raises(PermissionDenied):
        framework.evidence.attach(CYCLE, "HOU-01", "a.pdf", PDF, by="sm_waste")  # not their service
    with pytest.raises(NotNow, match="no figure"):
        framework.evidence.attach(CYCLE, "WAS-01", "a.pdf", PDF, by="sm_waste")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    with pytest.raises(NotNow, match="HOUSING return is Submitted"):
        framework.evidence.attach(CYCLE, "HOU-01", "late.pdf", PDF, by="sm_housing")


def test_policy_limits_come_from_the_policy() -> None:
    small = EvidencePolicy(max_bytes=10, kinds=("png",))
    with pytest.raises(InvalidInput, match="at most 10"):
        check_file("a.pdf", PDF, small)
    with pytest.raises(InvalidInput, match="evidence may be png"):
        check_file("a.pdf", PDF[:10], small)
    assert check_file("a.png", PNG[:10], small) == "png"


@pytest.fixture
def browser(framework: Framework, engine: Engine) -> TestClient:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing", "auditor"):
        accounts.set_password(user, PASSWORD, by="test")
    engine.directory.add_organisation("OTH", "Other Council")
    engine.directory.add_actor("other", "Other")
    engine.directory.grant("other", "performance_officer", "OTH")
    accounts.set_password("other", PASSWORD, by="test")
    app = create_app(Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="s", secure_cookies=False))
    return TestClient(app, follow_redirects=False)


def _upload(client: TestClient, name: str, content: bytes, kind: str = "application/pdf") -> object:
    token = csrf(client, f"/orgs/{ORG}/assurance")
    return client.post(
        f"/instances/{CYCLE}/evidence/upload",
        data={"csrf_token": token, "code": "HOU-01"},
        files={"file": (name, content, kind)},
    )


def test_web_upload_then_download_as_an_attachment_that_is_not_sniffed(browser: TestClient) -> None:
    sign_in(browser, "sm_housing")
    answer = _upload(browser, "../voids.pdf", PDF, "text/html")  # the browser's type is not trusted
    assert answer.status_code == 303  # type: ignore[attr-defined]
    page = browser.get(f"/orgs/{ORG}/assurance").text
    link = re.search(rf'href="(/orgs/{ORG}/evidence/\d+)">voids.pdf<', page)
    assert link, "the page links the evidence by its label"
    sign_in(browser, "auditor")  # any member reads it: the auditor too
    got = browser.get(link.group(1))
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith('attachment; filename="voids.pdf"')
    assert "sandbox" in got.headers["content-security-policy"]
    sign_in(browser, "other")  # a member of another council only
    assert browser.get(link.group(1)).status_code == 403
    assert browser.get(link.group(1).replace(f"/orgs/{ORG}/", "/orgs/OTH/")).status_code == 404


def test_web_refuses_a_disguised_file_with_the_reason_on_the_page(browser: TestClient) -> None:
    sign_in(browser, "sm_housing")
    limit = SHIPPED_POLICIES.framework.quality.evidence.max_bytes
    oversized = _upload(browser, "big.pdf", PDF + b"0" * limit)  # past the policy, within the gate
    assert oversized.status_code == 400 and f"at most {limit:,}" in oversized.text  # type: ignore[attr-defined]
    answer = _upload(browser, "scan.pdf", PNG)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert "its content is PNG" in answer.text  # type: ignore[attr-defined]
    assert "Error: " in answer.text  # type: ignore[attr-defined]


def test_web_sign_off_button_signs_the_return(browser: TestClient, engine: Engine) -> None:
    engine.directory.add_actor("hos_housing", "Head of Housing")
    engine.directory.grant("hos_housing", "head_of_service", ORG, service="HOUSING")
    Accounts(engine.store, engine.clock).set_password("hos_housing", PASSWORD, by="test")
    engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    sign_in(browser, "hos_housing")
    page = browser.get(f"/orgs/{ORG}/assurance").text
    assert "Sign off the HOUSING return" in page
    assert "0 late sign-offs; 0 returns accepted without a sign-off." in page, "counted in words, no (s)"
    token = csrf(browser, f"/orgs/{ORG}/assurance")
    assert browser.post(f"/instances/{CYCLE}/HOUSING/sign-off", data={"csrf_token": token}).status_code == 303
    page = browser.get(f"/orgs/{ORG}/assurance").text
    assert "Sign off the HOUSING return" not in page and "hos_housing" in page
    timeline = text_of(browser.get(f"/instances/{CYCLE}/HOUSING").text).split("Timeline", 1)[1]
    signed = timeline.split("Requested to Submitted", 1)[1]  # after the submission, in its place
    assert "Head of Housing (hos_housing) Return signed off Late: no Role: Head of service" in signed, (
        "found by a new user: a signed-off return's timeline looked accepted without a sign-off"
    )
    assert engine.fire(f"{CYCLE}/HOUSING", "accept", "perf").to_state == "accepted"
    csv_text = browser.get(f"/orgs/{ORG}/assurance.csv").text
    assert csv_text.splitlines()[0].startswith("period,service,measure") and "hos_housing" in csv_text


def test_an_unknown_evidence_id_is_not_found(framework: Framework) -> None:
    with pytest.raises(NotFound):
        framework.evidence.download(ORG, 999)


def test_the_assurance_page_opens_on_the_latest_quarter_not_a_planning_year(
    browser: TestClient, framework: Framework
) -> None:
    """Found by a new user: with the year's service-planning round started after the quarter,
    the page opened on "2026-27" (the round), showing no figures and every return as "Plan agreed"."""
    framework.plans.start(ORG, "2024-25", by="perf")
    sign_in(browser, "auditor")
    page = browser.get(f"/orgs/{ORG}/assurance").text
    assert f'<option value="{CYCLE}" selected' in page, "the quarter, the only reporting period"
    assert "plans-2024-25" not in page and "Quarter 1 2024-25" in page
