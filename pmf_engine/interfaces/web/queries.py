"""The read model of the pages and the API: the few reads no engine or framework service
offers yet, each in one read-only transaction. Route modules call these and hold no SQL.

Each would sit better as a service method (``Directory``, ``Engine``, ``Performance``,
``Actions``); they live here so that the web can change without touching core or pmf.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload

from pmf_engine.core import audit
from pmf_engine.core.clock import london
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.errors import NotFound, NotPermitted
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.period import Period, parse_period
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    Instance,
    Organisation,
    RoleAssignment,
    Store,
    WorkflowVersion,
    find_organisation,
    roles_held,
)
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework

TIMELINE_EVENTS = (
    "fired",
    "refused",
    "cycle.started",
    "child.spawned",
    "child.started",
    "reminder.fired",
    "escalation.fired",
    "chase.queued",
    "return.signed_off",
)
"""The audit events an instance page lists as its timeline: its steps and refusals, its start, the
worker's reminders and escalations, the performance team's chasing and a return's sign-off."""

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
        may_raise = False
        if inst.parent_id is None and parse_period(inst.period).kind == "quarter":  # a quarter's cycle
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


def may(framework: Framework, username: str, permission: str, organisation: str) -> bool:
    """Whether ``username`` holds the administration ``permission`` in ``organisation`` (a page
    offers the forms only then; the change itself is checked again)."""
    try:
        framework.engine.directory.authorise(username, permission, organisation)
    except (NotPermitted, NotFound):
        return False
    return True


def next_period(framework: Framework, organisation: str, username: str) -> str | None:
    """The period whose cycle ``username`` may start next in ``organisation``: the one after
    the newest cycle of the startable workflow (the quarter that ended most recently when there
    is none), once it has begun; ``None`` if there is none or they may not start it."""
    engine = framework.engine
    names = [n for n, wf in engine.catalog.workflows.items() if wf.start_roles]
    quarterly = [n for n in names if engine.catalog.workflows[n].period == "quarter"]
    if len(names) != 1 and len(quarterly) != 1:  # a year's planning round beside it: its own page
        return None  # several startable workflows: which to start is for the command line
    declared = engine.catalog.workflow(names[0] if len(names) == 1 else quarterly[0])
    today = london(engine.clock.now()).date()
    with engine.store.read() as s:
        org = find_organisation(s, organisation)
        if not {role for role, _ in roles_held(s, username, org.id)} & set(declared.start_roles):
            return None
        periods = list(
            s.scalars(
                select(Instance.period)
                .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                .where(
                    Instance.organisation_id == org.id,
                    Instance.parent_id.is_(None),
                    WorkflowVersion.name == declared.name,
                )
            )
        )
    parsed = []
    for text in periods:
        with suppress(ValueError):
            parsed.append(parse_period(text, declared.period))
    if parsed:
        newest = max(parsed, key=lambda p: p.start)
        following = getattr(newest, "next", None)
        if following is None:
            return None  # ad hoc work: no "next" to offer
        candidate = following()
    elif declared.period == "quarter":
        candidate = Period.containing(today).previous()
    else:
        return None
    return str(candidate) if candidate.start <= today else None
