"""Which red measures and off-track projects of a cycle still lack an exception report: what
the ``exception_reports_complete`` guard asks before sign-off."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pmf_engine.core.store import Instance
from pmf_engine.pmf.performance import measure_statuses
from pmf_engine.pmf.projects import project_status
from pmf_engine.pmf.rag import RagPolicy


def missing_exception_reports(s: Session, cycle_id: int, rag: RagPolicy) -> list[str]:
    """Red measures and off-track projects of the cycle without an exception report."""
    inst = s.get(Instance, cycle_id)
    assert inst is not None
    measures = [
        m.code for m in measure_statuses(s, inst, rag) if m.rag.status == "red" and not m.exception_report
    ]
    projects = [
        f"project {p.code}"
        for p in project_status(s, inst)
        if p.needs_exception_report and not p.exception_report
    ]
    return measures + projects
