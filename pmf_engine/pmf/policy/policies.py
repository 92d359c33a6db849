"""``FrameworkPolicies``: ``framework.yaml`` with the RAG policy, ``moderngov.yaml`` and
``risk.yaml``, as the framework is given them, and ``check`` against the loaded catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.yamlload import Document
from pmf_engine.pmf.policy.calendar import NO_MODERNGOV, ModernGovPolicy
from pmf_engine.pmf.policy.checks import catalog_problems
from pmf_engine.pmf.policy.framework import FrameworkPolicy
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.riskpolicy import RiskPolicy, risk_problems


@dataclass(frozen=True)
class FrameworkPolicies:
    """The framework's policies: RAG (``rag.yaml``) and its names (``framework.yaml``)."""

    rag: RagPolicy
    framework: FrameworkPolicy
    source: Document = field(compare=False, repr=False)
    """``framework.yaml`` as read, for the lines of problems ``check`` finds."""
    moderngov: ModernGovPolicy = NO_MODERNGOV
    """The ModernGov sites of ``moderngov.yaml`` (optional: none)."""
    risk: RiskPolicy = field(default_factory=RiskPolicy)
    """The risk register's policy (``risk.yaml``; without one, no ladder and no reviews)."""
    risk_source: Document | None = field(default=None, compare=False, repr=False)

    def check(self, catalog: Catalog, *, partial: bool = False) -> None:
        """``DefinitionError`` listing every name ``framework.yaml`` gives that the catalog lacks.

        ``partial`` is for checking some workflow files on their own: names in workflows that
        are not among them are not reported."""
        problems = list(catalog_problems(self.framework, self.source, catalog, partial=partial))
        if self.risk_source is not None:
            bodies = self.framework.calendar.bodies
            problems += risk_problems(self.risk, self.risk_source, catalog, bodies, partial=partial)
            plans = self.framework.plans
            register = self.risk.registers.get(plans.risk_register) if plans is not None else None
            if plans is not None and (register is None or register.service == "none"):
                known = ", ".join(n for n, r in self.risk.registers.items() if r.service != "none")
                problems.append(
                    self.source.problem(
                        ("plans", "risk_register"),
                        f"{plans.risk_register!r} is not a register of risk.yaml that a service's "
                        f"risks go on; known: {known or 'none'}",
                    )
                )
        if problems:
            raise DefinitionError(problems)
