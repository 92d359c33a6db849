"""The tamper-evident audit log: hash-chained entries, verification, checkpoints and export.

Each organisation has its own chain (``_system`` holds deployment-wide events), so councils
sharing a deployment do not queue behind one another and an auditor can verify one council;
the database refuses an entry filed in a chain that is not its organisation's. Each entry's
hash (SHA-256, or HMAC-SHA256 with a key kept outside the database) covers a canonical JSON
encoding of its fields and the previous entry's hash; each carries the real time it was
written, never earlier than the entry before it, and a rehearsal's time apart. ``chain``
appends, ``verify`` recomputes and checks checkpoints, ``incremental`` goes on from where
each chain was last verified, ``export`` reads back.
"""

from pmf_engine.core.audit.chain import (
    CHECKPOINT_FORMAT,
    EXPORT_FIELDS,
    GENESIS,
    HASHED_FIELDS,
    LEGACY_FIELDS,
    SYSTEM_CHAIN,
    AuditRecord,
    append,
    append_many,
    canonical_json,
    entry_hash,
    format_instant,
    hash_of,
    record,
)
from pmf_engine.core.audit.export import csv_safe, export, fired_by, iter_entries, trail
from pmf_engine.core.audit.incremental import AuditVerified, incremental, verified_points
from pmf_engine.core.audit.verify import Break, Verification, Verified, checkpoint, verify

__all__ = [
    "CHECKPOINT_FORMAT",
    "EXPORT_FIELDS",
    "GENESIS",
    "HASHED_FIELDS",
    "LEGACY_FIELDS",
    "SYSTEM_CHAIN",
    "AuditRecord",
    "AuditVerified",
    "Break",
    "Verification",
    "Verified",
    "append",
    "append_many",
    "canonical_json",
    "checkpoint",
    "csv_safe",
    "entry_hash",
    "export",
    "fired_by",
    "format_instant",
    "hash_of",
    "incremental",
    "iter_entries",
    "record",
    "trail",
    "verified_points",
    "verify",
]
