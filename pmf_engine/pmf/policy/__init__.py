"""The framework's own policy (``policies/framework.yaml``): every name its code relies on.

Which roles report figures (for any service, or their own), in which states of a service's
return figures may change, which workflow records Scrutiny's actions (its key prefix, the cycle
states it is raised in, who raises it, the trigger that closes it), which RAG and project
statuses need an exception report before sign-off, which need a narrative before a return is
submitted, the committees deadline rules name, and the stages that agree and revise targets.
None of these is written in the framework's code, so a council that calls its roles, states,
triggers or workflows differently renames them in YAML only.

``FrameworkPolicies`` holds this policy with the RAG policy; ``check`` cross-checks it against
the loaded catalog and raises one ``DefinitionError`` naming ``framework.yaml``, the line and
the field of every unknown role, workflow, state, trigger or committee.

One module per section of the file, each name importable from here as before:

- ``reporting``: ``reporting``, ``actions``, ``exception_reports``, ``returns``;
- ``calendar``: ``calendar``, and the models of ``moderngov.yaml``;
- ``publishing``: ``dashboard``, ``open_data``;
- ``planning``: ``targets``, ``plans``;
- ``quality``: ``quality`` (sign-off and evidence);
- ``framework``: the whole file; ``checks``: ``catalog_problems``; ``policies``:
  ``FrameworkPolicies``.
"""

from __future__ import annotations

from pmf_engine.pmf.policy._base import Hint, StatesOf
from pmf_engine.pmf.policy.calendar import (
    NO_MODERNGOV,
    CalendarPolicy,
    ModernGovPolicy,
    ModernGovSite,
    committee_key,
)
from pmf_engine.pmf.policy.checks import catalog_problems
from pmf_engine.pmf.policy.framework import FrameworkPolicy
from pmf_engine.pmf.policy.planning import PlansPolicy, TargetsPolicy, TargetStage
from pmf_engine.pmf.policy.policies import FrameworkPolicies
from pmf_engine.pmf.policy.publishing import DashboardPolicy, OpenDataPolicy
from pmf_engine.pmf.policy.quality import EvidenceKind, EvidencePolicy, QualityPolicy, SignOffPolicy
from pmf_engine.pmf.policy.reporting import ActionsPolicy, ExceptionRules, Reporting, ReturnRules

__all__ = [
    "NO_MODERNGOV",
    "ActionsPolicy",
    "CalendarPolicy",
    "DashboardPolicy",
    "EvidenceKind",
    "EvidencePolicy",
    "ExceptionRules",
    "FrameworkPolicies",
    "FrameworkPolicy",
    "Hint",
    "ModernGovPolicy",
    "ModernGovSite",
    "OpenDataPolicy",
    "PlansPolicy",
    "QualityPolicy",
    "Reporting",
    "ReturnRules",
    "SignOffPolicy",
    "StatesOf",
    "TargetStage",
    "TargetsPolicy",
    "catalog_problems",
    "committee_key",
]
