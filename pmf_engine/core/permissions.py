"""Who may fire what and administer what: roles, their scope, segregation of duties and the
permissions of ``roles.yaml``, decided from values.

The engine gathers the facts (the actor's role assignments, who fired what before on the
instance) and this module decides, returning the role the actor acts in or the rule that
forbids it. Nothing here touches the database, so every rule is tested as a table.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pmf_engine.core.definition import RolesPolicy, SegregationRule, TransitionDef


@dataclass(frozen=True, slots=True)
class Assignment:
    """A role an actor holds in an organisation; ``service`` is set when the role is held for one service."""

    role: str
    organisation: str
    service: str | None = None

    def __str__(self) -> str:
        return f"{self.role} ({self.service})" if self.service else self.role


@dataclass(frozen=True, slots=True)
class Decision:
    """Either ``role`` (allowed, acting in that role) or ``rule`` (why it is refused)."""

    role: str | None = None
    rule: str | None = None

    @property
    def allowed(self) -> bool:
        """True when the actor may fire the transition; ``role`` then says in which role they act."""
        return self.role is not None


def authorise(
    *,
    policy: RolesPolicy,
    workflow: str,
    transition: TransitionDef,
    actor: str,
    assignments: Sequence[Assignment],
    organisation: str,
    service: str | None,
    prior_triggers_by_actor: Collection[str] = (),
) -> Decision:
    """Decide whether ``actor`` may fire ``transition`` on an instance of ``organisation``
    (and of ``service`` for a child instance such as a service return).

    ``prior_triggers_by_actor`` holds the triggers this actor has already fired on this
    instance; segregation-of-duties rules are checked against it.
    """
    in_org = [a for a in assignments if a.organisation == organisation]
    wanted = [a for a in in_org if a.role in transition.roles]
    if not wanted:
        holds = ", ".join(str(a) for a in in_org) or "no roles"
        return Decision(
            rule=f"{transition.trigger!r} needs one of {', '.join(transition.roles)} in "
            f"{organisation}; {actor!r} holds {holds}"
        )
    in_scope = [a for a in wanted if _in_scope(policy, a, service)]
    if not in_scope:
        mine = ", ".join(str(a) for a in wanted)
        target = f"service {service}" if service else f"the whole of {organisation}"
        return Decision(rule=f"scope: {actor!r} is {mine} only; this instance belongs to {target}")
    for rule in _segregation(policy, workflow, transition.trigger):
        clash = sorted(set(rule.not_after) & set(prior_triggers_by_actor))
        if clash:
            why = f" ({rule.description})" if rule.description else ""
            return Decision(
                rule=f"segregation of duties {rule.name!r}: {actor!r} already fired "
                f"{', '.join(clash)} here{why}"
            )
    return Decision(role=in_scope[0].role)


def permits(
    *,
    policy: RolesPolicy,
    permission: str,
    actor: str,
    active: bool,
    assignments: Sequence[Assignment],
    organisation: str | None,
) -> Decision:
    """Decide whether ``actor`` holds the administration ``permission`` in ``organisation`` (in
    any organisation when ``None``): an active actor with a role ``roles.yaml`` gives it to."""
    if not active:
        return Decision(rule=f"{actor!r} is deactivated")
    roles = policy.roles_permitted(permission)
    where = organisation or "any organisation"
    if not roles:
        return Decision(rule=f"roles.yaml gives {permission!r} to no role")
    held = [a for a in assignments if a.role in roles and organisation in (None, a.organisation)]
    if not held:
        holds = ", ".join(f"{a}@{a.organisation}" for a in assignments) or "no roles"
        return Decision(
            rule=f"{permission!r} needs one of {', '.join(roles)} in {where}; {actor!r} holds {holds}"
        )
    return Decision(role=held[0].role)


def segregation_triggers(policy: RolesPolicy, workflow: str, trigger: str) -> set[str]:
    """Triggers whose earlier firing by the same actor would forbid ``trigger``."""
    return {t for rule in _segregation(policy, workflow, trigger) for t in rule.not_after}


def _segregation(policy: RolesPolicy, workflow: str, trigger: str) -> list[SegregationRule]:
    return [r for r in policy.segregation if r.workflow == workflow and r.trigger == trigger]


def _in_scope(policy: RolesPolicy, assignment: Assignment, service: str | None) -> bool:
    role = policy.roles.get(assignment.role)
    if role is None or role.read_only:
        return False
    if role.scope == "organisation":
        return True
    return assignment.service is not None and assignment.service == service
