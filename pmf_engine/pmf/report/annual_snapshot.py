"""Freezing the annual report at its year's Q4 sign-off, serving the frozen report, and
checking it.

The quarterly report's ``freeze_report`` effect, for a Q4 cycle, also stores the year's annual
report (``annual_in``) and its public version as canonical JSON, each with its SHA-256, and
puts both hashes in the audit chain (``annual_report.frozen``). The public version is frozen as
it will be published: the Q4 quarter counted as approved, since it is the report Cabinet is to
approve (the open-data page shows it only once Cabinet has); the other quarters as approved
then. A figure changed afterwards changes neither. Before the freeze the report is a draft,
gathered live.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.errors import AuditError, NotNow
from pmf_engine.core.period import Period
from pmf_engine.core.provenance import stamp
from pmf_engine.core.registry import EffectContext
from pmf_engine.core.store import AuditEntry, Instance, find_organisation
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import AnnualReportSnapshot
from pmf_engine.pmf.policy import OpenDataPolicy
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.report.annual import AnnualReport, annual_in
from pmf_engine.pmf.report.content import Frozen
from pmf_engine.pmf.reporting import frozen_entries
from pmf_engine.pmf.target_setting import parse_year
from pmf_engine.pmf.targets import financial_year

FROZEN_EVENT = "annual_report.frozen"
"""The audit event that records an annual report's freeze, with both hashes."""

_ANNUAL = TypeAdapter(AnnualReport)


def canonical_annual(found: AnnualReport) -> str:
    """The report as canonical JSON (without its ``frozen`` stamp): the text stored and hashed."""
    plain = _ANNUAL.dump_python(dataclasses.replace(found, frozen=None), mode="json")
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def freeze_annual(ctx: EffectContext, inst: Instance, rag: RagPolicy, open_data: OpenDataPolicy) -> None:
    """Store the annual report of Q4 cycle ``inst``'s year and its public version, and chain
    their hashes into the audit log (once: a year is frozen by its first Q4 sign-off)."""
    quarter = Period.parse(inst.period)
    s = ctx.session
    year = financial_year(quarter)
    if s.scalar(select(AnnualReportSnapshot.id).where(AnnualReportSnapshot.instance_id == inst.id)):
        return
    code = inst.key.split("/", 1)[0]
    full = canonical_annual(annual_in(s, code, year, rag, open_data, ctx.now))
    public = canonical_annual(
        annual_in(s, code, year, rag, open_data, ctx.now, public=True, approved_too=[inst.period])
    )
    digests = (hashlib.sha256(full.encode()).hexdigest(), hashlib.sha256(public.encode()).hexdigest())
    s.add(
        AnnualReportSnapshot(
            organisation_id=inst.organisation_id,
            year=year,
            instance_id=inst.id,
            content=full,
            sha256=digests[0],
            public_content=public,
            public_sha256=digests[1],
            frozen_at=ctx.now,
            frozen_by=ctx.actor,
        )
    )
    audit.record(
        s,
        audit.AuditRecord(
            event=FROZEN_EVENT,
            organisation=ctx.instance.organisation,
            instance=ctx.instance.key,
            actor=ctx.actor,
            data=stamp(
                {"year": year, "sha256": digests[0], "public_sha256": digests[1], "trigger": ctx.trigger}
            ),
        ),
        ctx.now,
    )


def genuine_annual(s: Session, organisation: str, year: str) -> AnnualReportSnapshot | None:
    """The year's frozen annual report, if the engine froze it: its hashes are in an
    ``annual_report.frozen`` entry of its Q4 cycle that follows the sign-off it names (a row
    written around the engine is not the year's report)."""
    org = find_organisation(s, organisation)
    snap = s.scalar(
        select(AnnualReportSnapshot).where(
            AnnualReportSnapshot.organisation_id == org.id, AnnualReportSnapshot.year == year
        )
    )
    if snap is None:
        return None
    entries = frozen_entries(s, snap.instance_id, FROZEN_EVENT)
    if not entries or (entries[0].get("sha256"), entries[0].get("public_sha256")) != (
        snap.sha256,
        snap.public_sha256,
    ):
        return None
    return snap


def frozen_annual(snap: AnnualReportSnapshot, *, public: bool) -> AnnualReport:
    """The report (or its public version) as frozen in ``snap``."""
    text, digest = (snap.public_content, snap.public_sha256) if public else (snap.content, snap.sha256)
    found = _ANNUAL.validate_json(text)
    return dataclasses.replace(found, frozen=Frozen(snap.frozen_at, snap.frozen_by, digest))


def annual_report(
    framework: Framework, organisation: str, year: str, *, public: bool = False
) -> AnnualReport:
    """The annual report of ``organisation``'s financial ``year`` (``2024-25``): as frozen at
    its Q4 sign-off, or a live draft before; ``public``: figures approved for publication only,
    and no restricted narrative."""
    year = parse_year(year)
    with framework.engine.store.read() as s:
        snap = genuine_annual(s, organisation, year)
        if snap is not None:
            return frozen_annual(snap, public=public)
        return annual_in(
            s,
            organisation,
            year,
            framework.rag,
            framework.policies.framework.open_data,
            framework.engine.clock.now(),
            public=public,
        )


def q4_cycle(s: Session, snap: AnnualReportSnapshot) -> str:
    """The key of the Q4 cycle whose sign-off froze ``snap``."""
    return str(s.scalar(select(Instance.key).where(Instance.id == snap.instance_id)))


def verify_annual(framework: Framework, organisation: str, year: str) -> tuple[str, str]:
    """Check a frozen annual report (and its public version) against their hashes and the
    audit entry; return both hashes."""
    year = parse_year(year)
    with framework.engine.store.read() as s:
        org = find_organisation(s, organisation)
        snap = s.scalar(
            select(AnnualReportSnapshot).where(
                AnnualReportSnapshot.organisation_id == org.id, AnnualReportSnapshot.year == year
            )
        )
        if snap is None:
            raise NotNow(
                f"the {organisation} {year} annual report has not been frozen (it is frozen at the "
                "sign-off of the year's Q4 cycle)"
            )
        key = q4_cycle(s, snap)
        logged = [
            (d.get("sha256"), d.get("public_sha256"))
            for d in map(
                json.loads,
                s.scalars(
                    select(AuditEntry.data).where(
                        AuditEntry.chain == organisation,
                        AuditEntry.instance == key,
                        AuditEntry.event == FROZEN_EVENT,
                    )
                ),
            )
        ]
    actual = (
        hashlib.sha256(snap.content.encode()).hexdigest(),
        hashlib.sha256(snap.public_content.encode()).hexdigest(),
    )
    if actual != (snap.sha256, snap.public_sha256) or logged != [actual]:
        raise AuditError(
            f"the frozen {organisation} {year} annual report does not match its hashes: content "
            f"{actual}, stored {(snap.sha256, snap.public_sha256)}, audit log {logged or 'none'}"
        )
    return actual
