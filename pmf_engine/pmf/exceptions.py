"""Exception reports: why a red measure (or an off-track project) missed, what is being done,
by whom and by when. The shipped cycle requires one for each before Leadership Team sign-off
(the ``exception_reports_complete`` guard asks ``missing_exception_reports``); which RAG and
project statuses need one is ``exception_reports`` in ``policies/framework.yaml``."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.store import Instance
from pmf_engine.pmf.models import ExceptionReport, Measure, Project
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.projects import project_status
from pmf_engine.pmf.reporting import (
    StoreService,
    audit_cycle,
    by_code,
    cycle_of,
    exception_reports,
    frozen_at,
    frozen_stage_of,
    may_report,
)
from pmf_engine.pmf.status import measure_statuses


class ExceptionReports(StoreService):
    """Adding and listing a cycle's exception reports."""

    def add_exception_report(
        self,
        cycle: str,
        code: str,
        *,
        reason: str,
        remedial_action: str,
        owner: str,
        recovery_date: str,
        by: str,
        project: bool = False,
    ) -> None:
        """Add (or replace) the exception report of a measure (or, with ``project``, a project)."""
        reason, remedial_action, owner = (
            checks.check_text(name, text) or ""
            for name, text in (("reason", reason), ("remedial_action", remedial_action), ("owner", owner))
        )
        try:
            date.fromisoformat(recovery_date)
        except ValueError:
            raise InvalidInput("recovery_date", recovery_date, "not a date like 2024-12-31") from None
        if not all(x.strip() for x in (reason, remedial_action, owner)):
            raise InvalidInput(
                "reason", None, "an exception report needs a reason, a remedial action and an owner"
            )
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            subject = _subject(s, inst, code, project)
            if not may_report(s, self.reporting, by, inst.organisation_id, subject.service_id):
                raise PermissionDenied(cycle, "exception_report", "-", by, f"{by!r} may not report on {code}")
            if frozen_at(s, inst.id) is not None:
                raise NotNow(f"the {cycle} report was frozen at {frozen_stage_of(s, inst, self.versions)}")
            column = ExceptionReport.project_id if project else ExceptionReport.measure_id
            existing = s.scalar(
                select(ExceptionReport).where(ExceptionReport.instance_id == inst.id, column == subject.id)
            )
            fields = {
                "reason": reason,
                "remedial_action": remedial_action,
                "owner": owner,
                "recovery_date": recovery_date,
            }
            if existing is None:
                s.add(
                    ExceptionReport(
                        instance_id=inst.id,
                        measure_id=None if project else subject.id,
                        project_id=subject.id if project else None,
                        created_by=by,
                        created_at=self.clock.now(),
                        **fields,
                    )
                )
            else:
                for key, value in fields.items():
                    setattr(existing, key, value)
            data = {"project" if project else "measure": code, **fields}
            audit_cycle(s, inst, "exception.reported", by, data, self.clock.now())

    def exception_reports(self, cycle: str) -> list[tuple[str, ExceptionReport]]:
        """The cycle's exception reports: measures by code, then projects as ``project CODE``."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            return exception_reports(s, inst.id)


def missing_exception_reports(s: Session, cycle_id: int, policies: FrameworkPolicies) -> list[str]:
    """Measures and projects of the cycle whose status needs an exception report
    (``exception_reports`` in ``framework.yaml``) and that have none."""
    inst = s.get(Instance, cycle_id)
    assert inst is not None
    rules = policies.framework.exception_reports
    measures = [
        m.code
        for m in measure_statuses(s, inst, policies.rag)
        if m.rag.status in rules.rag and not m.exception_report
    ]
    projects = [
        f"project {p.code}"
        for p in project_status(s, inst)
        if p.status in rules.project_statuses and not p.exception_report
    ]
    return measures + projects


def _subject(s: Session, inst: Instance, code: str, project: bool) -> Measure | Project:
    found = (
        by_code(s, Project, inst.organisation_id, code)
        if project
        else by_code(s, Measure, inst.organisation_id, code)
    )
    if found is None:
        raise NotFound("project" if project else "measure", code)
    return found
