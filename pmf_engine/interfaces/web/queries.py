"""The read model of the pages and the API: the few reads no engine or framework service
offers yet, each in one read-only transaction. Route modules call these and hold no SQL.

Each would sit better as a service method (``Directory``, ``Engine``, ``Performance``,
``Actions``); they live here so that the web can change without touching core or pmf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload

from pmf_engine.core import audit
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    Instance,
    Organisation,
    RoleAssignment,
    Service,
    Store,
    WorkflowVersion,
    find_organisation,
)
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.reporting import by_code, may_report

TIMELINE_EVENTS = ("fired", "refused", "cycle.started", "child.spawned", "child.started")
"""The audit events an instance page lists as its timeline."""

AUDIT_PAGE_SIZE = 100
"""How many entries a page of the audit trail lists unless asked for fewer or more."""
AUDIT_PAGE_MAX = 500
"""The most entries one page of the audit trail (page or API) may list."""
AUDIT_CSV_LIMIT = 2000
"""The most entries one CSV download holds (the newest matching, from ``before`` back)."""


def organisations_of(store: Store, username: str) -> list[tuple[str, str]]:
    """(code, name) of the organisations where ``username`` holds a role, in one query."""
    with store.read() as s:
        rows = s.execute(
            select(Organisation.code, Organisation.name)
            .join(RoleAssignment, RoleAssignment.organisation_id == Organisation.id)
            .join(Actor, Actor.id == RoleAssignment.actor_id)
            .where(Actor.username == username, Actor.active.is_(True))
            .distinct()
            .order_by(Organisation.code)
        ).all()
    return [(str(code), str(name)) for code, name in rows]


def check_organisation(store: Store, code: str) -> None:
    """``NotFound`` unless an organisation ``code`` exists."""
    with store.read() as s:
        find_organisation(s, code)


@dataclass(frozen=True)
class InstanceDetails:
    """What an instance page shows beyond ``Engine.status``."""

    definition: WorkflowDef
    """The workflow as its stored version was written (not today's YAML)."""
    timeline: list[AuditEntry]
    """The instance's own transitions, refusals and starts, oldest first."""
    owed: list[str]
    """A cycle's red measures and off-track projects without an exception report."""
    may_write: list[str]
    """Those of ``owed`` whose exception report the user may write (they report its figures)."""
    may_raise: bool
    """The user may raise a Scrutiny action on this cycle now."""


def instance_details(framework: Framework, key: str, username: str) -> InstanceDetails:
    """The stored definition and the timeline; for a cycle, what is owed and whether
    ``username`` may raise an action."""
    engine = framework.engine
    with engine.store.read() as s:
        inst = s.scalar(
            select(Instance).where(Instance.key == key).options(joinedload(Instance.workflow_version))
        )
        if inst is None:
            raise NotFound("cycle or return", key)
        definition = engine.definition(inst.workflow_version)
        timeline = list(
            s.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.chain == InstanceKey.organisation_of(key),  # its organisation's chain only
                    AuditEntry.instance == key,
                    AuditEntry.event.in_(TIMELINE_EVENTS),
                )
                .order_by(AuditEntry.seq)
            )
        )
        owed: list[str] = []
        may_write: list[str] = []
        may_raise = False
        if inst.parent_id is None:  # a cycle
            owed = missing_exception_reports(s, inst.id, framework.policies)
            may_write = [code for code in owed if _may_write(s, framework, inst, code, username)]
            may_raise = framework.actions.may_raise(s, inst, username)
    return InstanceDetails(definition, timeline, owed, may_write, may_raise)


def _may_write(s: Session, framework: Framework, cycle: Instance, code: str, username: str) -> bool:
    """Whether ``username`` may write the exception report of ``code`` (``project CODE`` for a
    project): the rule ``add_exception_report`` applies, asked before offering its form."""
    subject: Measure | Project | None = (
        by_code(s, Project, cycle.organisation_id, code.removeprefix("project "))
        if code.startswith("project ")
        else by_code(s, Measure, cycle.organisation_id, code)
    )
    reporting = framework.policies.framework.reporting
    return subject is not None and may_report(
        s, reporting, username, cycle.organisation_id, subject.service_id
    )


def service_name(store: Store, organisation: str, code: str) -> str:
    """The name of service ``code`` of ``organisation`` (its code, if it has none)."""
    with store.read() as s:
        name = s.scalar(
            select(Service.name)
            .join(Organisation)
            .where(Organisation.code == organisation, Service.code == code)
        )
    return str(name) if name else code


def definition_of(engine: Engine, key: str) -> WorkflowDef:
    """The definition instance ``key`` runs under (its stored version, not today's YAML)."""
    with engine.store.read() as s:
        version = s.scalar(
            select(WorkflowVersion)
            .join(Instance, Instance.workflow_version_id == WorkflowVersion.id)
            .where(Instance.key == key)
        )
        if version is None:
            raise NotFound("cycle or return", key)
        return engine.definition(version)


def last_move(store: Store, key: str) -> AuditEntry | None:
    """The newest transition of instance ``key`` (what moved it last, and who), if any."""
    with store.read() as s:
        return s.scalar(
            select(AuditEntry)
            .where(
                AuditEntry.chain == InstanceKey.organisation_of(key),
                AuditEntry.instance == key,
                AuditEntry.event == "fired",
            )
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        )


def trail(store: Store, key: str) -> list[AuditEntry]:
    """Every audit entry about an instance and the instances below it, oldest first: read from
    the chain of the key's own organisation only, and matched by exact key or an escaped
    ``KEY/`` prefix (an unescaped LIKE let ``N_C`` match ``NDC``, and SQLite's LIKE ignores case)."""
    organisation = InstanceKey.organisation_of(key)
    with store.read() as s:
        query = (
            select(AuditEntry)
            .where(AuditEntry.chain == organisation, AuditEntry.organisation == organisation)
            .where(_under(AuditEntry.instance, key))
            .order_by(AuditEntry.seq)
        )
        return list(s.scalars(query))


def _under(column: InstrumentedAttribute[str | None], key: str) -> ColumnElement[bool]:
    """``column`` is ``key`` or a key below it; ``%`` and ``_`` in ``key`` match only themselves."""
    return (column == key) | column.startswith(key + "/", autoescape=True)


@dataclass(frozen=True)
class AuditFilters:
    """The audit trail page's filters; an empty one matches everything."""

    instance: str = ""
    """An instance key: its entries and those of the instances below it."""
    actor: str = ""
    event: str = ""

    def pairs(self) -> Iterable[tuple[str, str]]:
        """(name, value) of the filters that are set."""
        named = (("instance", self.instance), ("actor", self.actor), ("event", self.event))
        return ((k, v) for k, v in named if v)


@dataclass(frozen=True)
class AuditPage:
    """One page of an organisation's audit trail, newest first."""

    entries: list[AuditEntry]
    next_before: int | None
    """The ``before`` of the next (older) page: the last entry's ``chain_seq``; ``None`` at the end."""


def audit_page(
    store: Store,
    organisation: str,
    filters: AuditFilters,
    *,
    before: int | None = None,
    size: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """The newest ``size`` (at most ``AUDIT_PAGE_MAX``) entries of the organisation's chain that
    match ``filters`` and come before chain position ``before``: keyset pagination that walks
    the chain's ``(chain, chain_seq)`` index backwards, so a page costs the same at any depth."""
    size = max(1, min(size, AUDIT_PAGE_MAX))
    with store.read() as s:
        rows = _newest(s, organisation, filters, before, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(rows, rows[-1].chain_seq if more and rows else None)


def audit_entries(
    store: Store, organisation: str, filters: AuditFilters, *, before: int | None = None
) -> list[AuditEntry]:
    """The newest ``AUDIT_CSV_LIMIT`` matching entries before ``before``, newest first (the CSV)."""
    with store.read() as s:
        return _newest(s, organisation, filters, before, AUDIT_CSV_LIMIT)


def audit_verification(store: Store, organisation: str) -> audit.Verification:
    """The organisation's whole chain verified: read on request only, never on every view."""
    with store.read() as s:
        return audit.verify(s, chain=organisation)


def _newest(
    s: Session, organisation: str, filters: AuditFilters, before: int | None, limit: int
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.chain == organisation)
    if before is not None:
        query = query.where(AuditEntry.chain_seq < before)
    if filters.instance:
        query = query.where(_under(AuditEntry.instance, filters.instance))
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.event:
        query = query.where(AuditEntry.event == filters.event)
    return list(s.scalars(query.order_by(AuditEntry.chain_seq.desc()).limit(limit)))
