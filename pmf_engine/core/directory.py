"""The directory: organisations, their services, actors and the roles they hold, each change
audited in the same transaction.

The ``*_in`` methods do their change inside the caller's transaction, so a whole council set up
from one file (``pmf org init``) commits together or not at all. A leaver is deactivated with
their roles, pending reminders and assigned work handed over to someone (``deactivate``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, distinct, func, select
from sqlalchemy.orm import Session, selectinload

from pmf_engine.core import audit, leavers
from pmf_engine.core.clock import Clock
from pmf_engine.core.definition import RolesPolicy
from pmf_engine.core.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    NotNow,
    NotPermitted,
)
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.permissions import Assignment, permits
from pmf_engine.core.provenance import stamp
from pmf_engine.core.registry import PEOPLE_MANAGE
from pmf_engine.core.store import (
    Actor,
    Organisation,
    RoleAssignment,
    Service,
    Store,
    find_organisation,
)
from pmf_engine.core.workdays import SUBDIVISIONS


class Grant(NamedTuple):
    """A role to hold in an organisation (for one of its services if the role is scoped)."""

    role: str
    organisation: str
    service: str | None = None


class Directory:
    """Who and what an engine serves: organisations, services, actors and role grants."""

    def __init__(self, store: Store, clock: Clock, roles: RolesPolicy) -> None:
        self.store = store
        self.clock = clock
        self.roles = roles

    def add_organisation(
        self, code: str, name: str, *, subdivision: str = "ENG", by: str = "system"
    ) -> Organisation:
        """Register a council, with the nation (``subdivision``) whose bank holidays its working days skip."""
        check_code("organisation code", code)
        if subdivision not in SUBDIVISIONS:
            raise InvalidInput("subdivision", subdivision, f"must be one of {', '.join(SUBDIVISIONS)}")
        with self.store.write() as s:
            return self.organisation_in(s, code, name, subdivision=subdivision, by=by)

    def organisation_in(
        self, s: Session, code: str, name: str, *, subdivision: str = "ENG", by: str = "system"
    ) -> Organisation:
        """``add_organisation`` inside the caller's transaction (a council set up from one file)."""
        check_code("organisation code", code)
        if subdivision not in SUBDIVISIONS:
            raise InvalidInput("subdivision", subdivision, f"must be one of {', '.join(SUBDIVISIONS)}")
        if s.scalar(select(Organisation).where(Organisation.code == code)) is not None:
            raise AlreadyExists("organisation", code)
        org = Organisation(code=code, name=name, holiday_subdivision=subdivision, created_at=self.clock.now())
        s.add(org)
        audit.record(
            s,
            audit.AuditRecord(
                event="organisation.added",
                organisation=code,
                actor=by,
                data=stamp({"name": name, "holiday_subdivision": subdivision}),
            ),
            self.clock.now(),
        )
        return org

    def add_service(self, organisation: str, code: str, name: str, *, by: str = "system") -> Service:
        """Add a service to an organisation; every cycle from then on gives it a return of its own."""
        with self.store.write() as s:
            return self.service_in(s, find_organisation(s, organisation), code, name, by=by)

    def service_in(
        self, s: Session, org: Organisation, code: str, name: str, *, by: str = "system"
    ) -> Service:
        """``add_service`` inside the caller's transaction."""
        check_code("service code", code)
        if s.scalar(select(Service).where(Service.organisation_id == org.id, Service.code == code)):
            raise AlreadyExists("service", code, org.code)
        service = Service(organisation_id=org.id, code=code, name=name)
        s.add(service)
        audit.record(
            s,
            audit.AuditRecord(
                event="service.added",
                organisation=org.code,
                actor=by,
                data=stamp({"service": code, "name": name}),
            ),
            self.clock.now(),
        )
        return service

    def add_actor(
        self,
        username: str,
        name: str,
        *,
        email: str | None = None,
        grants: Sequence[Grant] = (),
        by: str = "system",
    ) -> Actor:
        """Add an active actor with the roles in ``grants``, all in one transaction: a bad role,
        organisation or service adds nobody. ``AlreadyExists`` if the username is taken."""
        for grant in grants:
            self.check_role(grant.role, grant.service)
        with self.store.write() as s:
            actor = self.actor_in(s, username, name, email=email, by=by)
            for grant in grants:
                self.grant_in(s, actor, grant, by)
        return actor

    def actor_in(
        self, s: Session, username: str, name: str, *, email: str | None = None, by: str = "system"
    ) -> Actor:
        """An active actor added inside the caller's transaction, with no roles yet."""
        check_code("username", username, pattern=_USERNAME)
        if username in RESERVED_NAMES:
            raise InvalidInput("username", username, "is reserved for the engine's own work")
        if s.scalar(select(Actor).where(Actor.username == username)) is not None:
            raise AlreadyExists("actor", username)
        actor = Actor(username=username, name=name, email=email, active=True, created_at=self.clock.now())
        s.add(actor)
        audit.record(
            s,
            audit.AuditRecord(
                event="actor.added",
                actor=by,
                data=stamp({"username": username, "name": name, "email": email}),
            ),
            self.clock.now(),
        )
        return actor

    def grant(
        self, username: str, role: str, organisation: str, *, service: str | None = None, by: str = "system"
    ) -> None:
        """Give ``username`` a role in an organisation (for one service if the role is scoped)."""
        self.check_role(role, service)
        with self.store.write() as s:
            self.grant_in(s, find_actor(s, username), Grant(role, organisation, service), by)

    def check_role(self, role: str, service: str | None) -> None:
        """``InvalidInput`` unless ``role`` is one of ``roles.yaml``, with a service exactly when
        it is held for one."""
        role_def = self.roles.roles.get(role)
        if role_def is None:
            raise InvalidInput("role", role, f"unknown role; known: {', '.join(self.roles.roles)}")
        if role_def.scope == "service" and service is None:
            raise InvalidInput("role", role, "held for one service: name the service")
        if role_def.scope == "organisation" and service is not None:
            raise InvalidInput("role", role, "covers the whole organisation: do not name a service")

    def grant_in(self, s: Session, actor: Actor, grant: Grant, by: str) -> bool:
        """Grant inside the caller's transaction; ``False`` when the actor held the role already."""
        self.check_role(grant.role, grant.service)
        org = find_organisation(s, grant.organisation)
        service_id = find_service(s, org, grant.service).id if grant.service else None
        exists = s.scalar(
            select(RoleAssignment.id).where(
                RoleAssignment.actor_id == actor.id,
                RoleAssignment.organisation_id == org.id,
                RoleAssignment.role == grant.role,
                RoleAssignment.service_id == service_id,
            )
        )
        if exists is not None:
            return False
        s.add(
            RoleAssignment(actor_id=actor.id, organisation_id=org.id, role=grant.role, service_id=service_id)
        )
        audit.record(
            s,
            audit.AuditRecord(
                event="role.granted",
                organisation=grant.organisation,
                actor=by,
                data=stamp({"username": actor.username, "role": grant.role, "service": grant.service}),
            ),
            self.clock.now(),
        )
        return True

    def revoke(
        self,
        username: str,
        role: str,
        organisation: str,
        *,
        service: str | None = None,
        by: str,
        reason: str | None = None,
    ) -> None:
        """Take a role away from ``username`` (audited); ``NotFound`` if they do not hold it."""
        self.check_role(role, service)
        with self.store.write() as s:
            self.revoke_in(s, find_actor(s, username), Grant(role, organisation, service), by, reason)
            if role in self.roles.roles_permitted(PEOPLE_MANAGE):
                self._keep_an_administrator(s, [organisation])

    def revoke_in(self, s: Session, actor: Actor, grant: Grant, by: str, reason: str | None = None) -> None:
        """``revoke`` inside the caller's transaction."""
        held = next(
            (
                r
                for r in actor.roles
                if r.role == grant.role
                and r.organisation.code == grant.organisation
                and (r.service.code if r.service else None) == grant.service
            ),
            None,
        )
        if held is None:
            where = grant.organisation + (f"/{grant.service}" if grant.service else "")
            raise NotFound("role held", f"{actor.username} {grant.role}@{where}")
        s.delete(held)
        audit.record(
            s,
            audit.AuditRecord(
                event="role.revoked",
                organisation=grant.organisation,
                actor=by,
                reason=reason,
                data=stamp({"username": actor.username, "role": grant.role, "service": grant.service}),
            ),
            self.clock.now(),
        )

    def deactivate(
        self, username: str, *, by: str, handover: str | None = None, reason: str | None = None
    ) -> leavers.Handover:
        """A leaver: ``username`` may no longer act or sign in; each role they held is taken
        away and, with ``handover``, given to that (active) actor; with it too the reminders and
        escalations still to be sent to them, and the open instances (Scrutiny actions) they
        are the assignee of. Without ``handover`` a leaver who is the assignee of open work is
        refused (the work would be chased to nobody). One transaction, every change audited."""
        if handover == username:
            raise InvalidInput("handover", handover, "hand the work to someone else")
        with self.store.write() as s:
            leaver = find_actor(s, username)
            if not leaver.active:
                raise NotNow(f"{username} is deactivated already")
            heir = find_actor(s, handover) if handover else None
            if heir is not None and not heir.active:
                raise InvalidInput("handover", handover, "is deactivated: hand the work to an active actor")
            owned = leavers.assigned_open_work(s, username)
            if owned and heir is None:
                raise NotNow(
                    f"{username} is the assignee of open work ({', '.join(k for k, _ in owned)}): "
                    "name who takes it over (--handover USER)"
                )
            grants = [Grant(a.role, a.organisation, a.service) for a in assignments(leaver)]
            for grant in grants:
                self.revoke_in(s, leaver, grant, by, reason or "deactivated")
            s.flush()
            s.expire(leaver, ["roles"])
            given = [g for g in grants if heir is not None and self.grant_in(s, heir, g, by)]
            moved = leavers.hand_over_steps(s, username, handover)
            for key, instance_id in owned:
                assert handover is not None  # refused above otherwise
                leavers.reassign(s, instance_id, handover)
                audit.record(
                    s,
                    audit.AuditRecord(
                        event="instance.reassigned",
                        organisation=InstanceKey.organisation_of(key),
                        instance=key,
                        actor=by,
                        reason=reason,
                        data=stamp({"from": username, "to": handover}),
                    ),
                    self.clock.now(),
                )
            leaver.active = False
            s.flush()
            managers = self.roles.roles_permitted(PEOPLE_MANAGE)
            self._keep_an_administrator(s, sorted({g.organisation for g in grants if g.role in managers}))
            done = leavers.Handover(
                username=username,
                to=handover,
                roles_revoked=len(grants),
                roles_given=len(given),
                steps_redirected=moved,
                reassigned=tuple(k for k, _ in owned),
            )
            audit.record(
                s,
                audit.AuditRecord(
                    event="actor.deactivated",
                    actor=by,
                    reason=reason,
                    data=stamp(
                        {
                            "username": username,
                            "handover": handover,
                            "roles": [list(g) for g in grants],
                            "steps_redirected": moved,
                            "reassigned": list(done.reassigned),
                        }
                    ),
                ),
                self.clock.now(),
            )
        return done

    def _keep_an_administrator(self, s: Session, organisations: Sequence[str]) -> None:
        """``NotNow`` (the change rolls back) if one of ``organisations``, where a role holding
        ``people.manage`` is being taken away, has nobody active left holding one: nobody could
        then grant a role there again."""
        managers = self.roles.roles_permitted(PEOPLE_MANAGE)
        for code in organisations:
            left = s.scalar(
                select(func.count())
                .select_from(RoleAssignment)
                .join(Actor, Actor.id == RoleAssignment.actor_id)
                .join(Organisation, Organisation.id == RoleAssignment.organisation_id)
                .where(Organisation.code == code, Actor.active.is_(True), RoleAssignment.role.in_(managers))
            )
            if not left:
                raise NotNow(
                    f"nobody would be left holding {PEOPLE_MANAGE} in {code}: grant "
                    f"{' or '.join(managers)} to someone else first (or --handover to them)"
                )

    def organisations(self) -> list[tuple[Organisation, int, int]]:
        """Every organisation, by code, with how many services and actors holding a role it has."""
        with self.store.read() as s:
            services = dict(
                s.execute(
                    select(Service.organisation_id, func.count()).group_by(Service.organisation_id)
                ).all()
            )
            people = dict(
                s.execute(
                    select(RoleAssignment.organisation_id, func.count(distinct(RoleAssignment.actor_id)))
                    .join(Actor, Actor.id == RoleAssignment.actor_id)
                    .where(Actor.active.is_(True))
                    .group_by(RoleAssignment.organisation_id)
                ).all()
            )
            orgs = s.scalars(select(Organisation).order_by(Organisation.code)).all()
            return [(o, int(services.get(o.id, 0)), int(people.get(o.id, 0))) for o in orgs]

    def services(self, organisation: str) -> list[Service]:
        """The services of ``organisation``, by code; ``NotFound`` for an unknown organisation."""
        with self.store.read() as s:
            return list(find_organisation(s, organisation).services)

    def authorise(self, username: str, permission: str, organisation: str | None = None) -> str:
        """The role in which ``username``, an existing active actor, holds the administration
        ``permission`` of ``roles.yaml`` in ``organisation`` (in any organisation when ``None``);
        ``NotPermitted`` otherwise. ``system`` is the worker's and the migrations' name, never a
        person's: it is refused here."""
        if username in RESERVED_NAMES or ":" in username:
            raise NotPermitted(
                username, permission, organisation, f"{username!r} is for the worker and migrations only"
            )
        with self.store.read() as s:
            if organisation is not None:
                find_organisation(s, organisation)  # NotFound for a mistyped code, not a refusal
            rows = s.execute(ACTOR_ROLES, {"username": username}).all()
        if not rows:
            raise NotPermitted(username, permission, organisation, f"there is no actor {username!r}")
        decision = permits(
            policy=self.roles,
            permission=permission,
            actor=username,
            active=bool(rows[0].active),
            assignments=[Assignment(r.role, r.organisation, r.service) for r in rows if r.role is not None],
            organisation=organisation,
        )
        if decision.role is None:
            raise NotPermitted(username, permission, organisation, decision.rule or "not permitted")
        return decision.role

    def authorise_self(self, username: str) -> None:
        """``username`` is an existing active actor (looking after their own sign-in), else
        ``NotPermitted``."""
        if username in RESERVED_NAMES or ":" in username:
            raise NotPermitted(username, "self", None, f"{username!r} is for the worker and migrations only")
        with self.store.read() as s:
            active = s.scalar(select(Actor.active).where(Actor.username == username))
        if not active:
            why = f"there is no actor {username!r}" if active is None else f"{username!r} is deactivated"
            raise NotPermitted(username, "self", None, why)

    def holders(self, permission: str, organisation: str | None = None) -> list[str]:
        """The active actors holding ``permission`` in ``organisation`` (anywhere when ``None``)."""
        roles = self.roles.roles_permitted(permission)
        query = (
            select(Actor.username)
            .join(RoleAssignment, RoleAssignment.actor_id == Actor.id)
            .join(Organisation, Organisation.id == RoleAssignment.organisation_id)
            .where(Actor.active.is_(True), RoleAssignment.role.in_(roles))
            .distinct()
            .order_by(Actor.username)
        )
        if organisation is not None:
            query = query.where(Organisation.code == organisation)
        with self.store.read() as s:
            return list(s.scalars(query))

    def actors(self) -> list[tuple[Actor, list[Assignment]]]:
        """Every actor, by username, with the roles they hold."""
        with self.store.read() as s:
            rows = s.scalars(
                select(Actor)
                .options(
                    selectinload(Actor.roles).joinedload(RoleAssignment.organisation),
                    selectinload(Actor.roles).joinedload(RoleAssignment.service),
                )
                .order_by(Actor.username)
            ).all()
            return [(a, assignments(a)) for a in rows]


BOOTSTRAP = "bootstrap"
"""Who the first administrator's set-up is audited as (with the operating-system user)."""
RESERVED_NAMES = frozenset({"system", BOOTSTRAP})
"""Names no person may have or act as: ``system`` is the worker's and the migrations', and
``bootstrap`` the set-up of a deployment or organisation without an administrator."""

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def check_code(what: str, value: str, *, pattern: re.Pattern[str] = _CODE) -> None:
    """Codes become parts of instance keys (``ORG/PERIOD/SERVICE``) and audit chain names."""
    if not pattern.match(value):
        raise InvalidInput(what, value, "must be letters, digits, '-' or '_' (up to 32), no '/' or spaces")


def assignments(actor: Actor) -> list[Assignment]:
    """The roles an actor holds, as the permission check reads them."""
    return [
        Assignment(
            role=r.role, organisation=r.organisation.code, service=r.service.code if r.service else None
        )
        for r in actor.roles
    ]


def find_service(s: Session, org: Organisation, code: str) -> Service:
    """The service ``code`` of ``org``; ``NotFound`` if there is none."""
    service = s.scalar(select(Service).where(Service.organisation_id == org.id, Service.code == code))
    if service is None:
        raise NotFound("service", f"{org.code}/{code}")
    return service


def find_actor(s: Session, username: str) -> Actor:
    """The actor ``username`` with their roles loaded; ``NotFound`` if there is none."""
    actor = s.scalar(
        select(Actor)
        .where(Actor.username == username)
        .options(
            selectinload(Actor.roles).joinedload(RoleAssignment.organisation),
            selectinload(Actor.roles).joinedload(RoleAssignment.service),
        )
    )
    if actor is None:
        raise NotFound("actor", username)
    return actor


# An actor's active flag and every role they hold, with organisation and service codes.
ACTOR_ROLES = (
    select(
        Actor.active,
        RoleAssignment.role,
        Organisation.code.label("organisation"),
        Service.code.label("service"),
    )
    .select_from(Actor)
    .outerjoin(RoleAssignment, RoleAssignment.actor_id == Actor.id)
    .outerjoin(Organisation, Organisation.id == RoleAssignment.organisation_id)
    .outerjoin(Service, Service.id == RoleAssignment.service_id)
    .where(Actor.username == bindparam("username"))
)
