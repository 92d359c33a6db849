"""Verifying the audit chains, and the checkpoints kept outside the database.

Verification recomputes every chain from its first entry and reports, per chain, the first
entry at which it stops holding: an edited, inserted, deleted or reordered entry; a chain that
is no organisation's (or an entry filed in one chain that claims another organisation); a real
time earlier than the entry before it; with a key, an entry hashed without it after the chain
was keyed, or a chain never keyed at all. A checkpoint (every chain's head, kept elsewhere)
also catches removal of the newest entries, which no chain can see by itself, and a chain that
appeared since it was taken.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pmf_engine.core.audit.chain import (
    CHECKPOINT_FORMAT,
    EXPORT_FIELDS,
    GENESIS,
    HASHED_FIELDS,
    KEYED,
    LEGACY,
    PLAIN,
    SYSTEM_CHAIN,
    entry_hash,
    format_instant,
)
from pmf_engine.core.errors import AuditError
from pmf_engine.core.store import AuditEntry, AuditHead, AuditKey, Organisation


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


@dataclass(frozen=True)
class Verified:
    """Where a chain was verified up to: its entry's place (``chain_seq``, global ``seq``), hash
    and real time, and whether the chain was keyed by then."""

    chain_seq: int
    seq: int
    hash: str
    at: str
    keyed: bool


@dataclass
class Verification:
    """What ``verify`` found: entries read, each chain's last verified (chain_seq, hash), and the breaks."""

    entries: int = 0
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    keyed: bool = False
    """Whether the entries' keyed hashes were checked (a key was given)."""
    ends: dict[str, Verified] = field(default_factory=dict)
    """Each chain's last verified entry, in full (what ``incremental`` stores)."""

    @property
    def ok(self) -> bool:
        """True when every chain verified and agreed with its head record and any checkpoint."""
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        """The first break found, for a one-line report; ``None`` when the log verifies."""
        return self.breaks[0] if self.breaks else None

    def summary(self) -> str:
        """What was verified, chain by chain: ``861 entries in 2 chains (WDC to its entry 817,
        _system to its entry 44)``, so a count an organisation's audit page gives is found in it."""
        count = len(self.chains)
        heads = ", ".join(f"{name} to its entry {seq}" for name, (seq, _) in sorted(self.chains.items()))
        entries = "entry" if self.entries == 1 else "entries"
        said = f"{self.entries} {entries} in {count} chain{'' if count == 1 else 's'}"
        return said + (f" ({heads})" if heads else "")


@dataclass
class _Chain:
    """What verification remembers of one chain while it streams: a few values each."""

    expected: int = 1
    prev: str = GENESIS
    at: str = ""
    keyed: bool = False
    broken: bool = False


_COLUMNS = [getattr(AuditEntry, name) for name in EXPORT_FIELDS]


def _key_of(session: Session, key: AuditKey | None) -> AuditKey | None:
    if key is not None:
        return key
    store = session.info.get("pmf_store")
    return store.audit_key if store is not None else None


def verify(
    session: Session,
    *,
    chain: str | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    key: AuditKey | None = None,
    since: Mapping[str, Verified] | None = None,
) -> Verification:
    """Recompute every chain (or one); report the first break of each chain found.

    ``key`` (by default the store's) checks keyed entries and refuses unkeyed ones written
    after a chain was keyed. Memory stays flat: rows stream in stored order and only each
    chain's last link is kept. ``since``: where chains were verified before (``incremental``):
    each such chain is checked from the entry after that one, linked to its hash; the entries
    up to it are not read again (only a full verification sees them).
    """
    key = _key_of(session, key)
    result = Verification(keyed=key is not None)
    marks = _checkpoint_marks(checkpoint, chain) if checkpoint is not None else {}
    seen_at_mark: dict[str, str] = {}
    known = set(session.scalars(select(Organisation.code))) | {SYSTEM_CHAIN}
    state: dict[str, _Chain] = {}
    keyed_from = 0  # the first keyed entry of the whole log: after it, every entry is keyed
    since = {name: v for name, v in (since or {}).items() if chain is None or name == chain}
    for name, point in since.items():
        state[name] = _Chain(point.chain_seq + 1, point.hash, point.at, point.keyed)
        result.chains[name] = (point.chain_seq, point.hash)
        result.ends[name] = point
        keyed_from = min(keyed_from or point.seq, point.seq) if point.keyed else keyed_from
    # Entries before the earliest resume point are not read, unless a chain with entries (a
    # head) has no point yet: then it is read from its first.
    after = 0
    if since:
        heads = set(session.scalars(select(AuditHead.chain)))
        after = (
            0
            if (heads if chain is None else heads & {chain}) - set(since)
            else min(p.seq for p in since.values())
        )
    for row in _links(session, chain, key, after):
        seq, name, chain_seq, digest, at, alg = row[0], row[1], row[2], row[4], row[7], row[8]
        resumed = since.get(name)
        if resumed is not None and seq <= resumed.seq:
            continue  # verified before
        result.entries += 1
        link = state.setdefault(name, _Chain())
        if link.broken:
            continue
        problem = _problem(link, row, known, key, keyed_from)
        if problem is not None:
            kind, detail = problem
            if kind == "link":
                result.breaks.append(_explain(session, seq, link.expected, key))
            else:
                result.breaks.append(Break(name, chain_seq, seq, kind, detail))
            link.broken = True
            continue
        if name in marks and marks[name][0] == chain_seq:
            seen_at_mark[name] = digest
        result.chains[name] = (chain_seq, digest)
        link.expected, link.prev, link.at = chain_seq + 1, digest, at
        link.keyed = link.keyed or alg.startswith(KEYED)
        keyed_from = keyed_from or (seq if alg.startswith(KEYED) else 0)
        result.ends[name] = Verified(chain_seq, seq, digest, at, link.keyed)
    if key is not None:
        for name, link in state.items():
            if not link.broken and not link.keyed and name not in marks:
                result.breaks.append(
                    Break(
                        name,
                        link.expected - 1,
                        None,
                        "unkeyed",
                        "no entry of this chain carries the key, and no checkpoint vouches for it",
                    )
                )
    _compare_heads(session, result, chain)
    _compare_marks(result, marks, seen_at_mark, state, checkpoint is not None)
    return result


def _problem(
    link: _Chain, row: tuple[Any, ...], known: set[str], key: AuditKey | None, keyed_from: int = 0
) -> tuple[str, str] | None:
    """Why this entry breaks its chain (``("link", ...)``: the hash or the sequence, explained
    by ``_explain``), or ``None``."""
    _seq, name, chain_seq, prev, _digest, hashed_ok, organisation, at, alg = row
    if name not in known:
        return "unknown chain", f"{name!r} is no organisation's chain (nor {SYSTEM_CHAIN})"
    if organisation != (None if name == SYSTEM_CHAIN else name):
        return "misfiled", f"it claims organisation {organisation!r} but is in chain {name!r}"
    if chain_seq != link.expected or prev != link.prev:
        return "link", ""
    if alg.startswith(KEYED) and (key is None or alg != KEYED + key.id):
        given = f"not the key given ({key.id!r})" if key is not None else "and no key was given"
        return "unverifiable", f"it is keyed with {alg.removeprefix(KEYED)!r}, {given}"
    if hashed_ok is not True:
        return "link", ""
    if key is not None and (link.keyed or keyed_from) and not alg.startswith(KEYED):
        since = "the chain was keyed" if link.keyed else f"the log was keyed (entry {keyed_from})"
        return "downgraded", f"hashed without the key ({alg}) after {since}"
    if at < link.at:
        return "time went backwards", f"written at {at}, before the entry before it ({link.at})"
    return None


def _compare_heads(session: Session, result: Verification, chain: str | None) -> None:
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


def _compare_marks(
    result: Verification,
    marks: Mapping[str, tuple[int, str]],
    seen_at_mark: Mapping[str, str],
    state: Mapping[str, _Chain],
    checkpointed: bool,
) -> None:
    for mark_chain, (mark_seq, mark_hash) in marks.items():
        found = result.chains.get(mark_chain)
        seen = (mark_seq, seen_at_mark[mark_chain]) if mark_chain in seen_at_mark else None
        if found is not None and found[0] > mark_seq:
            # The log grew since the checkpoint: compare the entry the checkpoint named.
            found = seen if seen is not None else (0, "")
        _compare_head(result, mark_chain, mark_seq, mark_hash, found, "the checkpoint", may_grow=True)
    if checkpointed:
        for name, link in state.items():
            if name not in marks and not link.broken:
                result.breaks.append(
                    Break(
                        name,
                        1,
                        None,
                        "not in the checkpoint",
                        "the chain is not among those the checkpoint covers (take a new "
                        "checkpoint after adding an organisation)",
                    )
                )


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


_HEADS = (
    AuditEntry.seq,
    AuditEntry.chain,
    AuditEntry.chain_seq,
    AuditEntry.prev_hash,
    AuditEntry.hash,
    AuditEntry.organisation,
    AuditEntry.at,
    AuditEntry.alg,
)


def _links(
    session: Session, chain: str | None, key: AuditKey | None, after: int = 0
) -> Iterator[tuple[Any, ...]]:
    """(seq, chain, chain_seq, prev_hash, hash, content matches hash, organisation, at, alg)
    for every entry, in stored order. "Matches" is ``None`` for a keyed entry whose key is not
    given (it cannot be checked).

    On SQLite the database builds each entry's canonical JSON array itself (``json_array``
    writes the same compact text), so few columns cross into Python; an entry whose hash does
    not match that way (an older scheme; a value stored as a BLOB, which ``json_array`` cannot
    take) is re-checked from its full row before it is called broken. Only entries after
    ``after`` (a ``seq``) are read.
    """
    if session.get_bind().dialect.name == "sqlite":
        try:
            for row in _links_sqlite(session, chain, key, after):
                after = row[0]
                yield row
            return
        except (DBAPIError, sqlite3.Error):
            pass  # a BLOB in a hashed column: go on from that entry the slow way
    columns = [getattr(AuditEntry, name) for name in HASHED_FIELDS]
    query = select(*_HEADS, *columns).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
    if chain is not None:
        query = query.where(AuditEntry.chain == chain)
    for row in _stream(session, query):
        values = dict(zip(HASHED_FIELDS, row[8:], strict=True))
        yield (*row[:5], _matches(values, row[4], key), *row[5:8])


def _links_sqlite(
    session: Session, chain: str | None, key: AuditKey | None, after: int
) -> Iterator[tuple[Any, ...]]:
    columns = [getattr(AuditEntry, name) for name in HASHED_FIELDS]
    query = select(*_HEADS, func.json_array(*columns)).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
    if chain is not None:
        query = query.where(AuditEntry.chain == chain)
    sha256 = hashlib.sha256
    secret = key.secret if key is not None else None
    keyed_alg = KEYED + key.id if key is not None else None
    for row in _stream(session, query):
        alg, text = row[7], row[8].encode("utf-8")
        if alg == PLAIN:
            ok: bool | None = sha256(text).hexdigest() == row[4]
        elif alg == keyed_alg and secret is not None:
            ok = hmac.compare_digest(hmac.new(secret, text, sha256).hexdigest(), row[4])
        elif alg.startswith(KEYED):
            ok = None
        else:
            ok = None if alg != LEGACY else False
        if ok is False or (ok is None and alg == LEGACY):
            ok = _matches(_full_values(session, row[0]), row[4], key)
        yield (*row[:5], ok, *row[5:8])


def _matches(values: Mapping[str, Any], digest: str, key: AuditKey | None) -> bool | None:
    """Whether the fields hash to ``digest`` (``None``: keyed with a key not given)."""
    try:
        return hmac.compare_digest(entry_hash(values, key), str(digest))
    except KeyError:
        return None
    except (TypeError, ValueError):
        return False  # a value no text could have been hashed from (bytes, say)


def _full_values(session: Session, seq: int) -> dict[str, Any]:
    row = session.execute(select(*_COLUMNS, AuditEntry.alg).where(AuditEntry.seq == seq)).one()
    values = dict(zip((*EXPORT_FIELDS, "alg"), row, strict=True))
    return values


def _explain(session: Session, seq: int, expected_seq: int, key: AuditKey | None) -> Break:
    """Why a link failed, in the order an auditor would ask."""
    values = _full_values(session, seq)
    chain, chain_seq = values["chain"], values["chain_seq"]
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
    if _matches(values, values["hash"], key) is False:
        held = [n for n in HASHED_FIELDS if isinstance(values.get(n), bytes)]
        detail = f"{', '.join(held)} holds bytes, not text" if held else "its content does not match its hash"
        return Break(chain, chain_seq, seq, "edited", detail)
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
    """The head of every chain, to be kept outside the database (it covers exactly these chains)."""
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
