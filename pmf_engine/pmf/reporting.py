"""Rules and lookups the framework's services share: who may report a figure, whether a cycle's
report is frozen, finding a cycle or an organisation's services, and the store, clock and
policies every service holds."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import ExecutableOption

from pmf_engine.core import audit
from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import DataFileError, NotFound, Problem
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    AuditKey,
    Instance,
    Organisation,
    RoleAssignment,
    Service,
    Store,
    WorkflowVersion,
    roles_held,
)
from pmf_engine.core.versions import Versions
from pmf_engine.pmf.models import ExceptionReport, Measure, Project, ReportSnapshot
from pmf_engine.pmf.policy import FrameworkPolicies, Reporting
from pmf_engine.pmf.words import frozen_stage, stored_state_label

Item = TypeVar("Item", Measure, Project)
"""A measure or a project: what an organisation reports on, by code, per service."""


class StoreService:
    """A framework service: the store it reads and writes, the clock that stamps its records,
    the policies (``framework.yaml``, ``rag.yaml``) it follows, and the engine's stored workflow
    versions (``Versions``), whose definitions name the states and stages it speaks of."""

    def __init__(self, store: Store, clock: Clock, policies: FrameworkPolicies, versions: Versions) -> None:
        self.store = store
        self.clock = clock
        self.policies = policies
        self.versions = versions

    @property
    def reporting(self) -> Reporting:
        """Who reports figures, and while when (``framework.yaml`` ``reporting``)."""
        return self.policies.framework.reporting


def may_report(
    s: Session, reporting: Reporting, username: str, organisation_id: int, service_id: int | None
) -> bool:
    """Whether ``username`` reports figures of ``service_id``: with a role of ``any_service``,
    any service's; with one of ``own_service``, only the service they hold it for."""
    return reporting.may_report(roles_held(s, username, organisation_id), service_id)


def closed_return(s: Session, reporting: Reporting, cycle: Instance, service_id: int | None) -> str | None:
    """Why the figures of ``service_id`` in ``cycle`` may not change now (its return is in no
    state of ``reporting.open_states``: the state by its label in the workflow version the
    return runs), or ``None`` when they may; a measure or project of no
    service, or a service with no return in the cycle, has no return to close."""
    service = s.scalar(select(Service.code).where(Service.id == service_id)) if service_id else None
    if service is None:
        return None
    found = s.execute(
        select(WorkflowVersion.name, Instance.state, WorkflowVersion.source_text)
        .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
        .where(Instance.key == str(InstanceKey.parse(cycle.key).under(service)))
    ).one_or_none()
    if found is None or reporting.is_open(found[0], found[1]):
        return None
    return f"the {service} return is {stored_state_label(found[2], found[1])}"


def frozen_at(s: Session, instance_id: int) -> datetime | None:
    """When the cycle's report was frozen (at sign-off: ``frozen_stage_of``), if it has been."""
    snap = genuine_snapshot(s, instance_id)
    return snap.frozen_at if snap is not None else None


def frozen_stage_of(s: Session, cycle: Instance, versions: Versions) -> str:
    """The stage at which ``cycle``'s report is frozen, by the label of the workflow version it
    runs (``Leadership Team sign-off``): what a refusal to change a frozen figure names. The
    definition comes from ``versions`` (the engine's, parsed once per version)."""
    return frozen_stage(versions.by_id(s, cycle.workflow_version_id))


def genuine_snapshot(s: Session, instance_id: int) -> ReportSnapshot | None:
    """The cycle's frozen report, if the engine froze it: a snapshot counts only when its hash
    is in a ``report.frozen`` entry of the organisation's own chain that follows the sign-off
    it names in the cycle's history (and, with an audit key, both entries carry the key). A
    row written around the engine (by a role that may INSERT) is not the cycle's report."""
    snapshots = list(s.scalars(select(ReportSnapshot).where(ReportSnapshot.instance_id == instance_id)))
    if not snapshots:
        return None
    frozen = [str(data.get("sha256")) for data in frozen_entries(s, instance_id, "report.frozen")]
    return next((snap for snap in snapshots if frozen and snap.sha256 == frozen[0]), None)


def frozen_entries(s: Session, instance_id: int, event: str) -> list[dict[str, Any]]:
    """The data of the cycle's ``event`` entries (``report.frozen``) that follow the fire of
    the trigger they name, in the organisation's own chain (carrying the audit key, if there
    is one), oldest first: what the engine froze, not a row written around it."""
    found = s.execute(
        select(Instance.key, Organisation.code)
        .join(Organisation, Organisation.id == Instance.organisation_id)
        .where(Instance.id == instance_id)
    ).first()
    if found is None:
        return []
    key, organisation = found
    store = s.info.get("pmf_store")
    audit_key = store.audit_key if store is not None else None
    fired: set[str] = set()
    frozen: list[dict[str, Any]] = []
    for entry in s.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.chain == organisation,
            AuditEntry.instance == key,
            AuditEntry.event.in_(("fired", event)),
        )
        .order_by(AuditEntry.chain_seq)
    ):
        if audit_key is not None and not _carries(entry, audit_key):
            continue
        if entry.event == "fired" and entry.trigger:
            fired.add(entry.trigger)
        elif entry.event == event:
            data = json.loads(entry.data)
            if data.get("trigger") in fired:
                frozen.append(data)
    return frozen


def _carries(entry: AuditEntry, key: AuditKey) -> bool:
    values = {name: getattr(entry, name) for name in audit.HASHED_FIELDS}
    values["alg"] = entry.alg
    try:
        return audit.entry_hash(values, key) == entry.hash
    except KeyError:
        return False


def cycle_of(s: Session, key: str, *options: ExecutableOption) -> Instance:
    """The top-level instance (cycle) ``key``, loaded with ``options``; ``NotFound`` if none."""
    inst = s.scalar(
        select(Instance).where(Instance.key == key, Instance.parent_id.is_(None)).options(*options)
    )
    if inst is None:
        raise NotFound("cycle", key)
    return inst


def by_code(s: Session, model: type[Item], organisation_id: int, code: str) -> Item | None:
    """The organisation's measure (or project) ``code``, if there is one."""
    return s.scalar(select(model).where(model.organisation_id == organisation_id, model.code == code))


def upsert(
    s: Session, model: type[Item], organisation_id: int, code: str, fields: dict[str, Any]
) -> tuple[Item, bool]:
    """The organisation's measure (or project) ``code`` with ``fields`` set, and whether it is new."""
    item = by_code(s, model, organisation_id, code)
    if item is None:
        item = model(organisation_id=organisation_id, code=code, **fields)
        s.add(item)
        return item, True
    for key, value in fields.items():
        setattr(item, key, value)
    return item, False


def with_service_codes(s: Session, model: type[Item], organisation_id: int) -> list[tuple[Item, str | None]]:
    """The organisation's measures (or projects) by code, each with its service's code."""
    rows = s.execute(
        select(model, Service.code)
        .outerjoin(Service, Service.id == model.service_id)
        .where(model.organisation_id == organisation_id)
        .order_by(model.code)
    ).all()
    return [(item, service) for item, service in rows]


def audit_organisation(
    s: Session, organisation: str, event: str, by: str, data: dict[str, Any], at: datetime
) -> None:
    """Record ``event`` on ``organisation`` in the audit log, after what ``s`` has added."""
    audit.record(s, audit.AuditRecord(event=event, organisation=organisation, actor=by, data=stamp(data)), at)


def audit_cycle(s: Session, inst: Instance, event: str, by: str, data: dict[str, Any], at: datetime) -> None:
    """Record ``event`` on the cycle ``inst`` in the audit log, after what ``s`` has added."""
    audit.record(
        s,
        audit.AuditRecord(
            event=event,
            organisation=InstanceKey.organisation_of(inst.key),
            instance=inst.key,
            actor=by,
            data=stamp(data),
        ),
        at,
    )


def service_ids(org: Organisation, path: Path, named: Iterable[str]) -> dict[str, int]:
    """The organisation's service ids by code; ``DataFileError`` if ``path`` names any other."""
    services = {svc.code: svc.id for svc in org.services}
    unknown = sorted({code for code in named if code and code not in services})
    if unknown:
        raise DataFileError(
            [Problem(str(path), None, "service", f"unknown service(s): {', '.join(unknown)}")]
        )
    return services


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


def organisations_of(s: Session, username: str) -> list[str]:
    """The codes of the organisations ``username`` holds a role in."""
    return sorted(
        set(
            s.scalars(
                select(Organisation.code)
                .join(RoleAssignment, RoleAssignment.organisation_id == Organisation.id)
                .join(Actor, Actor.id == RoleAssignment.actor_id)
                .where(Actor.username == username)
            )
        )
    )
