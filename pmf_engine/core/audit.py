"""The tamper-evident audit log: hash-chained entries, verification, checkpoints and export.

Each organisation has its own chain (``_system`` holds deployment-wide events), so councils
sharing a deployment do not queue behind one another and an auditor can verify one council.
Each entry's SHA-256 covers a canonical JSON encoding of its fields and the previous entry's
hash. Verification recomputes every chain; a checkpoint (the head of every chain, kept outside
the database) also catches removal of the newest entries, which no chain can see by itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pmf_engine.core.errors import AuditError
from pmf_engine.core.store import AuditEntry, AuditHead

GENESIS = "0" * 64
SYSTEM_CHAIN = "_system"
CHECKPOINT_FORMAT = "pmf-audit-checkpoint/1"
HASHED_FIELDS = (
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
EXPORT_FIELDS = ("seq", *HASHED_FIELDS, "hash")


def canonical_json(value: Any) -> str:
    """One byte-exact JSON text per value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def format_instant(instant: datetime) -> str:
    """The instant as fixed-width UTC text with microseconds and ``Z``: how the log stores and sorts it."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def hash_of(fields: Sequence[Any]) -> str:
    """SHA-256 of the canonical encoding: the hashed fields, in ``HASHED_FIELDS`` order, as a
    compact JSON array in UTF-8 (``["WDC",1,"2024-07-01T08:00:00.000000Z",...]``)."""
    return hashlib.sha256(_array(fields).encode("utf-8")).hexdigest()


def entry_hash(values: Mapping[str, Any]) -> str:
    """The hash an entry must carry, from a mapping holding every field in ``HASHED_FIELDS``."""
    return hash_of(tuple(values[name] for name in HASHED_FIELDS))


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


def append(session: Session, record: AuditRecord, at: datetime) -> int:
    """Add ``record`` to its chain inside the caller's transaction; return its ``seq``.

    The chain's head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite writers are already
    serialised by ``BEGIN IMMEDIATE``), so concurrent writers append one after another, and the
    unique (chain, chain_seq) constraint backs that up. Core statements, not ORM objects: this
    runs inside every transition.
    """
    chain = record.chain
    head_seq, head_hash = _locked_head(session, chain)
    values = _link(record, at, head_seq + 1, head_hash)
    conn = session.connection()
    seq = conn.execute(_INSERT, values).scalar_one()
    conn.execute(
        _MOVE_HEAD, {"head_chain": chain, "new_seq": values["chain_seq"], "new_hash": values["hash"]}
    )
    return int(seq)


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
    head_seq, head_hash = _locked_head(session, chain)
    rows = []
    for record in records:
        head_seq += 1
        values = _link(record, at, head_seq, head_hash)
        head_hash = values["hash"]
        rows.append(values)
    conn = session.connection()
    conn.execute(insert(_ENTRIES), rows)
    conn.execute(_MOVE_HEAD, {"head_chain": chain, "new_seq": head_seq, "new_hash": head_hash})


def _link(record: AuditRecord, at: datetime, chain_seq: int, prev_hash: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "chain": record.chain,
        "chain_seq": chain_seq,
        "at": format_instant(at),
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
    values["hash"] = entry_hash(values)
    return values


_ENTRIES = cast(Table, AuditEntry.__table__)
_HEADS = cast(Table, AuditHead.__table__)
_INSERT = insert(_ENTRIES).returning(_ENTRIES.c.seq)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(chain_seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_HEAD = (
    select(_HEADS.c.chain_seq, _HEADS.c.hash)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .with_for_update()
)


def _locked_head(session: Session, chain: str) -> tuple[int, str]:
    row = session.connection().execute(_HEAD, {"head_chain": chain}).first()
    if row is not None:
        return int(row[0]), str(row[1])
    dialect = session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        upsert(AuditHead)
        .values(chain=chain, chain_seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    row = session.connection().execute(_HEAD, {"head_chain": chain}).one()
    return int(row[0]), str(row[1])


@dataclass(frozen=True)
class Break:
    """The first entry at which a chain stops verifying."""

    chain: str
    chain_seq: int
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = (
            f"entry {self.seq} ({self.chain} #{self.chain_seq})"
            if self.seq
            else f"{self.chain} #{self.chain_seq}"
        )
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class Verification:
    """What ``verify`` found: entries read, each chain's last verified (chain_seq, hash), and the breaks."""

    entries: int = 0
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain verified and agreed with its head record and any checkpoint."""
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        """The first break found, for a one-line report; ``None`` when the log verifies."""
        return self.breaks[0] if self.breaks else None


_COLUMNS = [getattr(AuditEntry, name) for name in ("seq", *HASHED_FIELDS, "hash")]


def verify(
    session: Session, *, chain: str | None = None, checkpoint: Mapping[str, Any] | None = None
) -> Verification:
    """Recompute every chain (or one); report the first break of each chain found.

    Memory stays flat: rows stream in chain order and only each chain's last link is kept.
    """
    result = Verification()
    marks = _checkpoint_marks(checkpoint, chain) if checkpoint is not None else {}
    seen_at_mark: dict[str, str] = {}
    # Stored order (seq) is the cheapest scan; each chain's state is a few values, so memory
    # grows with the number of chains (organisations), never with the log.
    state: dict[str, list[Any]] = {}  # chain -> [expected chain_seq, previous hash, broken]
    for seq, name, chain_seq, prev, digest, hashed_ok in _links(session, chain):
        result.entries += 1
        link = state.get(name)
        if link is None:
            link = state[name] = [1, GENESIS, False]
        if link[2]:
            continue
        if chain_seq != link[0] or prev != link[1] or not hashed_ok:
            result.breaks.append(_explain(session, seq, link[0], link[1]))
            link[2] = True
            continue
        if name in marks and marks[name][0] == chain_seq:
            seen_at_mark[name] = digest
        result.chains[name] = (chain_seq, digest)
        link[0], link[1] = chain_seq + 1, digest
    heads = session.execute(select(AuditHead.chain, AuditHead.chain_seq, AuditHead.hash)).all()
    for head_chain, head_seq, head_hash in heads:
        if chain is None or head_chain == chain:
            _compare_head(
                result,
                head_chain,
                head_seq,
                head_hash,
                result.chains.get(head_chain),
                "the head record",
                may_grow=False,
            )
    for mark_chain, (mark_seq, mark_hash) in marks.items():
        found = result.chains.get(mark_chain)
        seen = (mark_seq, seen_at_mark[mark_chain]) if mark_chain in seen_at_mark else None
        if found is not None and found[0] > mark_seq:
            # The log grew since the checkpoint: compare the entry the checkpoint named.
            found = seen if seen is not None else (0, "")
        _compare_head(result, mark_chain, mark_seq, mark_hash, found, "the checkpoint", may_grow=True)
    return result


def _stream(session: Session, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows straight from the driver's cursor, in batches: no result objects per row, and a
    server-side cursor on PostgreSQL so the log is never held in memory."""
    conn = session.connection()
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor(name="pmf_audit_verify") if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(10_000):
            yield from batch
    finally:
        cursor.close()


def _checkpoint_marks(checkpoint: Mapping[str, Any], chain: str | None) -> dict[str, tuple[int, str]]:
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise AuditError(f"not a pmf audit checkpoint (format {checkpoint.get('format')!r})")
    try:
        return {
            name: (int(head["chain_seq"]), str(head["hash"]))
            for name, head in checkpoint["chains"].items()
            if chain is None or name == chain
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AuditError(f"the checkpoint is malformed: {exc!r}") from exc


def _links(session: Session, chain: str | None) -> Iterator[tuple[int, str, int, str, str, bool]]:
    """(seq, chain, chain_seq, prev_hash, hash, content matches hash) for every entry, by seq.

    On SQLite the database builds each entry's canonical JSON array itself (``json_array``
    writes the same compact text), so only six columns cross into Python; any entry whose
    hash does not match is re-checked with Python's encoder before it is called broken.
    """
    columns = [getattr(AuditEntry, name) for name in HASHED_FIELDS]
    heads = (AuditEntry.seq, AuditEntry.chain, AuditEntry.chain_seq, AuditEntry.prev_hash, AuditEntry.hash)
    fast = session.get_bind().dialect.name == "sqlite"
    query = select(*heads, func.json_array(*columns)) if fast else select(*heads, *columns)
    query = query.order_by(AuditEntry.seq)
    if chain is not None:
        query = query.where(AuditEntry.chain == chain)
    sha256 = hashlib.sha256
    for row in _stream(session, query):
        if fast:
            ok = (
                sha256(row[5].encode("utf-8")).hexdigest() == row[4]
                or _python_hash(session, row[0]) == row[4]
            )
        else:
            ok = hash_of(row[5:]) == row[4]
        yield row[0], row[1], row[2], row[3], row[4], ok


def _full_row(session: Session, seq: int) -> tuple[Any, ...]:
    return tuple(session.execute(select(*_COLUMNS).where(AuditEntry.seq == seq)).one())


def _python_hash(session: Session, seq: int) -> str:
    return hash_of(_full_row(session, seq)[1:15])


def _explain(session: Session, seq: int, expected_seq: int, prev_hash: str) -> Break:
    """Why a link failed, in the order an auditor would ask."""
    row = _full_row(session, seq)
    values = dict(zip(("seq", *HASHED_FIELDS, "hash"), row, strict=True))
    chain, chain_seq, seq = values["chain"], values["chain_seq"], values["seq"]
    if chain_seq != expected_seq:
        expected_row = session.execute(
            select(AuditEntry.seq).where(AuditEntry.chain == chain, AuditEntry.chain_seq == expected_seq)
        ).first()
        if chain_seq < expected_seq or expected_row is not None:
            stored = f"entry #{expected_seq} is stored after it" if expected_row else "it repeats a position"
            return Break(
                chain,
                chain_seq,
                seq,
                "reordered",
                f"#{chain_seq} comes where #{expected_seq} belongs; {stored}",
            )
        return Break(
            chain,
            chain_seq,
            seq,
            "deleted",
            f"expected #{expected_seq} next, found #{chain_seq}: entries are missing",
        )
    if hash_of(row[1:15]) != values["hash"]:
        return Break(chain, chain_seq, seq, "edited", "its content does not match its hash")
    return Break(
        chain, chain_seq, seq, "inserted", "it does not link to the entry before it (inserted or replaced)"
    )


def _compare_head(
    result: Verification,
    chain: str,
    seq: int,
    digest: str,
    found: tuple[int, str] | None,
    source: str,
    *,
    may_grow: bool,
) -> None:
    """Compare a verified chain end ``found`` with a head recorded elsewhere."""
    if any(b.chain == chain for b in result.breaks):
        return
    last = found[0] if found else 0
    if last > seq and not may_grow:
        # The head row moves in the same transaction as every append, so entries beyond it
        # were written around the engine.
        result.breaks.append(
            Break(chain, seq + 1, None, "inserted", f"{source} ends at #{seq} but the log runs to #{last}")
        )
    elif last < seq:
        result.breaks.append(
            Break(chain, seq, None, "truncated", f"{source} says #{seq} but the log ends at #{last}")
        )
    elif last == seq and found is not None and found[1] != digest:
        result.breaks.append(
            Break(chain, seq, None, "rewritten", f"#{seq} does not have the hash {source} recorded")
        )


def checkpoint(session: Session, at: datetime) -> dict[str, Any]:
    """The head of every chain, to be kept outside the database."""
    report = verify(session)
    if not report.ok:
        raise AuditError(f"will not checkpoint a broken log: {report.first_break}")
    return {
        "format": CHECKPOINT_FORMAT,
        "created_at": format_instant(at),
        "entries": report.entries,
        "chains": {
            name: {"chain_seq": seq, "hash": digest} for name, (seq, digest) in sorted(report.chains.items())
        },
    }


def trail(session: Session, instance: str) -> list[AuditEntry]:
    """Every entry about one instance and the instances below it, oldest first."""
    query = (
        select(AuditEntry)
        .where((AuditEntry.instance == instance) | AuditEntry.instance.startswith(instance + "/"))
        .order_by(AuditEntry.seq)
    )
    return list(session.scalars(query))


def iter_entries(session: Session, *, chain: str | None = None) -> Iterator[AuditEntry]:
    """Every entry (or one chain's) in stored order, streamed in batches so an export holds few at once."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if chain is not None:
        query = query.where(AuditEntry.chain == chain)
    yield from session.scalars(query.execution_options(stream_results=True, yield_per=2000))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will show as text, never run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export(entries: Iterable[AuditEntry], out: IO[str], fmt: str) -> int:
    """Write entries as ``csv`` or ``jsonl``; return how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_FIELDS)
        for entry in entries:
            writer.writerow([csv_safe(getattr(entry, name)) for name in EXPORT_FIELDS])
            count += 1
    elif fmt == "jsonl":
        for entry in entries:
            out.write(canonical_json({name: getattr(entry, name) for name in EXPORT_FIELDS}) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}; use csv or jsonl")
    return count
