"""A person's agenda: every open instance where their roles allow a transition now, in one read.

``Engine.steps_for`` answers for one instance (a page's buttons); a to-do list asks for every
instance of every organisation a person works in, so it is answered here with a few queries
whatever their number: the person's roles once, the open instances of their organisations,
the triggers they fired before (only where a segregation-of-duties rule watches one), and the
open deadlines. Each offer is decided by ``permissions.authorise``, exactly as ``fire`` would
decide it (guards are checked only when fired, as on a page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.definition import RolesPolicy
from pmf_engine.core.directory import ACTOR_ROLES
from pmf_engine.core.period import parse_period
from pmf_engine.core.permissions import Assignment, authorise, segregation_triggers
from pmf_engine.core.store import Deadline, Instance, Organisation, Service
from pmf_engine.core.versions import Versions
from pmf_engine.core.views import NextStep
from pmf_engine.core.workdays import working_days_late


@dataclass(frozen=True)
class Offer:
    """An open instance and the steps the person may take on it, with its open deadline."""

    key: str
    organisation: str
    state: str
    state_label: str
    steps: tuple[NextStep, ...]
    due_at: datetime | None
    late_working_days: int


def agenda(s: Session, stored: Versions, policy: RolesPolicy, username: str, now: datetime) -> list[Offer]:
    """What ``username`` may do now, in every organisation they hold a role in."""
    rows = s.execute(ACTOR_ROLES, {"username": username}).all()
    if not rows or not rows[0][0]:  # no such actor, or deactivated
        return []
    assignments = [Assignment(role, org, service) for _, role, org, service in rows if role]
    organisations = sorted({a.organisation for a in assignments})
    if not organisations:
        return []
    instances = s.execute(
        select(
            Instance.id,
            Instance.key,
            Instance.state,
            Instance.period,
            Instance.workflow_version_id,
            Organisation.code,
            Organisation.holiday_subdivision,
            Service.code,
        )
        .join(Organisation, Organisation.id == Instance.organisation_id)
        .outerjoin(Service, Service.id == Instance.service_id)
        .where(Organisation.code.in_(organisations))
        .order_by(Instance.key)
    ).all()
    candidates = []
    for inst_id, key, state, period, version_id, org, subdivision, service in instances:
        wf = stored.by_id(s, version_id)
        if wf.states[state].terminal:
            continue
        offered = []
        for t in wf.allowed_from(state, parse_period(period).tag):
            if t.by_parent:
                continue
            watched = segregation_triggers(policy, wf.name, t.trigger)
            prior = audit.fired_by(s, key, username, watched) if watched else set()
            decision = authorise(
                policy=policy,
                workflow=wf.name,
                transition=t,
                actor=username,
                assignments=assignments,
                organisation=org,
                service=service,
                prior_triggers_by_actor=prior,
            )
            if decision.role is not None:
                offered.append(NextStep.of(t))
        if offered:
            candidates.append((inst_id, key, org, subdivision, state, wf.states[state].label, tuple(offered)))
    due = (
        dict(
            s.execute(
                select(Deadline.instance_id, Deadline.due_at).where(
                    Deadline.instance_id.in_([c[0] for c in candidates]), Deadline.closed_at.is_(None)
                )
            ).all()
        )
        if candidates
        else {}
    )
    offers = []
    for inst_id, key, org, subdivision, state, label, steps in candidates:
        due_at = due.get(inst_id)
        late = working_days_late(due_at, now, subdivision) if due_at is not None else 0
        offers.append(Offer(key, org, state, label, steps, due_at, late))
    return offers
