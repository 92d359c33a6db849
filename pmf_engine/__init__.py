"""pmf-engine: a council's Performance Management Framework cycle as a declarative, persisted
workflow with a tamper-evident audit log.

The names here are the engine core's public API (``pmf_engine.core``); the council framework
built on it is ``pmf_engine.pmf`` and the composition root ``pmf_engine.app``.
"""

from __future__ import annotations

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock, ManualClock, SystemClock
from pmf_engine.core.definition import RolesPolicy, WorkflowDef
from pmf_engine.core.engine import Engine, Fired, InstanceStatus
from pmf_engine.core.errors import (
    AlreadyExists,
    AuditError,
    ConcurrencyConflict,
    Conflict,
    DataFileError,
    DefinitionError,
    FileProblems,
    GuardFailed,
    InvalidInput,
    MigrationRefused,
    NotFound,
    NotNow,
    PermissionDenied,
    PmfError,
    Refused,
    SchemaBehind,
    TransitionNotAllowed,
    UnknownTrigger,
)
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.period import Period
from pmf_engine.core.registry import EffectContext, GuardContext, Registry
from pmf_engine.core.store import Store

__all__ = [
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
]
