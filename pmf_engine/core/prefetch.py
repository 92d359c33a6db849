"""What a fire reads before it decides, in one round trip on PostgreSQL.

``Engine.fire`` needs the instance (locked), the actor's roles and, when the trigger is watched
by a segregation-of-duties rule, the triggers the actor fired on it before. On PostgreSQL it
also takes, in the same pipeline, what its writes will need so that they can all go in one
more round trip with the COMMIT: every active role holder of the instance's organisation
(org-wide, or of its service: the reminders' recipients), its organisation's audit chain head
(locked: the entry's hash is computed here, in Python, with the key that never reaches the
database) and an id for the new deadline and a sequence number for the audit entry.

The head is not taken early for a trigger that cascades: a cascade locks the children after
the parent, and a child's own fire locks the child before the head, so holding the head first
could deadlock. Such fires read it when they append, as before. On PostgreSQL all of it but the
guards' reads is one call of ``pmf_fire_read`` (migration 0026), answered as one jsonb document
(one result to parse, not six), with the guards' reads in the same pipeline. On SQLite
(in-process, no round trips) only the first three reads and the guards' are made here, each its
own statement; the rest are read where they are used.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ARRAY, Boolean, String, bindparam, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB

from pmf_engine.core.audit.export import fired_by_statement
from pmf_engine.core.directory import ACTOR_ROLES
from pmf_engine.core.errors import NotFound
from pmf_engine.core.instances import RAW_INSTANCE_ROW_LOCKED, InstanceRow
from pmf_engine.core.raw import Raw, Row, Statement
from pmf_engine.core.timekeeper import Holder

# PostgreSQL: every read of the first round trip but the guards' in one call, its answer one
# jsonb document (migration 0026 has the statements, each as the one SQLite runs here or where
# it is used).
_FIRE_READ = Statement(
    select(
        func.pmf_fire_read(
            sql_cast(bindparam("key"), String),
            sql_cast(bindparam("username"), String),
            sql_cast(bindparam("watched", type_=ARRAY(String)), ARRAY(String)),
            sql_cast(bindparam("head"), Boolean),
            type_=JSONB,
        )
    )
)
_ROLES = Statement(ACTOR_ROLES)


@dataclass(frozen=True, slots=True)
class Prefetched:
    """What was read before deciding. ``None`` fields were not read here (read them where used)."""

    instance: InstanceRow
    roles: list[Row]
    """(active, role, organisation code, service code) per role the actor holds."""
    prior: set[str] | None
    """Which of the watched triggers the actor fired on the instance before."""
    holders: list[Holder] | None = None
    head: tuple[int, str, str] | None = None
    """The chain head (chain_seq, hash, the time of its entry), locked."""
    deadline_id: int | None = None
    audit_seq: int | None = None
    guards: dict[str, list[Row]] = field(default_factory=dict)
    """Rows read for the guards that declared their reads, by guard name."""


def prefetch(
    raw: Raw,
    key: str,
    username: str,
    watched: Collection[str],
    *,
    head: bool,
    guards: Mapping[str, tuple[Statement, Mapping[str, Any]]] | None = None,
) -> Prefetched:
    """Read (and lock) what firing on ``key`` as ``username`` needs; ``watched``: the triggers
    some segregation rule may ask about; ``head``: take the chain head now (PostgreSQL);
    ``guards``: the reads guards of the trigger declared (on SQLite each is one more statement,
    run here so that the guard needs no Session of its own)."""
    if raw.pipelines:
        return _prefetch_in_one_call(raw, key, username, watched, head, guards or {})
    reads: list[tuple[Statement, dict[str, Any]]] = [
        (RAW_INSTANCE_ROW_LOCKED, {"key": key}),
        (_ROLES, {"username": username}),
    ]
    if watched:
        reads.append(fired_by_statement(key, username, watched))
    guard_names: list[str] = []
    for name, (statement, values) in (guards or {}).items():
        guard_names.append(name)
        reads.append((statement, dict(values)))
    found = raw.prefetch(reads)
    if not found[0]:
        raise NotFound("cycle or return", key)
    instance = InstanceRow(*found[0][0])
    prior = {str(t) for (t,) in found[2] if t} if watched else None
    rest = found[3 if watched else 2 :]
    return Prefetched(instance, found[1], prior, guards=dict(zip(guard_names, rest, strict=True)))


def _prefetch_in_one_call(
    raw: Raw,
    key: str,
    username: str,
    watched: Collection[str],
    head: bool,
    guards: Mapping[str, tuple[Statement, Mapping[str, Any]]],
) -> Prefetched:
    """PostgreSQL: ``pmf_fire_read`` (migration 0026) and the guards' reads in one pipeline."""
    values = {"key": key, "username": username, "watched": sorted(watched) if watched else None, "head": head}
    found = raw.prefetch([(_FIRE_READ, values), *((s, dict(v)) for s, v in guards.values())])
    read: dict[str, Any] | None = found[0][0][0]
    if read is None:
        raise NotFound("cycle or return", key)
    row = read["instance"]
    row[5] = datetime.fromisoformat(row[5]).replace(tzinfo=UTC)  # entered_at: JSON text, stored as UTC
    instance = InstanceRow(*row)
    roles = [tuple(r) for r in read["roles"]]
    prior = set(read["prior"]) if read["prior"] is not None else None
    holders = [Holder(*h) for h in read["holders"] if h[0] is not None]
    guard_rows = dict(zip(guards, found[1:], strict=True))
    if read["head"] is None:  # not asked for, or a new chain with no head row yet: append makes it
        return Prefetched(instance, roles, prior, holders, guards=guard_rows)
    seq, digest, at = read["head"]
    deadline_id, audit_seq = read["ids"]
    return Prefetched(
        instance,
        roles,
        prior,
        holders,
        (int(seq), str(digest), str(at or "")),
        deadline_id,
        audit_seq,
        guard_rows,
    )


@dataclass(frozen=True, slots=True)
class Watch:
    """What the catalog says about a trigger before its instance is read: the triggers any
    segregation rule on it asks about, and whether any transition it names cascades."""

    watched: dict[str, frozenset[str]]
    cascading: frozenset[str]
    guards: dict[str, frozenset[str]] = field(default_factory=dict)
    """The guards on each trigger that declared their reads."""

    @classmethod
    def of(
        cls, segregation: Collection[Any], workflows: Collection[Any], reading: Collection[str] = ()
    ) -> Watch:
        """From the roles policy's segregation rules, the catalog's workflows and the names of
        the guards that declared their reads."""
        watched: dict[str, set[str]] = {}
        for rule in segregation:
            watched.setdefault(rule.trigger, set()).update(rule.not_after)
        cascading = {t.trigger for wf in workflows for t in wf.transitions if t.cascade}
        guards: dict[str, set[str]] = {}
        for wf in workflows:
            for t in wf.transitions:
                guards.setdefault(t.trigger, set()).update(g for g in t.guards if g in reading)
        return cls(
            {k: frozenset(v) for k, v in watched.items()},
            frozenset(cascading),
            {k: frozenset(v) for k, v in guards.items() if v},
        )
