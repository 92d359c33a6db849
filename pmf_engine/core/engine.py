"""The engine: start cycles and fire transitions, each in one database transaction.

``fire`` reads the instance, checks its version, the trigger, the actor's permission and the
transition's guards, asks the compiled machine for the new state, writes it with a conditional
UPDATE on the version (so a stale writer changes nothing), spawns child instances the new state
asks for, and appends the audit entry: all of it commits together or not at all. A refused
attempt rolls that transaction back and is then recorded in the audit log by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from pmf_engine.core import audit, limits, refusals, values
from pmf_engine.core.agenda import Offer, agenda
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.children import Children, Target
from pmf_engine.core.clock import Clock, SystemClock
from pmf_engine.core.definition import TransitionDef, WorkflowDef
from pmf_engine.core.directory import ACTOR_ROLES, Directory, assignments, find_actor
from pmf_engine.core.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    GuardFailed,
    InvalidInput,
    NotFound,
    NotNow,
    PermissionDenied,
    Refused,
    TransitionNotAllowed,
    UnknownTrigger,
)
from pmf_engine.core.instances import MOVE_INSTANCE, STALE, InstanceKey, InstanceRow
from pmf_engine.core.machine import compile_workflow
from pmf_engine.core.period import parse_period
from pmf_engine.core.permissions import Assignment, authorise, segregation_triggers
from pmf_engine.core.prefetch import Prefetched, Watch, prefetch
from pmf_engine.core.provenance import stamp
from pmf_engine.core.raw import Statement
from pmf_engine.core.registry import EffectContext, GuardContext, join_problem
from pmf_engine.core.reschedule import recompute_deadlines
from pmf_engine.core.store import (
    Instance,
    Organisation,
    Store,
    WorkflowVersion,
    find_organisation,
)
from pmf_engine.core.timekeeper import Stay, Timekeeper
from pmf_engine.core.tx import Tx
from pmf_engine.core.tx import write as tx_write
from pmf_engine.core.versions import Versions
from pmf_engine.core.views import DeadlineStatus, InstanceStatus, NextStep, Views, load_instance

__all__ = ["DeadlineStatus", "Engine", "Fired", "InstanceStatus", "NextStep"]

log = structlog.get_logger("pmf_engine.engine")
# Deferred on PostgreSQL, the move is ``pmf_apply``'s, which refuses a stale version itself (pmf_stale).
_MOVE_INSTANCE, _ACTOR_ROLES = Statement(MOVE_INSTANCE, server="move_instance"), Statement(ACTOR_ROLES)


@dataclass(frozen=True, kw_only=True)
class Fired:
    """What one successful ``fire`` did."""

    instance: str
    trigger: str
    from_state: str
    to_state: str
    version: int
    actor: str
    role: str
    audit_seq: int
    spawned: tuple[str, ...] = ()
    cascaded: tuple[str, ...] = ()
    """The children the transition's cascade moved."""


@dataclass(frozen=True, slots=True)
class Move:
    """A checked move: the instance, its workflow, the transition and the period's tag."""

    row: InstanceRow
    workflow: WorkflowDef
    transition: TransitionDef
    tag: str
    targets: tuple[Target, ...] | None = None
    """The children its cascade moves, found before anything was written (``None``: find them)."""
    pre: Prefetched | None = None
    """What ``fire`` read first (a cascaded child's move reads as it goes)."""


@dataclass(frozen=True, slots=True)
class Moved:
    """What ``_apply`` did."""

    to_state: str
    audit_seq: int
    spawned: tuple[str, ...]
    cascaded: tuple[str, ...]


class Engine:
    """Runs workflows from a ``Catalog`` against a ``Store``, on an injected ``Clock``."""

    def __init__(self, store: Store, catalog: Catalog, clock: Clock | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.timekeeper = Timekeeper(catalog)
        self.directory = Directory(store, self.clock, catalog.roles)
        """Organisations, services, actors and their roles."""
        self.stored = Versions(catalog, self.clock)
        """Stored workflow versions, their definitions and migrations."""
        self.views = Views(self.stored, self.clock)
        self.children = Children(self.stored, self.timekeeper, self.clock)
        """Child sets, one-off children and cascades."""
        self._watch = Watch.of(
            catalog.roles.segregation, catalog.workflows.values(), catalog.registry.guard_reads
        )

    def versions(self) -> list[WorkflowVersion]:
        """Every stored workflow version (the catalog's current ones registered first)."""
        return self.stored.listing(self.store)

    def definition(self, version: WorkflowVersion) -> WorkflowDef:
        """The definition a stored version was written with (not today's YAML)."""
        return self.stored.definition(version)

    def migrate(self, key: str, target: str, *, by: str, reason: str | None = None) -> WorkflowVersion:
        """Move a cycle (and its children) to another stored version of its workflow, audited."""
        with self.store.write() as s:
            version = self.stored.migrate(s, key, target, by=by, reason=reason)
        log.info("cycle.migrated", cycle=key, actor=by, to_version=version.ref)
        return version

    # -- cycles ---------------------------------------------------------------------------

    def start_cycle(
        self, organisation: str, period: str, *, by: str, workflow: str | None = None
    ) -> InstanceStatus:
        """Start ``workflow`` (by default the catalog's one startable workflow) for one
        organisation and period, spawning its children."""
        workflow = workflow or self.catalog.default_workflow(period)
        declared = self.catalog.workflow(workflow)
        start_roles = declared.start_roles
        try:
            parsed = parse_period(period, declared.period)
        except ValueError as exc:
            raise InvalidInput("period", period, str(exc)) from None
        key = declared.instance_key(organisation, str(parsed))
        bound = log.bind(organisation=organisation, cycle=key, actor=by)
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            actor = find_actor(s, by)
            if not any(a.organisation == organisation and a.role in start_roles for a in assignments(actor)):
                needs = " or ".join(start_roles) or "nothing: it is only started under another instance"
                raise PermissionDenied(
                    key, "start", "-", by, f"starting {workflow} needs {needs} in {organisation}"
                )
            if not org.services:
                raise NotNow(f"{organisation} has no services: add them before starting a cycle")
            if not start_roles:
                raise PermissionDenied(
                    key, "start", "-", by, f"{workflow} is only ever started under another instance"
                )
            if s.scalar(select(Instance.id).where(Instance.key == key)) is not None:
                raise AlreadyExists("cycle", key)
            version = self.stored.register(s, workflow)
            wf = self.stored.definition(version)
            now = self.clock.now()
            cycle = Instance(
                key=key,
                organisation_id=org.id,
                period=str(parsed),
                workflow_version_id=version.id,
                state=wf.initial,
                version=1,
                context={},
                created_at=now,
                entered_at=now,
            )
            s.add(cycle)
            s.flush()
            pins: dict[str, int] = {}
            stay = Stay(cycle.id, org.id, None, org.holiday_subdivision, parsed.end, now)
            self.timekeeper.enter(s, wf, wf.initial, stay, pins)
            if pins:
                cycle.context = {"meetings": pins}
            self._audit(
                s,
                audit.AuditRecord(
                    event="cycle.started",
                    organisation=organisation,
                    instance=key,
                    to_state=wf.initial,
                    actor=by,
                    data=stamp({"workflow": version.ref, "period": str(parsed)}),
                ),
            )
            spawned = self.children.spawn(s, cycle.id, key, cycle.period, wf, wf.initial, by)
        bound.info("cycle.started", state=wf.initial, spawned=len(spawned))
        return self.status(key)

    def cycles(self, organisation: str | None = None) -> list[InstanceStatus]:
        """The top-level cycles (of one organisation, if given) in key order, without their children."""
        with self.store.read() as s:
            query = select(Instance.key).where(Instance.parent_id.is_(None)).order_by(Instance.key)
            if organisation:
                query = query.join(Organisation).where(Organisation.code == organisation)
            keys = list(s.scalars(query))
        return [self.status(k, with_children=False) for k in keys]

    def steps_for(self, key: str, username: str) -> list[NextStep]:
        """The transitions out of the instance's state that ``username``'s roles allow now
        (guards are checked when fired): what a page offers as buttons."""
        with self.store.read() as s:
            inst = InstanceRow.load(s, key)
            wf = self.stored.by_id(s, inst.workflow_version_id)
            allowed = []
            for t in wf.allowed_from(inst.state, parse_period(inst.period).tag):
                try:
                    self._authorise(s, wf, inst, t, username)
                except PermissionDenied:
                    continue
                allowed.append(NextStep.of(t))
            return allowed

    def agenda(self, username: str) -> list[Offer]:
        """Every open instance where ``username``'s roles allow a step now: see ``core.agenda``."""
        with self.store.read() as s:
            return agenda(s, self.stored, self.catalog.roles, username, self.clock.now())

    def peek(self, key: str) -> tuple[str, int]:
        """(state, version) of an instance, cheaply: what a caller passes back as
        ``expected_version`` to act only on what it saw."""
        with self.store.read() as s:
            row = s.execute(select(Instance.state, Instance.version).where(Instance.key == key)).first()
        if row is None:
            raise NotFound("cycle or return", key)
        return str(row[0]), int(row[1])

    def status(self, key: str, *, with_children: bool = True) -> InstanceStatus:
        """The instance ``key`` as pages show it, with its children unless ``with_children`` is false."""
        with self.store.read() as s:
            inst = load_instance(s, key)
            return self.views.status(s, inst, with_children=with_children)

    # -- firing ---------------------------------------------------------------------------

    def fire(
        self,
        key: str,
        trigger: str,
        actor: str,
        *,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        then: Callable[[Session, Fired], None] | None = None,
    ) -> Fired:
        """Fire ``trigger`` on instance ``key`` as ``actor``: all of it, or nothing.

        ``then`` runs inside the same transaction after the move (the web API stores its
        idempotent response there, so the answer and the transition commit together).

        ``expected_version`` is the version the caller saw; if the instance has moved on since,
        ``ConcurrencyConflict`` is raised and nothing is written. Without it the version read
        in this transaction is used, so a concurrent writer still cannot be overwritten.
        """
        try:
            reason, payload = values.check_attempt(key, trigger, actor, reason, data or {})
        except InvalidInput as invalid:  # nothing storable to audit: the log keeps the attempt
            log.warning("transition.invalid", key=key[:160], trigger=trigger[:64], field=invalid.field)
            raise
        reason = reason.strip() if reason and reason.strip() else None
        parts = InstanceKey.parse(key)
        too_large = limits.fire_problem(reason, payload)
        if too_large is not None:  # refused before anything is read; the attempt kept, clipped
            refusals.refuse_too_large(self.store, self.clock, key, trigger, actor, reason, payload, too_large)
        bound = log.bind(
            organisation=parts.organisation,
            cycle=parts.cycle,
            child=parts.child,
            trigger=trigger,
            actor=actor,
        )
        try:
            with tx_write(self.store) as tx:
                result = self._fire(tx, key, trigger, actor, reason, payload, expected_version)
                if then is not None:
                    tx.raw.flush()  # the move first: ``then`` writes through the session
                    then(tx.session, result)
        except Refused as refusal:
            refusals.record(self.store, self.clock, refusal, actor, reason, payload)
            bound.warning("transition.refused", state=refusal.state, why=refusal.reason)
            raise
        except IntegrityError as exc:
            # A unique key taken by a concurrent writer (a spawned child, an audit link).
            raise ConcurrencyConflict(key, expected_version or 0, None) from exc
        except OperationalError as exc:  # PostgreSQL: a stale move stopped the writes and COMMIT
            if STALE not in str(exc.orig):
                raise
            raise ConcurrencyConflict(key, expected_version or 0, None) from exc
        bound.info(
            "transition.fired",
            from_state=result.from_state,
            to_state=result.to_state,
            role=result.role,
            version=result.version,
        )
        return result

    def _fire(
        self,
        tx: Tx,
        key: str,
        trigger: str,
        username: str,
        reason: str | None,
        data: dict[str, Any],
        expected_version: int | None,
    ) -> Fired:
        tx.raw.deferring = True  # PostgreSQL: the writes wait for the one round trip that commits
        pre = prefetch(
            tx.raw,
            key,
            username,
            self._watch.watched.get(trigger, frozenset()),
            head=trigger not in self._watch.cascading,
            guards=self._guard_reads(key, trigger),
        )
        inst = pre.instance
        if expected_version is not None and inst.version != expected_version:
            raise ConcurrencyConflict(key, expected_version, inst.version)
        wf = self.stored.known(inst.workflow_version_id) or self.stored.by_id(
            tx.session, inst.workflow_version_id
        )
        tag = parse_period(inst.period).tag
        transition = self._transition(wf, inst, trigger, tag)
        role = self._authorise(tx, wf, inst, transition, username, pre)
        self._check_guards(tx, wf, inst, transition, reason, data, tag, pre.guards)
        # The children a cascade moves are found (and any bad name refused) before anything is written.
        targets = (
            tuple(self.children.cascade_targets(tx.session, inst, transition, data))
            if transition.cascade
            else ()
        )
        moved = self._apply(
            tx, Move(inst, wf, transition, tag, targets, pre), username, role, reason, data, self.clock.now()
        )
        return Fired(
            instance=key,
            trigger=trigger,
            from_state=inst.state,
            to_state=moved.to_state,
            version=inst.version + 1,
            actor=username,
            role=role,
            audit_seq=moved.audit_seq,
            spawned=moved.spawned,
            cascaded=moved.cascaded,
        )

    def _apply(
        self,
        tx: Tx,
        move: Move,
        username: str,
        role: str,
        reason: str | None,
        data: dict[str, Any],
        now: datetime,
    ) -> Moved:
        """Make a checked move: the new state and its deadline, the audit entry, the children
        the new state starts, the cascade to existing children (each a move of its own, audited
        as such) and the transition's effects. Everything is in the caller's transaction."""
        inst, wf, transition, pre = move.row, move.workflow, move.transition, move.pre
        to_state = compile_workflow(wf).next_state(inst.state, transition.trigger, move.tag)
        context = {**inst.context, **{name: data[name] for name in transition.fields if name in data}}
        # Staying in a state keeps its clock: ``entered + N`` still counts from the arrival and
        # reminders already sent are not sent again, unless the transition restarts it.
        stays = to_state == inst.state and not transition.restart_deadline
        if wf.states[inst.state].rule is not None or wf.states[to_state].rule is not None:
            fired = self.timekeeper.fired_steps(tx.session, inst.id) if stays else set()
            self.timekeeper.leave(tx, inst.id, now)
            pins = dict(context.get("meetings", {}))
            stay = Stay.of_row(inst, inst.entered_at if stays else now, context)
            self.timekeeper.enter(
                tx,
                wf,
                to_state,
                stay,
                pins,
                pre.holders if pre else None,
                already_fired=fired,
                now=now,
                deadline_id=pre.deadline_id if pre else None,
            )
            if pins:
                context["meetings"] = pins
        moved = {
            "instance_id": inst.id,
            "read_version": inst.version,
            "new_state": to_state,
            "new_version": inst.version + 1,
            "new_context": context,
            "new_entered_at": inst.entered_at if stays else now,
        }
        raw = tx.raw
        if raw.pipelines and raw.deferring:  # refuses a stale version itself (pmf_stale)
            raw.defer(_MOVE_INSTANCE, moved)
        elif raw.count(_MOVE_INSTANCE, moved) != 1:
            raise ConcurrencyConflict(inst.key, inst.version, None)
        seq = audit.append(
            tx,
            audit.AuditRecord(
                event="fired",
                organisation=inst.organisation,
                instance=inst.key,
                trigger=transition.trigger,
                from_state=inst.state,
                to_state=to_state,
                actor=username,
                role=role,
                reason=reason,
                data=stamp(data),
            ),
            now,
            head=pre.head if pre else None,
            seq=pre.audit_seq if pre and pre.head else None,
        )
        if transition.cascade or wf.children_spawned_on(to_state, move.tag):
            raw.flush()  # what follows reads and writes through the session: in order
        spawned: list[str] = []
        if to_state != inst.state and wf.children_spawned_on(to_state, move.tag):
            spawned = self.children.spawn(tx.session, inst.id, inst.key, inst.period, wf, to_state, username)
        cascaded: list[str] = []
        if transition.cascade:
            why = {"cascade": {"parent": inst.key, "trigger": transition.trigger}}
            targets = move.targets
            if targets is None:  # a cascade of a cascaded child
                targets = tuple(self.children.cascade_targets(tx.session, inst, transition, data))
            for target in targets:  # children share their parent's period, so its tag
                self._apply(
                    tx,
                    Move(target.row, target.workflow, target.transition, move.tag),
                    username,
                    role,
                    reason,
                    why,
                    now,
                )
                cascaded.append(target.row.key)
        if transition.effects:
            effect = EffectContext(  # its session, if it asks for one, sends the writes first
                tx=tx, instance=inst, trigger=transition.trigger, actor=username, now=now
            )
            effects = self.catalog.registry.effects
            for name in transition.effects:
                effects[name](effect)
        return Moved(to_state, seq, tuple(spawned), tuple(cascaded))

    def _transition(self, wf: WorkflowDef, inst: InstanceRow, trigger: str, tag: str) -> TransitionDef:
        if trigger not in wf.triggers:
            raise UnknownTrigger(inst.key, trigger, inst.state, wf.triggers)
        transition = wf.transition(trigger, inst.state, tag)
        if transition is None:
            raise TransitionNotAllowed(
                inst.key, trigger, inst.state, [t.trigger for t in wf.allowed_from(inst.state, tag)]
            )
        if transition.by_parent:
            raise PermissionDenied(
                inst.key, trigger, inst.state, "-", f"{trigger!r} is fired only by the parent's cascade"
            )
        return transition

    def _guard_reads(self, key: str, trigger: str) -> dict[str, tuple[Statement, Mapping[str, Any]]]:
        reads = self.catalog.registry.guard_reads
        wanted = {name: reads[name](key) for name in self._watch.guards.get(trigger, ())}
        return {name: read for name, read in wanted.items() if read is not None}

    def _authorise(
        self,
        s: Session | Tx,
        wf: WorkflowDef,
        inst: InstanceRow,
        transition: TransitionDef,
        username: str,
        pre: Prefetched | None = None,
    ) -> str:
        # (active, role, organisation, service) per role held
        rows = pre.roles if pre else Tx.of(s).raw.rows(_ACTOR_ROLES, {"username": username})
        if not rows or not rows[0][0]:
            why = "no such actor" if not rows else "the actor is deactivated"
            raise PermissionDenied(inst.key, transition.trigger, inst.state, username, why)
        assignments = [
            Assignment(role=role, organisation=organisation, service=service)
            for _, role, organisation, service in rows
            if role
        ]
        watched = segregation_triggers(self.catalog.roles, wf.name, transition.trigger)
        if pre is not None and pre.prior is not None:
            prior = pre.prior & watched
        else:
            prior = audit.fired_by(s, inst.key, username, watched) if watched else set()
        decision = authorise(
            policy=self.catalog.roles,
            workflow=wf.name,
            transition=transition,
            actor=username,
            assignments=assignments,
            organisation=inst.organisation,
            service=inst.service,
            prior_triggers_by_actor=prior,
        )
        if decision.role is None:
            raise PermissionDenied(inst.key, transition.trigger, inst.state, username, decision.rule or "")
        return decision.role

    def _check_guards(
        self,
        tx: Tx,
        wf: WorkflowDef,
        inst: InstanceRow,
        transition: TransitionDef,
        reason: str | None,
        data: Mapping[str, Any],
        tag: str,
        prefetched: Mapping[str, list[Any]] | None = None,
    ) -> None:
        if transition.reason_required and not reason:
            raise GuardFailed(inst.key, transition.trigger, inst.state, "reason", "a reason is required")
        missing = [f for f in transition.fields if data.get(f) in (None, "")]
        if missing:
            raise GuardFailed(
                inst.key, transition.trigger, inst.state, "fields", f"missing field(s): {', '.join(missing)}"
            )
        waiting_on = wf.joined_by(transition.trigger)
        if not transition.guards and not waiting_on:
            return
        workflows = self.catalog.workflows
        ctx = GuardContext(
            tx=tx,
            instance=inst,
            workflow=wf,
            data=data,
            tag=tag,
            workflows=workflows,
            prefetched=prefetched or {},
        )
        if waiting_on:
            # A set's own join: the parent waits for those children; one refusal names it.
            why = join_problem(waiting_on, ctx.children, tag, workflows=workflows)
            if why is not None:
                raise GuardFailed(inst.key, transition.trigger, inst.state, "children_settled", why)
        guards = self.catalog.registry.guards
        for name in transition.guards:
            why = guards[name](ctx)
            if why is not None:
                raise GuardFailed(inst.key, transition.trigger, inst.state, name, why)

    # -- children -------------------------------------------------------------------------

    def add_child(
        self,
        s: Session,
        parent_key: str,
        workflow: str,
        prefix: str,
        context: dict[str, Any],
        *,
        by: str,
    ) -> str:
        """Start one ``workflow`` instance under ``parent_key`` (a Scrutiny action): see
        ``Children.add``."""
        return self.children.add(s, parent_key, workflow, prefix, context, by=by)

    # -- deadlines that follow a meeting ----------------------------------------------------

    def recompute_deadlines(self, s: Session, organisation_id: int, meeting_id: int, *, by: str) -> int:
        """Re-resolve every open deadline that depends on a meeting (after it moved); see
        ``pmf_engine.core.reschedule``."""
        return recompute_deadlines(
            s, self.timekeeper, self.stored, self.clock.now(), organisation_id, meeting_id, by=by
        )

    # -- helpers --------------------------------------------------------------------------

    def _audit(self, s: Session, record: audit.AuditRecord) -> int:
        return audit.record(s, record, self.clock.now())
