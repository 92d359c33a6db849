"""The whole of ``framework.yaml``: one model per section."""

from __future__ import annotations

from pmf_engine.pmf.policy._base import _Policy
from pmf_engine.pmf.policy.calendar import CalendarPolicy
from pmf_engine.pmf.policy.planning import PlansPolicy, TargetsPolicy
from pmf_engine.pmf.policy.publishing import DashboardPolicy, OpenDataPolicy
from pmf_engine.pmf.policy.quality import QualityPolicy
from pmf_engine.pmf.policy.reporting import ActionsPolicy, ExceptionRules, Reporting, ReturnRules


class FrameworkPolicy(_Policy):
    """The whole ``framework.yaml``."""

    reporting: Reporting
    exception_reports: ExceptionRules
    calendar: CalendarPolicy
    dashboard: DashboardPolicy = DashboardPolicy()
    returns: ReturnRules = ReturnRules()
    open_data: OpenDataPolicy = OpenDataPolicy()
    targets: TargetsPolicy | None = None
    """The target lifecycle; without it targets come from the measures library only."""
    plans: PlansPolicy | None = None
    """Service plans; without this section a deployment has none."""
    actions: ActionsPolicy | None = None
    """Scrutiny's actions, tracked to done; without this section a deployment records none."""

    quality: QualityPolicy = QualityPolicy()

    def sections(self) -> frozenset[str]:
        """The optional sections present (of ``actions``, ``plans``, ``targets``): what pages
        link to only when it is there."""
        given = {"actions": self.actions, "plans": self.plans, "targets": self.targets}
        return frozenset(name for name, section in given.items() if section is not None)
