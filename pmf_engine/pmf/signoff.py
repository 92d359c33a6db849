"""The head of service's sign-off of a service's return, before it is accepted.

``quality.signing`` in ``policies/framework.yaml`` names the service-scoped role whose holder
for the return's service signs off (``head_of_service``), the states of the return in which it
may (``submitted``), and the working days after submission within which it is on time. The
guard ``signed_off``, named on the accept transition of ``workflows/service_return.yaml``,
holds once the return as it now stands (since it entered its state) has a sign-off.

A service for which no active actor holds the role has no one who could sign off: the guard
refuses to accept its return, naming the service and the role, so that the performance team
assigns one (``pmf actor grant``). Only where ``quality.signing.accept_without_holder`` says
so explicitly is such a return accepted unsigned; the effect ``record_unsigned`` then puts a
``return.accepted_unsigned`` entry in the audit log, and the assurance summary counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from pmf_engine.core import audit, refusals
from pmf_engine.core.clock import london
from pmf_engine.core.errors import NotFound, NotNow, PermissionDenied
from pmf_engine.core.instances import InstanceKey, InstanceRow
from pmf_engine.core.provenance import stamp
from pmf_engine.core.raw import Statement
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    Instance,
    Organisation,
    RoleAssignment,
    WorkflowVersion,
    roles_held,
)
from pmf_engine.core.tx import Tx
from pmf_engine.core.workdays import WorkingDays
from pmf_engine.pmf.assurance_models import ReturnSignOff
from pmf_engine.pmf.policy import SignOffPolicy
from pmf_engine.pmf.reporting import StoreService, audit_cycle
from pmf_engine.pmf.words import joined, stored_state_label

_signed_since_entry = (
    select(ReturnSignOff.id)
    .where(ReturnSignOff.instance_id == Instance.id, ReturnSignOff.submitted_at >= Instance.entered_at)
    .exists()
)
_holders_count = (
    select(func.count())
    .select_from(RoleAssignment)
    .join(Actor, Actor.id == RoleAssignment.actor_id)
    .where(
        RoleAssignment.organisation_id == Instance.organisation_id,
        RoleAssignment.service_id == Instance.service_id,
        RoleAssignment.role == bindparam("role"),
        Actor.active.is_(True),
    )
    .correlate(Instance)
    .scalar_subquery()
)
_SIGN_OFF_BY_KEY = Statement(
    select(_signed_since_entry, _holders_count).where(Instance.key == bindparam("key"))
)
"""(signed since the return entered its state, active holders of the signing role for its
service) for the return ``key`` and the signing ``role``."""

SIGNED_OFF = "signed_off"
"""The guard's name, as workflows name it on the transition that accepts a return."""


def sign_off_reads(key: str, policy: SignOffPolicy | None) -> tuple[Statement, dict[str, Any]] | None:
    """The guard's one read for return ``key``, declared so that ``Engine.fire`` sends it with
    its first round trip (``Registry.guard(reads=)``): whether the return has a sign-off since
    it entered its state, and how many active actors could give one. ``None`` (nothing to
    read) when no sign-off is asked for or ``key`` is not a service's return."""
    if policy is None or InstanceKey.parse(key).child is None:
        return None
    return _SIGN_OFF_BY_KEY, {"key": key, "role": policy.role}


def sign_off_problem(
    s: Session | Tx, inst: InstanceRow, policy: SignOffPolicy | None, rows: list[Any] | None = None
) -> str | None:
    """Why return ``inst`` may not be accepted yet for want of a sign-off, or ``None``. One
    query, unless ``rows`` (what ``sign_off_reads`` read with the fire's first round trip) are
    given."""
    if inst.service_id is None or policy is None:
        return None
    if rows is None:
        rows = Tx.of(s).raw.rows(_SIGN_OFF_BY_KEY, {"key": inst.key, "role": policy.role})
    signed, heads = rows[0] if rows else (False, 0)
    if signed:
        return None
    role = policy.role.replace("_", " ")
    if not heads:
        if policy.accept_without_holder:
            return None
        organisation = inst.key.split("/", 1)[0]
        return (
            f"the {inst.service} return cannot be accepted: no one holds the {role} role for "
            f"{inst.service}, so no one can sign it off; the performance team assigns one first "
            f"(pmf actor grant USER {policy.role}:{organisation}:{inst.service}), or framework.yaml "
            "sets quality.signing.accept_without_holder: true to accept such returns unsigned"
        )
    return (
        f"the {inst.service} return needs the sign-off of its {role} first (pmf quality sign-off {inst.key})"
    )


def record_unsigned(
    s: Session, inst: InstanceRow, policy: SignOffPolicy | None, actor: str, now: datetime
) -> None:
    """The effect ``record_unsigned`` on a return's acceptance: where it was accepted without a
    sign-off (only ``accept_without_holder`` lets it), a ``return.accepted_unsigned`` entry names
    the role no one held, in the same transaction as the acceptance. Without that option every
    accepted return was signed off (the guard saw to it): nothing is read."""
    if inst.service_id is None or policy is None or not policy.accept_without_holder or _signed(s, inst):
        return
    audit.record(
        s,
        audit.AuditRecord(
            event="return.accepted_unsigned",
            organisation=InstanceKey.organisation_of(inst.key),
            instance=inst.key,
            actor=actor,
            data=stamp(
                {
                    "role": policy.role,
                    "service": inst.service,
                    "why": "no one held the role; quality.signing.accept_without_holder allows it",
                }
            ),
        ),
        now,
    )


def _signed(s: Session, inst: InstanceRow) -> bool:
    """Whether return ``inst`` as it stands (since it entered its state) is signed off."""
    return (
        s.scalar(
            select(ReturnSignOff.id)
            .where(ReturnSignOff.instance_id == inst.id, ReturnSignOff.submitted_at >= inst.entered_at)
            .limit(1)
        )
        is not None
    )


def _mover(s: Session, inst: Instance) -> str | None:
    """Who fired the transition that brought return ``inst`` into its state (its submitter)."""
    organisation = inst.key.split("/", 1)[0]
    return s.scalar(
        select(AuditEntry.actor)
        .where(
            AuditEntry.chain == organisation,
            AuditEntry.instance == inst.key,
            AuditEntry.event == "fired",
            AuditEntry.to_state == inst.state,
        )
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )


def holders(s: Session, organisation_id: int, service_id: int, role: str) -> list[str]:
    """The active actors holding ``role`` for ``service_id``."""
    return list(
        s.scalars(
            select(Actor.username)
            .join(RoleAssignment, RoleAssignment.actor_id == Actor.id)
            .where(
                RoleAssignment.organisation_id == organisation_id,
                RoleAssignment.role == role,
                RoleAssignment.service_id == service_id,
                Actor.active.is_(True),
            )
            .order_by(Actor.username)
        )
    )


@dataclass(frozen=True)
class SignedOff:
    """A return's sign-off as given: which return, by whom, when, in which role, the submission
    it signs (when the return entered its state) and whether it came late."""

    key: str
    signed_by: str
    signed_at: datetime
    role: str
    submitted_at: datetime
    late: bool


Then = Callable[[Session, SignedOff], None]
"""Something more to do in the sign-off's transaction, with the sign-off (the API stores its
answer to an ``Idempotency-Key`` there): it commits with it, or neither does."""


def is_late(submitted: datetime, signed: datetime, within: int, subdivision: str) -> bool:
    """Whether a sign-off at ``signed`` is more than ``within`` working days after ``submitted``."""
    return london(signed).date() > WorkingDays(subdivision).add(london(submitted).date(), within)


class SignOffs(StoreService):
    """Signing off services' returns."""

    @property
    def policy(self) -> SignOffPolicy:
        """Who signs off, when, and within how long (``quality.signing``)."""
        policy = self.policies.framework.quality.signing
        if policy is None:
            raise NotNow("framework.yaml sets no quality.signing: returns are not signed off")
        return policy

    def sign_off(self, key: str, *, by: str) -> bool:
        """Sign off return ``key`` (``ORG/PERIOD/SERVICE``) as ``by``, who must hold the sign-off
        role for its service, while it is in a sign-off state; audited (a refusal too, like a
        refused fire). Whether it was late."""
        return self.give(key, by=by).late

    def give(self, key: str, *, by: str, then: Then | None = None) -> SignedOff:
        """``sign_off``, answering with the sign-off as given; ``then`` runs in its transaction
        (the web's form, the CLI and the API all sign off through here)."""
        try:
            return self._sign_off(key, by, then)
        except PermissionDenied as refusal:
            refusals.record(self.store, self.clock, refusal, by, None, {})
            raise

    def _sign_off(self, key: str, by: str, then: Then | None) -> SignedOff:
        now = self.clock.now()
        with self.store.write() as s:
            found = s.execute(
                select(Instance, WorkflowVersion.name, Organisation.holiday_subdivision)
                .add_columns(WorkflowVersion.source_text)
                .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                .join(Organisation, Organisation.id == Instance.organisation_id)
                .where(Instance.key == key)
            ).one_or_none()
            if found is None or found[0].service_id is None:
                raise NotFound("service return", key)
            inst, workflow, subdivision, source = found
            if (self.policy.role, inst.service_id) not in roles_held(s, by, inst.organisation_id):
                why = f"needs {self.policy.role} for the return's service"
                raise PermissionDenied(key, "sign_off_return", inst.state, by, why)
            if inst.state not in self.policy.states.get(workflow, ()):
                states = self.policy.states.get(workflow, ())
                allowed = joined(stored_state_label(source, state) for state in states) or "no state"
                now_at = stored_state_label(source, inst.state)
                raise NotNow(f"the {key} return is {now_at}: it is signed off when {allowed}")
            if self.policy.by_another and by == _mover(s, inst):
                why = "quality.signing.by_another: whoever submitted a return may not sign it off"
                raise PermissionDenied(key, "sign_off_return", inst.state, by, why)
            already = s.scalar(
                select(ReturnSignOff.id).where(
                    ReturnSignOff.instance_id == inst.id, ReturnSignOff.submitted_at >= inst.entered_at
                )
            )
            if already is not None:
                raise NotNow(f"the {key} return as submitted is already signed off")
            late = is_late(inst.entered_at, now, self.policy.within, subdivision)
            s.add(
                ReturnSignOff(
                    instance_id=inst.id,
                    role=self.policy.role,
                    signed_by=by,
                    signed_at=now,
                    submitted_at=inst.entered_at,
                    late=late,
                )
            )
            data = {"role": self.policy.role, "submitted_at": inst.entered_at.isoformat(), "late": late}
            audit_cycle(s, inst, "return.signed_off", by, data, now)
            signed = SignedOff(key, by, now, self.policy.role, inst.entered_at, late)
            if then is not None:
                then(s, signed)
        return signed
