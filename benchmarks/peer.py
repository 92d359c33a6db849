"""The naive peer: the same transition written plainly with ``transitions`` and the SQLAlchemy ORM.

What a competent developer would write without tuning anything: read the workflow YAML, and for
each fire load the instance as an ORM object, check the actor's roles with an ORM query (and
the segregation rule's prior triggers, and the join's children), build a ``transitions``
machine on a model and trigger it, close the open deadline and cancel its pending steps as ORM
objects, add the new deadline and its steps, update the instance, lock the chain head and add a
SHA-256-chained audit row, and log one JSON line. Same database schema and durability settings
as the project (it uses the project's tables and ``make_engine``), same rows written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from transitions import Machine

from pmf_engine.core.clock import SystemClock
from pmf_engine.core.connections import make_engine
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    AuditHead,
    Deadline,
    Instance,
    RoleAssignment,
    Step,
)

log = structlog.get_logger("peer")
STEP_OFFSETS = (("reminder", 1, -1), ("escalation", 1, 0), ("escalation", 2, 3), ("escalation", 3, 5))
"""Four steps per deadline, as the project writes for these states: (kind, rung, days from due)."""


class Refused(Exception):
    """The peer refused a transition."""


@dataclass
class Flow:
    """One workflow as read from its YAML."""

    name: str
    states: list[str]
    terminal: set[str]
    transitions: list[dict[str, Any]]
    by_trigger: dict[str, dict[str, Any]]
    joins: dict[str, list[str]] = field(default_factory=dict)
    """trigger -> the settled states its children must all be in."""


class _Model:
    state: str


def _load(workflows: Path, policies: Path) -> tuple[dict[str, Flow], dict[tuple[str, str], list[str]]]:
    flows: dict[str, Flow] = {}
    for path in sorted(workflows.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        transitions = [
            {"trigger": t["trigger"], "source": t["source"], "dest": t["dest"]} for t in doc["transitions"]
        ]
        flow = Flow(
            doc["name"],
            list(doc["states"]),
            {name for name, st in doc["states"].items() if st.get("terminal")},
            transitions,
            {t["trigger"]: t for t in doc["transitions"]},
        )
        for child in doc.get("children", []):
            for trigger in child.get("join", []):
                flow.joins[trigger] = list(child["settled"])
        flows[flow.name] = flow
    roles = yaml.safe_load((policies / "roles.yaml").read_text())
    segregation = {(r["workflow"], r["trigger"]): list(r["not_after"]) for r in roles.get("segregation", [])}
    return flows, segregation


class NaivePeer:
    """Fires transitions the plain way (see the module's docstring)."""

    def __init__(self, url: str, workflows: Path, policies: Path) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.flows, self.segregation = _load(workflows, policies)
        self.clock = SystemClock()

    def fire(self, key: str, trigger: str, actor: str, reason: str | None = None) -> str:
        """Fire ``trigger`` on ``key`` as ``actor``; the new state."""
        with self.sessions() as s, s.begin():
            new_state = self._fire(s, key, trigger, actor, reason)
        log.info("transition.fired", instance=key, trigger=trigger, actor=actor, to_state=new_state)
        return new_state

    def _fire(self, s: Session, key: str, trigger: str, actor: str, reason: str | None) -> str:
        inst = s.scalars(select(Instance).where(Instance.key == key).with_for_update()).one()
        flow = self.flows[inst.workflow_version.name]
        spec = flow.by_trigger.get(trigger)
        if spec is None:
            raise Refused(f"unknown trigger {trigger}")
        who = s.scalars(select(Actor).where(Actor.username == actor)).one()
        if not who.active:
            raise Refused("inactive")
        held = s.scalars(
            select(RoleAssignment).where(
                RoleAssignment.actor_id == who.id, RoleAssignment.organisation_id == inst.organisation_id
            )
        ).all()
        role = next(
            (
                r.role
                for r in held
                if r.role in spec.get("roles", [])
                and (r.service_id is None or r.service_id == inst.service_id)
            ),
            None,
        )
        if role is None:
            raise Refused("not permitted")
        not_after = self.segregation.get((flow.name, trigger))
        if not_after:
            earlier = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.instance == key,
                    AuditEntry.actor == actor,
                    AuditEntry.trigger.in_(not_after),
                )
            ).first()
            if earlier is not None:
                raise Refused("segregation of duties")
        if spec.get("reason_required") and not reason:
            raise Refused("a reason is required")
        settled = flow.joins.get(trigger)
        if settled:
            children = s.scalars(select(Instance).where(Instance.parent_id == inst.id)).all()
            if any(c.state not in settled for c in children):
                raise Refused("children not settled")
        model = _Model()
        Machine(
            model=model,
            states=flow.states,
            transitions=flow.transitions,
            initial=inst.state,
            auto_transitions=False,
        )
        from_state = inst.state
        getattr(model, trigger)()  # MachineError if not allowed from this state
        to_state = model.state
        now = self.clock.now()
        for deadline in s.scalars(
            select(Deadline).where(Deadline.instance_id == inst.id, Deadline.closed_at.is_(None))
        ):
            deadline.closed_at = now
            for step in s.scalars(
                select(Step).where(Step.deadline_id == deadline.id, Step.status == "pending")
            ):
                step.status = "cancelled"
        if to_state not in flow.terminal:
            due = now + timedelta(days=3)
            holders = sorted(
                s.scalars(
                    select(Actor.username)
                    .join(RoleAssignment, RoleAssignment.actor_id == Actor.id)
                    .where(
                        RoleAssignment.organisation_id == inst.organisation_id,
                        RoleAssignment.role.in_(
                            ["service_manager", "performance_officer", "head_of_service"]
                        ),
                    )
                )
            )
            deadline = Deadline(
                instance_id=inst.id,
                organisation_id=inst.organisation_id,
                state=to_state,
                rule="entered + 3 days",
                due_at=due,
                meeting_ids=[],
                opened_at=now,
            )
            s.add(deadline)
            s.flush()
            for kind, rung, days in STEP_OFFSETS:
                s.add(
                    Step(
                        deadline_id=deadline.id,
                        instance_id=inst.id,
                        organisation_id=inst.organisation_id,
                        kind=kind,
                        rung=rung,
                        due_at=due + timedelta(days=days),
                        recipients=holders[:3],
                        status="pending",
                    )
                )
        inst.state = to_state
        inst.version += 1
        inst.entered_at = now
        chain = inst.organisation.code
        head = s.get(AuditHead, chain, with_for_update=True)
        if head is None:
            head = AuditHead(chain=chain, chain_seq=0, hash="0" * 64, at="")
            s.add(head)
        at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = {
            "chain": chain,
            "chain_seq": head.chain_seq + 1,
            "at": at,
            "organisation": chain,
            "instance": key,
            "event": "fired",
            "trigger": trigger,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "role": role,
            "reason": reason,
            "data": "{}",
            "prev_hash": head.hash,
        }
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        s.add(AuditEntry(**fields, hash=digest, alg="sha256/2"))
        head.chain_seq += 1
        head.hash = digest
        head.at = at
        return to_state

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()
