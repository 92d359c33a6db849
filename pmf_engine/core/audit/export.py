"""Reading the audit log back: an instance's trail, streaming every entry, CSV and JSONL export."""

from __future__ import annotations

import csv
from collections.abc import Collection, Generator, Iterable
from typing import IO, Any

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.orm import Session

from pmf_engine.core import values
from pmf_engine.core.audit.chain import EXPORT_FIELDS, canonical_json
from pmf_engine.core.raw import Statement
from pmf_engine.core.store import AuditEntry
from pmf_engine.core.tx import Tx

_FIRED_BY: dict[int, Statement] = {}


def fired_by(session: Session | Tx, instance: str, actor: str, triggers: Collection[str]) -> set[str]:
    """Which of ``triggers`` ``actor`` has fired on ``instance`` (from its organisation's chain):
    what a segregation-of-duties rule asks on every watched transition, so on the driver."""
    if not triggers:
        return set()
    statement, values = fired_by_statement(instance, actor, triggers)
    return {str(row[0]) for row in Tx.of(session).raw.rows(statement, values) if row[0]}


def fired_by_statement(
    instance: str, actor: str, triggers: Collection[str]
) -> tuple[Statement, dict[str, Any]]:
    """``fired_by``'s statement (one per number of triggers, compiled once) and its values."""
    statement = _FIRED_BY.get(len(triggers))
    if statement is None:
        statement = _FIRED_BY[len(triggers)] = Statement(
            select(AuditEntry.trigger)
            .where(
                AuditEntry.chain == bindparam("chain"),
                AuditEntry.instance == bindparam("instance"),
                AuditEntry.event == literal("fired"),
                AuditEntry.actor == bindparam("actor"),
                AuditEntry.trigger.in_([bindparam(f"t{i}") for i in range(len(triggers))]),
            )
            .distinct()
        )
    values: dict[str, Any] = {f"t{i}": t for i, t in enumerate(sorted(triggers))}
    values |= {"chain": instance.split("/", 1)[0], "instance": instance, "actor": actor}
    return statement, values


def trail(session: Session, instance: str) -> list[AuditEntry]:
    """Every entry about one instance and the instances below it, oldest first: from its
    organisation's chain only (an entry filed elsewhere claiming the instance is not its)."""
    organisation = instance.split("/", 1)[0]
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.chain == organisation,
            (AuditEntry.instance == instance)
            | (func.substr(AuditEntry.instance, 1, len(instance) + 1) == instance + "/"),
        )
        .order_by(AuditEntry.seq)
    )
    return list(session.scalars(query))


def iter_entries(session: Session, *, chain: str | None = None) -> Generator[AuditEntry, None, None]:
    """Every entry (or one chain's) in stored order, streamed in batches so an export holds few at
    once. Close the iterator if it is left before its end (``contextlib.closing``): that closes
    the stream (on PostgreSQL a server-side cursor) while its connection is still open."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if chain is not None:
        query = query.where(AuditEntry.chain == chain)
    result = session.scalars(query.execution_options(stream_results=True, yield_per=2000))
    try:
        yield from result
    finally:
        result.close()


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will show as text, never run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if values.formula_like(text) else text


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
