"""The public API: what ``pmf_engine`` and ``pmf_engine.channels`` export."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "pmf_engine": [
        "AlreadyExists",
        "AuditError",
        "Catalog",
        "Clock",
        "ConcurrencyConflict",
        "Conflict",
        "DataFileError",
        "DefinitionError",
        "EffectContext",
        "Engine",
        "FileProblems",
        "Fired",
        "GuardContext",
        "GuardFailed",
        "InstanceKey",
        "InstanceStatus",
        "InvalidInput",
        "ManualClock",
        "MigrationRefused",
        "NotFound",
        "NotNow",
        "Period",
        "PermissionDenied",
        "PmfError",
        "Refused",
        "Registry",
        "RolesPolicy",
        "SchemaBehind",
        "Store",
        "SystemClock",
        "TransitionNotAllowed",
        "UnknownTrigger",
        "WorkflowDef",
    ],
    "pmf_engine.channels": [
        "GovukNotifyChannel",
        "LogChannel",
        "SmtpChannel",
        "SmtpSettings",
        "Templates",
        "channel_for",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_api_is_pinned(module_name: str) -> None:
    """``__all__`` is the promise to code outside pmf-engine: a name added, renamed or dropped
    there must be a deliberate change, made here too (and in the changelog), never a side effect
    of moving modules about. Every name listed must also import from the package itself."""
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == PUBLIC[module_name]
    missing = [name for name in PUBLIC[module_name] if not hasattr(module, name)]
    assert missing == [], f"listed in {module_name}.__all__ but not importable from it"
