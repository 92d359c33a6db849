"""Appending to the audit chains: each entry's canonical encoding, its hash and its times."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pmf_engine.core.errors import NotNow
from pmf_engine.core.raw import Statement
from pmf_engine.core.store import AuditEntry, AuditHead, AuditKey, Store
from pmf_engine.core.tx import Tx

GENESIS = "0" * 64
SYSTEM_CHAIN = "_system"
CHECKPOINT_FORMAT = "pmf-audit-checkpoint/1"
LEGACY_FIELDS = (
    "chain",
    "chain_seq",
    "at",
    "organisation",
    "instance",
    "event",
    "trigger",
    "from_state",
    "to_state",
    "actor",
    "role",
    "reason",
    "data",
    "prev_hash",
)
"""What ``sha256/1`` entries (written before 0.2's rehearsal time and keyed hashes) hashed."""
HASHED_FIELDS = (*LEGACY_FIELDS[:13], "as_of", "alg", "prev_hash")
"""What an entry's hash covers, in this order (``sha256/2`` and ``hmac-sha256/2:KEY``)."""
EXPORT_FIELDS = ("seq", *HASHED_FIELDS, "hash")
PLAIN, LEGACY, KEYED = "sha256/2", "sha256/1", "hmac-sha256/2:"
REHEARSAL_TOLERANCE = timedelta(minutes=1)
"""How far the engine's time may be from the real time before an entry is a rehearsal's."""


def canonical_json(value: Any) -> str:
    """One byte-exact JSON text per value: sorted keys, no spaces, UTF-8 kept; NaN and infinity
    refused (they are not JSON; the entry points refuse them first)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False
    )


def format_instant(instant: datetime) -> str:
    """The instant as fixed-width UTC text with microseconds and ``Z``: how the log stores and sorts it."""
    v = instant.astimezone(UTC)
    if v.year < 1000:  # strftime's %Y does not pad on every platform
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - a fire formats two: the fast form
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


def _make_array_encoder() -> Callable[[Sequence[Any]], str]:
    """Compact JSON for a list of strings, ints and None, with CPython's C encoder built once
    (verification runs this a million times; ``json.dumps`` builds an encoder per call)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - other Pythons
        return lambda values: json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    # markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan
    encode = make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda values: "".join(encode(values, 0))


_array = _make_array_encoder()


def hash_of(fields: Sequence[Any], key: bytes | None = None) -> str:
    """SHA-256 (HMAC-SHA256 with ``key``) of the canonical encoding: the hashed fields, in
    ``HASHED_FIELDS`` order, as a compact JSON array in UTF-8 (``["WDC",1,"2024-...Z",...]``)."""
    text = _array(fields).encode("utf-8")
    if key is not None:
        return hmac.new(key, text, hashlib.sha256).hexdigest()
    return hashlib.sha256(text).hexdigest()


def entry_hash(values: Mapping[str, Any], key: AuditKey | None = None) -> str:
    """The hash an entry must carry, from a mapping holding every field its ``alg`` hashes
    (``KeyError`` if a keyed entry's key is not ``key``)."""
    alg = values.get("alg", LEGACY)
    if alg == LEGACY:
        return hash_of(tuple(values[name] for name in LEGACY_FIELDS))
    fields = tuple(values[name] for name in HASHED_FIELDS)
    if alg == PLAIN:
        return hash_of(fields)
    if key is None or alg != KEYED + key.id:
        raise KeyError(alg)
    return hash_of(fields, key.secret)


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """What happened, before it is given its place in a chain."""

    event: str
    organisation: str | None = None
    instance: str | None = None
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def chain(self) -> str:
        """The chain the record joins: its organisation's, or ``_system`` for deployment-wide events."""
        return self.organisation or SYSTEM_CHAIN


def append(
    session: Session | Tx,
    record: AuditRecord,
    at: datetime,
    *,
    head: tuple[int, str, str] | None = None,
    seq: int | None = None,
) -> int:
    """Add ``record`` to its chain inside the caller's transaction; return its ``seq``.

    ``at`` is the engine's time. The entry is stamped with the real time (the store's wall
    clock, never earlier than the chain's newest entry) and, when ``at`` is more than a minute
    from it, keeps ``at`` apart as ``as_of``: a rehearsal's time, refused unless the database
    was created for rehearsal.

    The chain's head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite writers are already
    serialised by ``BEGIN IMMEDIATE``), so concurrent writers append one after another, and the
    unique (chain, chain_seq) constraint backs that up. Core statements, not ORM objects: this
    runs inside every transition.

    A fire on PostgreSQL passes the ``head`` it read (locked) and the ``seq`` it reserved in its
    first round trip: the entry and the head's move are then deferred to the pipeline that
    commits (``Raw.defer``).
    """
    chain = record.chain
    tx = Tx.of(session)
    head_seq, head_hash, head_at = head if head is not None else _locked_head(tx, chain)
    stamp = _Stamp.of(tx.store, at, head_at)
    values = _link(record, stamp, head_seq + 1, head_hash)
    raw = tx.raw
    moved = {
        "head_chain": chain,
        "new_seq": values["chain_seq"],
        "new_hash": values["hash"],
        "new_at": stamp.at,
    }
    if seq is not None:
        raw.defer(_RAW_INSERT, {**values, "seq": seq})
        raw.defer(_RAW_MOVE_HEAD, moved)
        return seq
    ((new_seq,),) = raw.rows(_RAW_INSERT, values)
    raw.count(_RAW_MOVE_HEAD, moved)
    return int(new_seq)


@dataclass(frozen=True)
class _Stamp:
    """The times and the hashing of entries appended now: the real time, the rehearsal time
    apart (if any), and the key (if the store has one)."""

    at: str
    as_of: str | None
    key: AuditKey | None

    @classmethod
    def of(cls, store: Store | None, engine_time: datetime, head_at: str) -> _Stamp:
        real = store.wall.now() if store is not None else engine_time
        as_of = None
        if abs(engine_time - real) > REHEARSAL_TOLERANCE:
            if store is not None and not store.rehearsal:
                raise NotNow(
                    f"this database was not created for rehearsal: acting as of "
                    f"{format_instant(engine_time)} (the real time is {format_instant(real)}) is "
                    "refused; rehearse in a new database (pmf --now creates one as a rehearsal)"
                )
            as_of = format_instant(engine_time)
        # Never earlier than the chain's newest entry (its own, hashed time: not the head row's,
        # which is not hashed and which the application role may UPDATE).
        return cls(max(format_instant(real), head_at), as_of, store.audit_key if store is not None else None)


def record(session: Session, entry: AuditRecord, at: datetime) -> int:
    """Flush the ORM rows added in ``session`` (so they reach the database before the entry
    that describes them), then append ``entry``; the one call a change makes to be audited."""
    session.flush()
    return append(session, entry, at)


def append_many(session: Session, records: Sequence[AuditRecord], at: datetime) -> None:
    """Append records that share one chain with one multi-row INSERT (a cycle's spawned returns)."""
    if not records:
        return
    chain = records[0].chain
    if any(r.chain != chain for r in records):
        raise ValueError("append_many takes records of one chain")
    tx = Tx.of(session)
    head_seq, head_hash, head_at = _locked_head(tx, chain)
    stamp = _Stamp.of(tx.store, at, head_at)
    rows = []
    for record in records:
        head_seq += 1
        values = _link(record, stamp, head_seq, head_hash)
        head_hash = values["hash"]
        rows.append(values)
    conn = session.connection()
    conn.execute(insert(_ENTRIES), rows)
    conn.execute(
        _MOVE_HEAD, {"head_chain": chain, "new_seq": head_seq, "new_hash": head_hash, "new_at": stamp.at}
    )


def _link(record: AuditRecord, stamp: _Stamp, chain_seq: int, prev_hash: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "chain": record.chain,
        "chain_seq": chain_seq,
        "at": stamp.at,
        "as_of": stamp.as_of,
        "alg": KEYED + stamp.key.id if stamp.key is not None else PLAIN,
        "organisation": record.organisation,
        "instance": record.instance,
        "event": record.event,
        "trigger": record.trigger,
        "from_state": record.from_state,
        "to_state": record.to_state,
        "actor": record.actor,
        "role": record.role,
        "reason": record.reason,
        "data": canonical_json(dict(record.data)),
        "prev_hash": prev_hash,
    }
    values["hash"] = entry_hash(values, stamp.key)
    return values


_ENTRIES = cast(Table, AuditEntry.__table__)
_HEADS = cast(Table, AuditHead.__table__)
_INSERT = insert(_ENTRIES).returning(_ENTRIES.c.seq)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(chain_seq=bindparam("new_seq"), hash=bindparam("new_hash"), at=bindparam("new_at"))
)
# The head row, locked, with the time of the entry it points at (that entry's own, hashed
# ``at``), in one statement.
HEAD = (
    select(_HEADS.c.chain_seq, _HEADS.c.hash, _ENTRIES.c.at)
    .select_from(
        _HEADS.outerjoin(
            _ENTRIES, and_(_ENTRIES.c.chain == _HEADS.c.chain, _ENTRIES.c.chain_seq == _HEADS.c.chain_seq)
        )
    )
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .with_for_update(of=_HEADS)
)


_RAW_INSERT = Statement(_INSERT, server="audit_entry")  # the names of PostgreSQL's ``pmf_apply`` writes
_RAW_MOVE_HEAD, _RAW_HEAD = Statement(_MOVE_HEAD, server="move_head"), Statement(HEAD)


def _locked_head(tx: Tx, chain: str) -> tuple[int, str, str]:
    rows = tx.raw.rows(_RAW_HEAD, {"head_chain": chain})
    if rows:
        row = rows[0]
        return int(row[0]), str(row[1]), str(row[2] or "")
    session = tx.session  # a new chain: its head row is made first
    dialect = tx.raw.dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        upsert(AuditHead)
        .values(chain=chain, chain_seq=0, hash=GENESIS, at="")
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    row = session.connection().execute(HEAD, {"head_chain": chain}).one()
    return int(row[0]), str(row[1]), str(row[2] or "")
