"""The guards and effects the council framework adds to the core's registry.

- ``exception_reports_complete`` (guard): every measure and project of the cycle whose status
  needs one (``exception_reports`` in ``policies/framework.yaml``: red, off track) has an
  exception report.
- ``return_complete`` (guard): a service's return holds a figure, or the reason it is missing,
  for every measure due, and a narrative for every red measure and off-track project
  (``returns`` in ``policies/framework.yaml``; see ``completeness``). One query.
- ``self_evaluation_written`` and ``plan_complete`` (guards): a service plan's self-evaluation
  is written; and it holds at least one action with an owner and a due date (``plans``).
- ``plan_actions_reported`` (guard, for a return's submit): each action of the service's plan
  for the year has a status for the quarter (``plans.done_statuses`` end that).
- ``signed_off`` (guard): the service's return, as it now stands, is signed off by a holder of
  ``quality.signing.role`` for its service (see ``signoff``).
- ``record_unsigned`` (effect, on a return's acceptance): a return accepted without a sign-off
  (its service has no holder of the role, and ``quality.signing.accept_without_holder`` allows
  it) is audited as ``return.accepted_unsigned``.
- ``freeze_report`` (effect): store the committee report's content as it stands and chain its
  hash into the audit log; at Q4, the year's annual report and its public version too.
- ``exception_reports_complete``, ``return_complete``, ``plan_actions_reported`` and
  ``freeze_report`` read a quarter's figures, RAG or report: a workflow (and so its children)
  run per month, year or ad hoc naming them is refused at load (``QUARTERLY``).
- permissions ``calendar.manage`` (committee meetings), ``measures.manage`` (the measures
  library), ``projects.manage`` (projects and milestones), ``risks.manage`` (the risk
  register), ``finance.manage`` (budgets and forecast outturns) and ``cycles.chase`` (chase the people
  who must act on a cycle, return or action now), given to roles in ``roles.yaml``.
"""

from __future__ import annotations

from typing import Any

from pmf_engine.core.raw import Statement
from pmf_engine.core.registry import EffectContext, GuardContext, PeriodLimit, Registry, core_registry
from pmf_engine.pmf.chase import CYCLES_CHASE
from pmf_engine.pmf.completeness import return_problems, return_reads
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.plan_views import plan_incomplete, self_evaluation_missing, unreported_actions
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.report import freeze
from pmf_engine.pmf.signoff import SIGNED_OFF, record_unsigned, sign_off_problem, sign_off_reads

QUARTERLY = PeriodLimit(
    ("quarter",),
    "figures, RAG, exception reports and committee reports are per quarter; "
    "a monthly, yearly or ad hoc workflow carries approvals without them",
)
"""The limit of the guards and effects that read a quarter's figures, RAG or report."""


def framework_registry(policies: FrameworkPolicies) -> Registry:
    """The core's registry plus the framework's guards and effects, following ``policies``."""
    registry = core_registry()

    @registry.guard("exception_reports_complete", only=QUARTERLY)
    def exception_reports_complete(ctx: GuardContext) -> str | None:
        """Every measure and project of the cycle whose status needs one has an exception report."""
        missing = missing_exception_reports(ctx.session, ctx.instance.id, policies)
        if missing:
            needing = policies.framework.exception_reports.describe()
            return f"{needing} without an exception report: {', '.join(missing)}"
        return None

    @registry.guard("return_complete", reads=return_reads, only=QUARTERLY)
    def return_complete(ctx: GuardContext) -> str | None:
        """The service's return holds what must be in it before it is submitted."""
        if ctx.instance.service_id is None:
            return None  # not a service's return: no figures of its own
        rows = ctx.prefetched.get("return_complete")  # read with the instance
        problems = return_problems(ctx.tx, ctx.instance.service_id, ctx.instance.period, policies, rows)
        if problems:
            return f"the {ctx.instance.service} return is not complete: {'; '.join(problems)}"
        return None

    @registry.guard("self_evaluation_written")
    def self_evaluation_written(ctx: GuardContext) -> str | None:
        """The service plan's self-evaluation is written."""
        return self_evaluation_missing(ctx.session, ctx.instance.id)

    @registry.guard("plan_complete")
    def plan_complete(ctx: GuardContext) -> str | None:
        """The service plan has its self-evaluation and an action with an owner and a due date."""
        return plan_incomplete(ctx.session, ctx.instance.id)

    @registry.guard("plan_actions_reported", only=QUARTERLY)
    def plan_actions_reported(ctx: GuardContext) -> str | None:
        """Each action of the service's plan for the year has its status for the quarter."""
        plans = policies.framework.plans
        if plans is None or ctx.instance.service_id is None:
            return None
        missing = unreported_actions(ctx.session, plans, ctx.instance.service_id, ctx.instance.period)
        if missing:
            actions = f"{'action' if len(missing) == 1 else 'actions'} {', '.join(missing)}"
            return f"no status this quarter for the {ctx.instance.service} plan's {actions}"
        return None

    def signing_reads(key: str) -> tuple[Statement, dict[str, Any]] | None:
        return sign_off_reads(key, policies.framework.quality.signing)

    @registry.guard(SIGNED_OFF, reads=signing_reads)
    def signed_off(ctx: GuardContext) -> str | None:
        """The return as it now stands is signed off by the service's head of service."""
        signing = policies.framework.quality.signing
        return sign_off_problem(ctx.tx, ctx.instance, signing, ctx.prefetched.get(SIGNED_OFF))

    @registry.effect("record_unsigned")
    def record_unsigned_acceptance(ctx: EffectContext) -> None:
        """Audit a return accepted without a sign-off (where no one holds the sign-off role and
        the policy allows it; otherwise nothing is read: the guard refused unsigned ones)."""
        signing = policies.framework.quality.signing
        if signing is not None and signing.accept_without_holder:
            record_unsigned(ctx.session, ctx.instance, signing, ctx.actor, ctx.now)

    @registry.effect("freeze_report", only=QUARTERLY)
    def freeze_report(ctx: EffectContext) -> None:
        """Store the committee report's content as it stands and put its hash in the audit chain."""
        freeze(ctx, policies.rag, policies.risk, policies.framework.open_data, policies.framework.plans)

    registry.permission(CALENDAR_MANAGE, "add, move and import committee meetings")
    registry.permission(MEASURES_MANAGE, "import the measures library")
    registry.permission(PROJECTS_MANAGE, "import projects and milestones")
    registry.permission(RISKS_MANAGE, "import the risk register")
    registry.permission(FINANCE_MANAGE, "import services' budgets and forecast outturns")
    registry.permission(CYCLES_CHASE, "chase the people who must act on a cycle, return or action now")
    return registry


CALENDAR_MANAGE = "calendar.manage"
MEASURES_MANAGE = "measures.manage"
PROJECTS_MANAGE = "projects.manage"
RISKS_MANAGE = "risks.manage"
FINANCE_MANAGE = "finance.manage"
