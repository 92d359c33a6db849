"""Freezing the report at sign-off (``freeze_report``), and checking a frozen report.

The ``freeze_report`` effect stores the content as canonical JSON with its SHA-256 and puts the
hash in the audit chain (a Q4 cycle's, the year's annual report too: ``annual_snapshot``);
``verify_frozen`` checks the stored text against both.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from pmf_engine.core import audit
from pmf_engine.core.errors import AuditError, NotNow
from pmf_engine.core.provenance import stamp
from pmf_engine.core.registry import EffectContext
from pmf_engine.core.store import AuditEntry, Instance
from pmf_engine.pmf.models import ReportSnapshot
from pmf_engine.pmf.performance import Performance
from pmf_engine.pmf.policy import OpenDataPolicy, PlansPolicy
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.report.annual_snapshot import freeze_annual
from pmf_engine.pmf.report.content import canonical, content_in
from pmf_engine.pmf.reporting import cycle_of, frozen_stage_of, genuine_snapshot
from pmf_engine.pmf.riskpolicy import RiskPolicy


def freeze(
    ctx: EffectContext,
    rag: RagPolicy,
    risk: RiskPolicy | None = None,
    open_data: OpenDataPolicy | None = None,
    plans: PlansPolicy | None = None,
) -> None:
    """The ``freeze_report`` effect: store the content (its risk register on ``risk``'s ladder,
    the service plans' actions of ``plans``) and chain its hash into the audit log; for a Q4
    cycle, the year's annual report too (its public version following ``open_data``)."""
    s = ctx.session
    inst = s.get(Instance, ctx.instance.id)
    assert inst is not None
    if genuine_snapshot(s, inst.id) is not None:
        return  # frozen once; a cycle sent back and signed off again keeps its first report
    if s.scalar(select(ReportSnapshot.id).where(ReportSnapshot.instance_id == inst.id)) is not None:
        raise AuditError(
            f"a report snapshot of {inst.key} exists that no sign-off froze: it was written around "
            "the engine; the database owner must examine and remove it before sign-off"
        )
    text = canonical(content_in(s, inst, rag, ctx.now, risk, plans))
    digest = hashlib.sha256(text.encode()).hexdigest()
    s.add(
        ReportSnapshot(
            instance_id=inst.id, content=text, sha256=digest, frozen_at=ctx.now, frozen_by=ctx.actor
        )
    )
    audit.record(
        s,
        audit.AuditRecord(
            event="report.frozen",
            organisation=ctx.instance.organisation,
            instance=ctx.instance.key,
            actor=ctx.actor,
            data=stamp({"sha256": digest, "trigger": ctx.trigger}),
        ),
        ctx.now,
    )
    if quarter_of(inst).quarter == 4:
        freeze_annual(ctx, inst, rag, open_data or OpenDataPolicy())


def verify_frozen(performance: Performance, cycle: str) -> str:
    """Check a frozen report against its hash and the audit entry; return the hash."""
    with performance.store.read() as s:
        inst = cycle_of(s, cycle, joinedload(Instance.organisation))
        snap = genuine_snapshot(s, inst.id)
        if snap is None:
            stage = frozen_stage_of(s, inst, performance.versions)
            raise NotNow(f"the {cycle} report has not been frozen (it is frozen at {stage})")
        logged = [
            json.loads(d).get("sha256")
            for d in s.scalars(
                select(AuditEntry.data).where(
                    AuditEntry.chain == inst.organisation.code,
                    AuditEntry.instance == cycle,
                    AuditEntry.event == "report.frozen",
                )
            )
        ]
    actual = hashlib.sha256(snap.content.encode()).hexdigest()
    if actual != snap.sha256 or logged != [snap.sha256]:
        raise AuditError(
            f"the frozen {cycle} report does not match its hash: content {actual}, "
            f"stored {snap.sha256}, audit log {', '.join(map(str, logged)) or 'none'}"
        )
    return actual
