"""``pmf.policy`` split into one module per section of ``framework.yaml``: every name it had
is still importable from it, and ``__all__`` is pinned here, so a council's code or a test that
imports ``from pmf_engine.pmf.policy import ...`` keeps working."""

from __future__ import annotations

import importlib
import pkgutil

from pmf_engine.pmf import policy

PUBLIC = {
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
    "NO_MODERNGOV",
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
}
"""The public names of ``pmf/policy.py`` before the split."""


def test_every_public_name_is_importable_from_the_package() -> None:
    assert set(policy.__all__) == PUBLIC
    assert all(getattr(policy, name) is not None for name in PUBLIC)


def test_each_section_module_says_what_it_holds() -> None:
    for module in pkgutil.iter_modules(policy.__path__):
        loaded = importlib.import_module(f"{policy.__name__}.{module.name}")
        assert (loaded.__doc__ or "").strip(), module.name


def test_the_sections_are_the_same_models() -> None:
    """A model is one class wherever it is imported from (no copy that would fail isinstance)."""
    from pmf_engine.pmf.policy.calendar import ModernGovSite
    from pmf_engine.pmf.policy.framework import FrameworkPolicy

    assert policy.ModernGovSite is ModernGovSite and policy.FrameworkPolicy is FrameworkPolicy
    assert policy.FrameworkPolicy.model_fields["calendar"].annotation is policy.CalendarPolicy
