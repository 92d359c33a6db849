"""Rules and lookups the framework's services share: who may report a figure, whether a cycle's
report is frozen, and finding a cycle or an organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.errors import NotFound
from pmf_engine.core.store import Instance, Organisation, find_organisation, roles_held
from pmf_engine.pmf.models import ExceptionReport, Measure, Project, ReportSnapshot

REPORTING_ROLES = ("service_manager", "head_of_service")


def may_report(s: Session, username: str, organisation_id: int, service_id: int | None) -> bool:
    """Performance officers report anything; a service's manager or head, only its own."""
    roles = roles_held(s, username, organisation_id)
    if ("performance_officer", None) in roles:
        return True
    return service_id is not None and any((r, service_id) in roles for r in REPORTING_ROLES)


def frozen_at(s: Session, instance_id: int) -> datetime | None:
    """When the cycle's report was frozen at Leadership Team sign-off, if it has been."""
    return s.scalar(select(ReportSnapshot.frozen_at).where(ReportSnapshot.instance_id == instance_id))


def cycle_of(s: Session, key: str) -> Instance:
    """The top-level instance (cycle) ``key``; ``NotFound`` if there is none."""
    inst = s.scalar(select(Instance).where(Instance.key == key, Instance.parent_id.is_(None)))
    if inst is None:
        raise NotFound("cycle", key)
    return inst


def org_by_code(s: Session, code: str) -> Organisation:
    """The organisation ``code`` with its services."""
    return find_organisation(s, code)


def org_code(s: Session, organisation_id: int) -> str:
    """The code of organisation ``organisation_id``."""
    return str(s.execute(select(Organisation.code).where(Organisation.id == organisation_id)).scalar_one())


def exception_reports(s: Session, instance_id: int) -> list[tuple[str, ExceptionReport]]:
    """The cycle's exception reports: measures by code, then projects as ``project CODE``."""
    measures = s.execute(
        select(Measure.code, ExceptionReport)
        .join(Measure, Measure.id == ExceptionReport.measure_id)
        .where(ExceptionReport.instance_id == instance_id)
        .order_by(Measure.code)
    ).all()
    projects = s.execute(
        select(Project.code, ExceptionReport)
        .join(Project, Project.id == ExceptionReport.project_id)
        .where(ExceptionReport.instance_id == instance_id)
        .order_by(Project.code)
    ).all()
    return [(code, r) for code, r in measures] + [(f"project {code}", r) for code, r in projects]
