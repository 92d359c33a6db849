"""``framework.yaml``'s ``targets`` and ``plans``: the stages that agree and revise targets, and
the service plans' round, workflow, writers, sections and statuses."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from pmf_engine.core.definition import Name
from pmf_engine.pmf.policy._base import _Policy


class TargetStage(_Policy):
    """One stage of agreeing a target: its name as people say it, and the roles that decide."""

    stage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    roles: tuple[Name, ...] = Field(min_length=1)
    """Organisation-wide roles, any of which agrees or sends back at this stage."""


class TargetsPolicy(_Policy):
    """The target lifecycle (``target_setting``): who proposes a measure's annual target (the
    roles of ``reporting``: any service's, or their own service's), the stages that agree it in
    turn, and the stages that approve a mid-year revision. Nobody decides a target they
    proposed, nor at two stages of the same one."""

    agreed_by: tuple[TargetStage, ...] = Field(min_length=1)
    revised_by: tuple[TargetStage, ...] = Field(min_length=1)

    def stages(self, kind: str) -> tuple[TargetStage, ...]:
        """The stages of an ``original`` target or a ``revision``."""
        return self.revised_by if kind == "revision" else self.agreed_by


class PlansPolicy(_Policy):
    """Service plans (``pmf.plans``): the yearly round started per organisation and its per-service
    plan workflow, who writes a plan (their own service's, or any), in which states of the plan
    it may change, its sections beside the self-evaluation, the statuses an action is reported
    at each quarter (and which need a note), and the register of ``risk.yaml`` a plan's
    operational risks go on."""

    round: Name
    workflow: Name
    own_service: tuple[Name, ...] = ()
    any_service: tuple[Name, ...] = ()
    editable_in: tuple[Name, ...] = Field(min_length=1)
    sections: dict[Name, Annotated[str, StringConstraints(min_length=1, max_length=80)]] = {}
    action_statuses: tuple[Name, ...] = Field(min_length=1)
    note_statuses: tuple[Name, ...] = ()
    done_statuses: tuple[Name, ...] = ()
    """Statuses that end an action: once reported, later returns owe no status for it (the
    guard ``plan_actions_reported``, which a return's submit may name)."""
    risk_register: Name
    """The register (``risk.yaml`` ``registers``) a plan's operational risks are entries of,
    scored, reviewed and escalated as every risk there is."""

    def may_write(self, held: set[tuple[str, int | None]], service_id: int | None) -> bool:
        """Whether roles ``held`` (role, service id) write the plan of ``service_id``."""
        if any((role, None) in held for role in self.any_service):
            return True
        return service_id is not None and any((role, service_id) in held for role in self.own_service)
