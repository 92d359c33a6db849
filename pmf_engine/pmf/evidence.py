"""Evidence files that support a reported figure: checked, stored safely, served back.

A file is taken only if it is no larger than ``quality.evidence.max_bytes`` and its *content*
is one of ``quality.evidence.kinds`` (``sniff`` reads the bytes: a PDF starts ``%PDF-``, an
.xlsx is a zip holding ``xl/workbook.xml``, ...); a name's extension that says otherwise (a
PNG called ``.pdf``, a script called ``.csv``) refuses it. The bytes are stored in the database
once per organisation under their SHA-256; the name a person gave is kept only as a label,
stripped of folders and control characters, and never used as a path. Who may attach evidence
is who may report the figure, while its return is open; every attachment is audited.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.store import find_organisation
from pmf_engine.pmf.actuals import latest_values
from pmf_engine.pmf.assurance_models import Evidence, EvidenceFile
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.policy import EvidenceKind, EvidencePolicy
from pmf_engine.pmf.reporting import (
    StoreService,
    audit_cycle,
    by_code,
    closed_return,
    cycle_of,
    frozen_at,
    may_report,
)

CONTENT_TYPES: dict[EvidenceKind, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "text/csv; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}
EXTENSIONS: dict[str, EvidenceKind] = {
    "pdf": "pdf", "png": "png", "jpg": "jpeg", "jpeg": "jpeg", "xlsx": "xlsx", "docx": "docx",
    "csv": "csv", "txt": "txt",
}  # fmt: skip
MAX_LABEL = 120


def sniff(content: bytes, extension: str = "") -> EvidenceKind | None:
    """What ``content`` is, from its bytes alone (``extension`` only tells CSV from plain text,
    which no bytes can); ``None`` when it is none of the kinds known."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if content.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())  # the directory only
        except (zipfile.BadZipFile, ValueError):
            return None
        if "[Content_Types].xml" in names:
            if "xl/workbook.xml" in names:
                return "xlsx"
            if "word/document.xml" in names:
                return "docx"
        return None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if values.text_problem(text) is not None:
        return None  # NUL and other control characters: not a text a person wrote
    return "csv" if extension == "csv" else "txt"


def safe_label(filename: str) -> str:
    """``filename`` as a label: its last part (no folders, ``..`` or drive), without control
    characters, leading dots or runs of spaces, at most ``MAX_LABEL`` characters; ``evidence``
    if nothing is left."""
    last = re.split(r"[\\/]", filename)[-1]
    cleaned = "".join(ch for ch in last if ch.isprintable())
    cleaned = re.sub(r"\s+", " ", cleaned).strip().lstrip(".").strip()
    if len(cleaned) > MAX_LABEL:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (
            (stem[: MAX_LABEL - len(ext) - 1] + dot + ext) if dot and len(ext) <= 5 else cleaned[:MAX_LABEL]
        )
    return cleaned or "evidence"


def check_file(filename: str, content: bytes, policy: EvidencePolicy) -> EvidenceKind:
    """The kind of an evidence file ``policy`` accepts; ``InvalidInput`` saying why not."""
    if len(content) > policy.max_bytes:
        raise InvalidInput(
            "evidence",
            None,
            f"the file is {len(content):,} bytes: evidence may be at most {policy.max_bytes:,}",
        )
    if not content:
        raise InvalidInput("evidence", None, "the file is empty")
    label = safe_label(filename)
    extension = label.rpartition(".")[2].lower() if "." in label else ""
    kind = sniff(content, extension)
    named = EXTENSIONS.get(extension)
    accepted = ", ".join(policy.kinds)
    if kind is None or kind not in policy.kinds:
        what = "a kind pmf-engine cannot recognise" if kind is None else kind.upper()
        raise InvalidInput("evidence", None, f"the file's content is {what}: evidence may be {accepted}")
    if extension and named != kind:
        raise InvalidInput(
            "evidence",
            None,
            f"the file is named .{extension} but its content is {kind.upper()}: rename or re-save it",
        )
    if kind == "csv" and _holds_formulas(content.decode("utf-8-sig")):
        raise InvalidInput("evidence", None, "the CSV file holds formulas (cells starting = + - or @)")
    return kind


@dataclass(frozen=True)
class EvidenceView:
    """An evidence file attached to a figure, as listed."""

    id: int
    code: str
    period: str
    label: str
    kind: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class EvidenceDownload:
    """An evidence file's bytes, its content type (as sniffed when stored) and a file name."""

    filename: str
    content_type: str
    content: bytes


Then = Callable[[Session, EvidenceView], None]
"""Something more to do in an attachment's transaction, with what was attached (the API stores
its answer to an ``Idempotency-Key`` there): it commits with it, or neither does."""


class EvidenceFiles(StoreService):
    """Attaching evidence to figures, listing it and reading it back."""

    @property
    def policy(self) -> EvidencePolicy:
        """Size and kinds (``quality.evidence``)."""
        return self.policies.framework.quality.evidence

    def attach(
        self, cycle: str, code: str, filename: str, content: bytes, *, by: str, then: Then | None = None
    ) -> EvidenceView:
        """Attach ``content`` (named ``filename`` by whoever gave it) to the cycle's figure of
        measure ``code``, as someone who may report it, while its return is open; audited.
        ``then`` runs in its transaction."""
        kind = check_file(filename, content, self.policy)
        label = safe_label(filename)
        digest = hashlib.sha256(content).hexdigest()
        now = self.clock.now()
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            measure = by_code(s, Measure, inst.organisation_id, code)
            if measure is None:
                raise NotFound("measure", code)
            if not may_report(s, self.reporting, by, inst.organisation_id, measure.service_id):
                raise PermissionDenied(cycle, "attach_evidence", "-", by, f"{by!r} may not report {code}")
            closed = closed_return(s, self.reporting, inst, measure.service_id)
            if closed or frozen_at(s, inst.id) is not None:
                raise NotNow(
                    f"{closed or 'the report is frozen'}: evidence is attached while figures may change"
                )
            figure = latest_values(s, [measure.id], [inst.period]).get((measure.id, inst.period))
            if figure is None or figure.value is None:
                raise NotNow(
                    f"{code} has no figure for {inst.period} yet: record it, then attach its evidence"
                )
            stored = s.scalar(
                select(EvidenceFile).where(
                    EvidenceFile.organisation_id == inst.organisation_id, EvidenceFile.sha256 == digest
                )
            )
            if stored is None:
                stored = EvidenceFile(
                    organisation_id=inst.organisation_id,
                    sha256=digest,
                    kind=kind,
                    content_type=CONTENT_TYPES[kind],
                    size=len(content),
                    content=content,
                )
                s.add(stored)
                s.flush()
            row = Evidence(
                measure_id=measure.id,
                period=inst.period,
                file_id=stored.id,
                label=label,
                uploaded_by=by,
                uploaded_at=now,
            )
            s.add(row)
            s.flush()
            data = {
                "measure": code,
                "period": inst.period,
                "label": label,
                "kind": kind,
                "size": len(content),
                "sha256": digest,
            }
            audit_cycle(s, inst, "evidence.attached", by, data, now)
            view = EvidenceView(row.id, code, inst.period, label, kind, len(content), digest, by, now)
            if then is not None:
                then(s, view)
            return view

    def listed(self, cycle: str) -> list[EvidenceView]:
        """The evidence attached to the cycle's figures, by measure then upload."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            rows = s.execute(
                select(Evidence, Measure.code, EvidenceFile.kind, EvidenceFile.size, EvidenceFile.sha256)
                .join(Measure, Measure.id == Evidence.measure_id)
                .join(EvidenceFile, EvidenceFile.id == Evidence.file_id)
                .where(Measure.organisation_id == inst.organisation_id, Evidence.period == inst.period)
                .order_by(Measure.code, Evidence.id)
            ).all()
        return [
            EvidenceView(e.id, code, e.period, e.label, kind, size, sha, e.uploaded_by, e.uploaded_at)
            for e, code, kind, size, sha in rows
        ]

    def download(self, organisation: str, evidence_id: int, period: str | None = None) -> EvidenceDownload:
        """Evidence ``evidence_id`` of ``organisation`` (``NotFound`` for another's, or for one
        of a quarter other than ``period`` if given)."""
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            query = (
                select(Evidence.label, EvidenceFile.kind, EvidenceFile.content_type, EvidenceFile.content)
                .join(EvidenceFile, EvidenceFile.id == Evidence.file_id)
                .join(Measure, Measure.id == Evidence.measure_id)
                .where(Evidence.id == evidence_id, Measure.organisation_id == org.id)
            )
            if period is not None:
                query = query.where(Evidence.period == period)
            found = s.execute(query).one_or_none()
        if found is None:
            raise NotFound("evidence", evidence_id)
        label, kind, content_type, content = found
        stem = label.rpartition(".")[0] if "." in label else label
        ext = next(e for e, k in EXTENSIONS.items() if k == kind)
        return EvidenceDownload(f"{stem or 'evidence'}.{ext}", content_type, bytes(content))


_FIELD = re.compile(r"[,;\t]")
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,]*%?")
_FULL_WIDTH = ("\uff1d", "\uff0b", "\uff0d", "\uff20")  # = + - @ as a spreadsheet may also read them


def _holds_formulas(text: str) -> bool:
    """Whether any cell of a CSV, split at whichever separator a spreadsheet's locale uses
    (comma, semicolon or tab), would be read as a formula: after spaces and quotes, it starts
    = + - @ (or their full-width forms) and is not a plain number."""
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            for part in _FIELD.split(cell) if _FIELD.search(cell) else (cell,):
                shown = part.lstrip(" \"'")
                if _NUMBER.fullmatch(shown):
                    continue
                if values.formula_like(shown) or shown.startswith(_FULL_WIDTH):
                    return True
    return False
