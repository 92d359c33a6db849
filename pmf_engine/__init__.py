"""pmf-engine: a council's quarterly Performance Management Framework cycle as a declarative,
persisted workflow with a tamper-evident audit log."""

from __future__ import annotations

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock, ManualClock, SystemClock
from pmf_engine.core.definition import RolesPolicy, WorkflowDef
from pmf_engine.core.engine import Engine, Fired, InstanceStatus
from pmf_engine.core.errors import (
    AuditError,
    ConcurrencyConflict,
    DefinitionError,
    GuardFailed,
    MigrationRefused,
    NotFound,
    PermissionDenied,
    PmfError,
    Refused,
    TransitionNotAllowed,
    UnknownTrigger,
)
from pmf_engine.core.period import Period
from pmf_engine.core.store import Store

__all__ = [
    "AuditError",
    "Catalog",
    "Clock",
    "ConcurrencyConflict",
    "DefinitionError",
    "Engine",
    "Fired",
    "GuardFailed",
    "InstanceStatus",
    "ManualClock",
    "MigrationRefused",
    "NotFound",
    "Period",
    "PermissionDenied",
    "PmfError",
    "Refused",
    "RolesPolicy",
    "Store",
    "SystemClock",
    "TransitionNotAllowed",
    "UnknownTrigger",
    "WorkflowDef",
]
