"""The assurance summary of a quarter: what an internal auditor asks of the figures.

For a cycle: every figure reported with its quality flag and evidence, the counts of validated,
estimated, provisional and unflagged figures (and how many of each have evidence), and each
service's return with its sign-off (by whom, when, whether late) or the want of one. The same
rows are written as CSV (one line per figure, cells escaped against formula injection).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from pmf_engine.core.audit import csv_safe
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Instance, Service
from pmf_engine.pmf.actuals import latest_values
from pmf_engine.pmf.assurance_models import Evidence, ReturnSignOff
from pmf_engine.pmf.models import QUALITY_FLAGS, Measure
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.reporting import cycle_of, with_service_codes
from pmf_engine.pmf.signoff import SIGNED_OFF, holders

NOT_STATED = "not stated"
"""The flag column of a figure whose service gave no quality flag."""


@dataclass(frozen=True)
class FigureAssurance:
    """One reported figure: its flag, how many evidence files support it, who reported it."""

    code: str
    title: str
    service: str | None
    value: float
    quality: str
    evidence: int
    reported_by: str
    reported_at: datetime


@dataclass(frozen=True)
class ReturnAssurance:
    """A service's return and its sign-off (the newest), or why there is none."""

    service: str
    state: str
    signed_by: str | None = None
    signed_at: datetime | None = None
    submitted_at: datetime | None = None
    late: bool = False
    signers: tuple[str, ...] = ()
    """Who holds the sign-off role for the service now (none: no one could sign off)."""
    past_sign_off: bool = False
    """The return is in a state reached only through the guard ``signed_off`` (accepted)."""
    key: str = ""
    awaiting: bool = False
    """The return may be signed off now: in a signing state, and not signed off as it stands."""
    state_label: str = ""
    """``state`` by its label in the workflow version the return runs."""

    @property
    def gap(self) -> str:
        """What an auditor should note: accepted without a sign-off, or a late one; ``""``."""
        if self.signed_by is None and self.past_sign_off:
            return "accepted without sign-off" + ("" if self.signers else " (no one holds the role)")
        return "signed off late" if self.late else ""


@dataclass(frozen=True)
class AssuranceSummary:
    """A quarter's figures and returns, as an auditor reviews them."""

    cycle: str
    period: str
    role: str
    figures: list[FigureAssurance]
    returns: list[ReturnAssurance]
    counts: dict[str, int] = field(default_factory=dict)
    """Figures per flag (``validated`` ... ``not stated``)."""
    with_evidence: dict[str, int] = field(default_factory=dict)
    """Of them, those with at least one evidence file."""

    @property
    def late_sign_offs(self) -> int:
        """How many returns were signed off late."""
        return sum(1 for r in self.returns if r.late)

    @property
    def unsigned(self) -> int:
        """How many returns were accepted without a sign-off."""
        return sum(1 for r in self.returns if r.signed_by is None and r.past_sign_off)


CSV_HEADER = (
    "period", "service", "measure", "title", "value", "quality", "evidence_files", "reported_by",
    "return_state", "signed_off_by", "signed_off_at", "sign_off_late", "note",
)  # fmt: skip


class Assurance:
    """The assurance summary of a cycle, as data and as CSV."""

    def __init__(self, engine: Engine, policies: FrameworkPolicies) -> None:
        self.engine = engine
        self.store = engine.store
        self.policies = policies

    def summary(self, cycle: str) -> AssuranceSummary:
        """The cycle's figures with flags and evidence, and its returns with sign-offs."""
        signing = self.policies.framework.quality.signing
        role = signing.role if signing else ""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            measures = with_service_codes(s, Measure, inst.organisation_id)
            latest = latest_values(s, [m.id for m, _ in measures], [inst.period])
            evidence = dict(
                s.execute(
                    select(Evidence.measure_id, func.count())
                    .where(
                        Evidence.measure_id.in_([m.id for m, _ in measures]), Evidence.period == inst.period
                    )
                    .group_by(Evidence.measure_id)
                ).all()
            )
            figures = [
                FigureAssurance(
                    m.code,
                    m.title,
                    service,
                    a.value,
                    a.quality or NOT_STATED,
                    int(evidence.get(m.id, 0)),
                    a.reported_by,
                    a.reported_at,
                )
                for m, service in measures
                if (a := latest.get((m.id, inst.period))) is not None and a.value is not None
            ]
            returns = []
            for child, code in s.execute(
                select(Instance, Service.code)
                .join(Service, Service.id == Instance.service_id)
                .where(Instance.parent_id == inst.id)
                .options(joinedload(Instance.workflow_version))
                .order_by(Service.code)
            ).all():
                wf = self.engine.definition(child.workflow_version)
                gated = child.state in {t.dest for t in wf.transitions if SIGNED_OFF in t.guards}
                signable = signing is not None and child.state in signing.states.get(wf.name, ())
                signed = s.scalar(
                    select(ReturnSignOff)
                    .where(ReturnSignOff.instance_id == child.id)
                    .order_by(ReturnSignOff.id.desc())
                    .limit(1)
                )
                signers = tuple(holders(s, inst.organisation_id, child.service_id or 0, role)) if role else ()
                if signed is None:
                    returns.append(
                        ReturnAssurance(
                            code,
                            child.state,
                            signers=signers,
                            past_sign_off=gated,
                            key=child.key,
                            awaiting=signable,
                            state_label=wf.state_label(child.state),
                        )
                    )
                else:
                    returns.append(
                        ReturnAssurance(
                            code,
                            child.state,
                            signed.signed_by,
                            signed.signed_at,
                            signed.submitted_at,
                            signed.late,
                            signers,
                            gated,
                            child.key,
                            signable and signed.submitted_at < child.entered_at,
                            wf.state_label(child.state),
                        )
                    )
        counts = Counter(f.quality for f in figures)
        backed = Counter(f.quality for f in figures if f.evidence)
        flags = [*QUALITY_FLAGS, NOT_STATED]
        return AssuranceSummary(
            cycle,
            inst.period,
            role,
            figures,
            returns,
            {flag: counts.get(flag, 0) for flag in flags},
            {flag: backed.get(flag, 0) for flag in flags},
        )

    def write_csv(self, cycle: str, out: IO[str]) -> int:
        """The summary as CSV, one line per figure with its return's sign-off; how many lines."""
        summary = self.summary(cycle)
        by_service = {r.service: r for r in summary.returns}
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for f in summary.figures:
            r = by_service.get(f.service or "")
            cells = [
                summary.period,
                f.service or "",
                f.code,
                f.title,
                f"{f.value:g}",
                f.quality,
                f.evidence,
                f.reported_by,
                r.state if r else "",
                (r.signed_by or "") if r else "",
                r.signed_at.isoformat() if r and r.signed_at else "",
                ("yes" if r.late else "no") if r and r.signed_by else "",
                r.gap if r else "",
            ]
            writer.writerow([csv_safe(c) if isinstance(c, str) else c for c in cells])
        return len(summary.figures)
