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
from pmf_engine.core.errors import NotFound
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    Instance,
    Organisation,
    RoleAssignment,
    Store,
    find_organisation,
)
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework

TIMELINE_EVENTS = ("fired", "refused", "cycle.started", "child.spawned", "child.started")
"""The audit events an instance page lists as its timeline."""

AUDIT_PAGE_LIMIT = 2000
"""The most entries the audit trail page (and its CSV) lists."""


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
                .where(AuditEntry.instance == key, AuditEntry.event.in_(TIMELINE_EVENTS))
                .order_by(AuditEntry.seq)
            )
        )
        owed: list[str] = []
        may_raise = False
        if inst.parent_id is None:  # a cycle
            owed = missing_exception_reports(s, inst.id, framework.policies)
            may_raise = framework.actions.may_raise(s, inst, username)
    return InstanceDetails(definition, timeline, owed, may_raise)


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


def audit_entries(store: Store, organisation: str, filters: AuditFilters) -> list[AuditEntry]:
    """The organisation's audit chain, filtered, oldest first (at most ``AUDIT_PAGE_LIMIT``)."""
    with store.read() as s:
        return _entries(s, organisation, filters)


def audit_view(
    store: Store, organisation: str, filters: AuditFilters
) -> tuple[audit.Verification, list[AuditEntry]]:
    """The organisation's chain verified, and its entries filtered, in one transaction."""
    with store.read() as s:
        return audit.verify(s, chain=organisation), _entries(s, organisation, filters)


def _entries(s: Session, organisation: str, filters: AuditFilters) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.chain == organisation).order_by(AuditEntry.seq)
    if filters.instance:
        query = query.where(_under(AuditEntry.instance, filters.instance))
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.event:
        query = query.where(AuditEntry.event == filters.event)
    return list(s.scalars(query.limit(AUDIT_PAGE_LIMIT)))
