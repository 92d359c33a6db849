"""pmf-engine: a council's quarterly Performance Management Framework cycle as a declarative,
persisted workflow with a tamper-evident audit log."""

from __future__ import annotations

from pmf_engine.clock import Clock, ManualClock, SystemClock
from pmf_engine.definition import Catalog, RolesPolicy, WorkflowDef
from pmf_engine.engine import Engine, Fired, InstanceStatus
from pmf_engine.errors import (
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
from pmf_engine.period import Period
from pmf_engine.store import Store

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
