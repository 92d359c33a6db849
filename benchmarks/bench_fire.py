"""Transition throughput: ``Engine.fire`` against the same-rows ceiling and a naive peer.

Three variants fire the same plan of transitions, each on its own database created by ``Store``
(the project's real schema, its indexes and triggers), seeded alike:

* **ceiling**: exactly the rows a fire writes, with raw DB-API and no reads or logic, one
  transaction per fire: close the open deadline's pending steps (UPDATE), close the deadline
  (UPDATE), insert the new deadline (RETURNING id) and its 4 steps, the versioned UPDATE of the
  instance, the hash-chained audit entry (every real column) and the chain head's UPDATE. A
  move into a terminal state writes no deadline or steps, as a fire does. On PostgreSQL the
  whole transaction is one round trip (one multi-statement simple-protocol execute). The rows
  are the project's value for value: each deadline's rule and due time and its steps' kinds,
  rungs, due times and recipients are those ``Engine.fire`` wrote for the same move in a
  recording run at set-up (``record``), and its times come from the same pinned clock, so it
  touches the same index pages (with constant values it wrote about 17.6 WAL pages per fire on
  SQLite against the project's 20.4). After the run the tables are compared value for value.
* **project**: ``Engine.fire``, with info-level JSON structlog logs configured as in production
  (``pmf_engine.app.logs.configure_logging``), written to a file.
* **peer**: ``benchmarks/peer.py``, transitions + the SQLAlchemy ORM doing the same work plainly.

The plan is a realistic mix on cycles of 50 service returns: each return is submitted, returned
for correction (a reason), submitted again and accepted (``accept`` is watched by a
segregation-of-duties rule, so the prior triggers are read), then the cycle's data request is
closed (the join: every return must be settled). 40,000 actors with roles in 400 other
organisations are seeded once into every database. On SQLite a fourth variant runs the project
on a database without those actors: client CPU per fire should not grow with them.

Variants run interleaved in rounds (ceiling, project, peer, ceiling, ...); each figure is the
median of the rounds. Before the rounds the heap is settled as ``pmf serve`` and ``pmf worker``
settle theirs once started (``settle_heap``: the set-up's garbage collected, the rest frozen), so
no round pays for a full collection of the 40,000 seeded actors' leftovers. Client CPU per
fire is ``time.process_time`` (on SQLite that includes the database engine, which runs
in-process). Durability: SQLite WAL + ``synchronous=FULL`` on disk;
PostgreSQL 15 with fsync on over loopback, started here from the installed binaries.

    python benchmarks/bench_fire.py [--json] [--quick] [--rounds 7 --fires 300] [--no-postgres]

With ``--json`` the last line printed is one JSON object with the figures. Targets are printed
as PASS/FAIL lines; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import json
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event, insert, select, text

from pmf_engine.app.logs import configure_logging
from pmf_engine.app.wiring import load_catalog, settle_heap
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Actor, Organisation, RoleAssignment, Service, Store, sqlite_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: find benchmarks.peer and tests.pg
    sys.path.insert(0, str(ROOT))

PERIOD = "2024-25-Q1"
SERVICES = 50
OTHER_ORGS, ACTORS_PER_OTHER_ORG = 400, 100
OTHER_ROLES = ("performance_officer", "cmt_member", "leadership_team", "portfolio_holder")
TARGETS = {"sqlite": 0.60, "postgresql": 0.80}
PEER_TARGET, CPU_FLAT = 5.0, 0.10
WALL = SystemClock()


class PinnedClock:
    """Real time's passing from a fixed Monday: the engine's deadlines and reminder steps are
    reckoned from the same working day whatever day the bench runs (they were from today, so
    a fire's steps, and the check that the ceiling writes the same rows, changed with it)."""

    START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def now(self) -> datetime:
        return self.START + timedelta(seconds=time.perf_counter() - self._t0)


@dataclass(frozen=True, slots=True)
class Op:
    """One transition of the plan."""

    key: str
    trigger: str
    actor: str
    reason: str | None
    from_state: str
    to_state: str
    role: str
    terminal: bool


@functools.cache
def bench_policies() -> Path:
    """The shipped policies without ``quality.signing``: a head of service's sign-off is its own
    write before ``accept`` (``pmf quality sign-off``), not part of a fire, so the plan's accepts
    follow no sign-off and the guard ``signed_off`` is left out of the mix."""
    scratch = Path(tempfile.mkdtemp(prefix="pmf-bench-policies-"))  # two benches may run at once
    atexit.register(shutil.rmtree, scratch, True)
    folder = scratch / "policies"
    shutil.copytree(ROOT / "policies", folder)
    framework = yaml.safe_load((folder / "framework.yaml").read_text(encoding="utf-8"))
    framework.get("quality", {}).pop("signing", None)
    (folder / "framework.yaml").write_text(yaml.safe_dump(framework, sort_keys=False), encoding="utf-8")
    return folder


def build_plan(cycles: int) -> list[Op]:
    """Per cycle: each return submitted, returned, resubmitted, accepted; then the join."""
    ops: list[Op] = []
    for o in range(cycles):
        org = f"BEN{o:02d}"
        keys = [(f"{org}/{PERIOD}/S{i:03d}", f"sm{o:02d}_{i:03d}") for i in range(SERVICES)]
        perf = f"perf{o:02d}"
        sm, po = "service_manager", "performance_officer"
        ops += [Op(k, "submit", a, None, "requested", "submitted", sm, False) for k, a in keys]
        ops += [
            Op(k, "return_for_correction", perf, "figures", "submitted", "returned", po, False)
            for k, _ in keys
        ]
        ops += [Op(k, "submit", a, None, "returned", "submitted", sm, False) for k, a in keys]
        ops += [Op(k, "accept", perf, None, "submitted", "accepted", po, True) for k, _ in keys]
        ops.append(
            Op(
                f"{org}/{PERIOD}",
                "close_data_request",
                perf,
                None,
                "data_request",
                "service_review",
                po,
                False,
            )
        )
    return ops


# -- set-up (not timed) -----------------------------------------------------------------------


def prepare(url: str, catalog: Catalog, cycles: int, others: bool) -> Engine:
    """A Store-created database with the bench organisations (and, if ``others``, 40,000 actors
    in other organisations) and one started cycle per bench organisation."""
    clock = PinnedClock()  # the store's wall too: its audit entries are stamped on the same day
    store = Store(url, wall=clock)
    now = WALL.now()
    orgs = [{"code": f"BEN{o:02d}", "name": f"Bench {o}", "created_at": now} for o in range(cycles)]
    if others:
        orgs += [{"code": f"OTH{o:03d}", "name": f"Other {o}", "created_at": now} for o in range(OTHER_ORGS)]
    with store.engine.begin() as conn:
        conn.execute(insert(Organisation), orgs)
        org_id = {code: i for i, code in conn.execute(select(Organisation.id, Organisation.code))}
        conn.execute(
            insert(Service),
            [
                {"organisation_id": org_id[f"BEN{o:02d}"], "code": f"S{i:03d}", "name": f"Service {i}"}
                for o in range(cycles)
                for i in range(SERVICES)
            ],
        )
        service_id = {
            (org, code): sid
            for sid, org, code in conn.execute(select(Service.id, Service.organisation_id, Service.code))
        }
        actors: list[dict[str, Any]] = []
        grants: list[tuple[str, str, str, str | None]] = []
        for o in range(cycles):
            org = f"BEN{o:02d}"
            for name, role in ((f"perf{o:02d}", "performance_officer"), (f"cmt{o:02d}", "cmt_member")):
                actors.append({"username": name, "name": name, "active": True, "created_at": now})
                grants.append((name, org, role, None))
            for i in range(SERVICES):
                for prefix, role in (("sm", "service_manager"), ("hos", "head_of_service")):
                    name = f"{prefix}{o:02d}_{i:03d}"
                    actors.append({"username": name, "name": name, "active": True, "created_at": now})
                    grants.append((name, org, role, f"S{i:03d}"))
        if others:
            for o in range(OTHER_ORGS):
                for a in range(ACTORS_PER_OTHER_ORG):
                    name = f"oth{o:03d}_{a:03d}"
                    actors.append({"username": name, "name": name, "active": True, "created_at": now})
                    grants.append((name, f"OTH{o:03d}", OTHER_ROLES[a % len(OTHER_ROLES)], None))
        conn.execute(insert(Actor), actors)
        actor_id = {name: i for name, i in conn.execute(select(Actor.username, Actor.id))}
        conn.execute(
            insert(RoleAssignment),
            [
                {
                    "actor_id": actor_id[name],
                    "organisation_id": org_id[org],
                    "role": role,
                    "service_id": service_id[(org_id[org], svc)] if svc else None,
                }
                for name, org, role, svc in grants
            ],
        )
    engine = Engine(store, catalog, clock)
    for o in range(cycles):
        engine.start_cycle(f"BEN{o:02d}", PERIOD, by=f"perf{o:02d}")
    return engine


@dataclass(slots=True)
class _Inst:
    id: int
    organisation_id: int
    chain: str
    version: int
    deadline: int | None
    moves: int = 0
    """How many of the instance's moves the ceiling has made (its next recorded deadline)."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A deadline a move opened, as ``Engine.fire`` wrote it: its rule and due time, and its
    steps' (kind, rung, due time, recipients as stored)."""

    rule: str
    due: str
    steps: tuple[tuple[str, int, str, str], ...]


def record(catalog: Catalog, cycles: int, url: str) -> dict[str, list[Opened]]:
    """Fire the whole plan with ``Engine.fire`` on a database of its own (set-up, not timed) and
    keep, per instance, the deadline each move opened with its steps: the values the ceiling
    writes, so that it writes the rows the project writes value for value (due times, rungs,
    recipients) and touches the same index pages, not only as many rows."""
    engine = prepare(url, catalog, cycles, others=False)
    ops = build_plan(cycles)
    with engine.store.engine.connect() as conn:
        first = {
            i: d
            for i, d in conn.execute(text("SELECT instance_id, MAX(id) FROM deadlines GROUP BY instance_id"))
        }
    for op in ops:
        engine.fire(op.key, op.trigger, op.actor, reason=op.reason)
    opened: dict[str, list[Opened]] = {}
    with engine.store.engine.connect() as conn:
        steps: dict[int, list[tuple[str, int, str, str]]] = {}
        for deadline, kind, rung, due, recipients in conn.exec_driver_sql(
            "SELECT deadline_id, kind, rung, due_at, recipients FROM steps ORDER BY id"
        ):
            steps.setdefault(deadline, []).append((kind, rung, due, recipients))
        for key, instance, deadline, rule, due in conn.exec_driver_sql(
            "SELECT i.key, i.id, d.id, d.rule, d.due_at FROM deadlines d JOIN instances i"
            " ON i.id = d.instance_id ORDER BY d.id"
        ):
            if deadline > first.get(instance, 0):
                opened.setdefault(key, []).append(Opened(rule, due, tuple(steps.get(deadline, ()))))
    engine.store.dispose()
    return opened


@dataclass(slots=True)
class _Head:
    seq: int
    hash: str


def _snapshot(store: Store) -> tuple[dict[str, _Inst], dict[str, _Head]]:
    """What the ceiling keeps in memory instead of reading it: ids, versions, open deadlines, heads."""
    with store.engine.connect() as conn:
        open_sql = text("SELECT instance_id, id FROM deadlines WHERE closed_at IS NULL")
        deadlines = {i: d for i, d in conn.execute(open_sql)}
        insts = {
            key: _Inst(i, org, code, version, deadlines.get(i))
            for i, key, org, code, version in conn.execute(
                text(
                    "SELECT i.id, i.key, i.organisation_id, o.code, i.version FROM instances i"
                    " JOIN organisations o ON o.id = i.organisation_id"
                )
            )
        }
        heads = {
            chain: _Head(seq, h)
            for chain, seq, h in conn.execute(text("SELECT chain, chain_seq, hash FROM audit_heads"))
        }
    return insts, heads


# -- the ceiling ------------------------------------------------------------------------------

AUDIT_COLUMNS = (
    "chain, chain_seq, at, as_of, organisation, instance, event, trigger, from_state, to_state,"
    " actor, role, reason, data, alg, prev_hash, hash"
)


def _audit_values(op: Op, inst: _Inst, head: _Head, at: str) -> tuple[Any, ...]:
    seq = head.seq + 1
    fields = (inst.chain, seq, at, None, inst.chain, op.key, "fired", op.trigger, op.from_state, op.to_state)
    fields += (op.actor, op.role, op.reason, "{}", "sha256/2", head.hash)
    digest = hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()
    head.seq, head.hash = seq, digest
    return (*fields, digest)


class SqliteCeiling:
    """The same rows on the raw ``sqlite3`` module (cached statements), no reads."""

    def __init__(self, path: Path, store: Store, opened: dict[str, list[Opened]]) -> None:
        self.insts, self.heads = _snapshot(store)
        self.opened = opened
        self.clock = PinnedClock()  # the project's times: the same day, the same index pages
        store.dispose()
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
            self.conn.execute(f"PRAGMA {pragma}")

    def fire(self, op: Op) -> None:
        """One fire's rows in one transaction."""
        inst, c = self.insts[op.key], self.conn
        now = self.clock.now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        c.execute("BEGIN IMMEDIATE")
        c.execute(
            "UPDATE steps SET status = 'cancelled'"
            " WHERE deadline_id = ? AND status IN ('pending', 'claimed')",
            (inst.deadline,),
        )
        c.execute("UPDATE deadlines SET closed_at = ? WHERE id = ?", (stamp, inst.deadline))
        if op.terminal:
            inst.deadline = None
        else:
            opened = self.opened[op.key][inst.moves]
            inst.moves += 1
            (inst.deadline,) = c.execute(
                "INSERT INTO deadlines (instance_id, organisation_id, state, rule, due_at, meeting_ids,"
                " problem, opened_at) VALUES (?, ?, ?, ?, ?, '[]', NULL, ?) RETURNING id",
                (inst.id, inst.organisation_id, op.to_state, opened.rule, opened.due, stamp),
            ).fetchone()
            c.executemany(
                "INSERT INTO steps (deadline_id, instance_id, organisation_id, kind, rung, due_at,"
                " recipients, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                [
                    (inst.deadline, inst.id, inst.organisation_id, kind, rung, due, recipients)
                    for kind, rung, due, recipients in opened.steps
                ],
            )
        c.execute(
            "UPDATE instances SET state = ?, version = ?, context = '{}', entered_at = ?"
            " WHERE id = ? AND version = ?",
            (op.to_state, inst.version + 1, stamp, inst.id, inst.version),
        )
        inst.version += 1
        at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        values = _audit_values(op, inst, self.heads[inst.chain], at)
        c.execute(
            f"INSERT INTO audit_entries ({AUDIT_COLUMNS}) VALUES ({', '.join('?' * 17)}) RETURNING seq",
            values,
        ).fetchone()
        c.execute(
            "UPDATE audit_heads SET chain_seq = ?, hash = ?, at = ? WHERE chain = ?",
            (values[1], values[-1], at, inst.chain),
        )
        c.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


_PG_FIRE = (
    "BEGIN;"
    " UPDATE steps SET status = 'cancelled' WHERE deadline_id = %(deadline)s"
    " AND status IN ('pending', 'claimed');"
    " UPDATE deadlines SET closed_at = %(now)s WHERE id = %(deadline)s;"
    "{deadline}"
    " UPDATE instances SET state = %(to_state)s, version = %(version)s, context = '{{}}'::jsonb,"
    " entered_at = %(now)s WHERE id = %(id)s AND version = %(read_version)s;"
    f" INSERT INTO audit_entries ({AUDIT_COLUMNS}) VALUES"
    " (%(a0)s, %(a1)s, %(a2)s, %(a3)s, %(a4)s, %(a5)s, %(a6)s, %(a7)s, %(a8)s, %(a9)s, %(a10)s,"
    " %(a11)s, %(a12)s, %(a13)s, %(a14)s, %(a15)s, %(a16)s) RETURNING seq;"
    " UPDATE audit_heads SET chain_seq = %(a1)s, hash = %(a16)s, at = %(a2)s WHERE chain = %(a0)s;"
    " COMMIT"
)
_PG_DEADLINE = (
    " WITH d AS (INSERT INTO deadlines (instance_id, organisation_id, state, rule, due_at, meeting_ids,"
    " problem, opened_at) VALUES (%(id)s, %(org)s, %(to_state)s, %(rule)s, %(due)s,"
    " '[]'::jsonb, NULL, %(now)s) RETURNING id),"
    " s AS (INSERT INTO steps (deadline_id, instance_id, organisation_id, kind, rung, due_at, recipients,"
    " status) SELECT d.id, %(id)s, %(org)s, v.kind, v.rung::integer, v.due::timestamp, v.recipients::jsonb,"
    " 'pending' FROM d, (VALUES {steps}) AS v (kind, rung, due, recipients))"
    " SELECT id FROM d;"
)
PG_TERMINAL = _PG_FIRE.format(deadline="")


@functools.cache
def pg_move(steps: int) -> str:
    """The ceiling's transaction for a move that opens a deadline with ``steps`` steps."""
    values = ", ".join(f"(%(k{i})s, %(r{i})s, %(d{i})s, %(p{i})s)" for i in range(steps))
    return _PG_FIRE.format(deadline=_PG_DEADLINE.format(steps=values))


class PostgresCeiling:
    """The same rows in one round trip per fire: one multi-statement simple-protocol execute."""

    def __init__(self, dsn: str, store: Store, opened: dict[str, list[Opened]]) -> None:
        import psycopg  # noqa: PLC0415 - only for the PostgreSQL run

        self.insts, self.heads = _snapshot(store)
        self.opened = opened
        self.clock = PinnedClock()  # the project's times: the same day, the same index pages
        store.dispose()
        self.conn = psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor)
        self.cur = self.conn.cursor()

    def fire(self, op: Op) -> None:
        """One fire's rows in one transaction and one round trip."""
        inst = self.insts[op.key]
        now = self.clock.now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        values = _audit_values(op, inst, self.heads[inst.chain], at)
        params: dict[str, Any] = {f"a{i}": v for i, v in enumerate(values)}
        params |= {
            "deadline": inst.deadline,
            "now": stamp,
            "to_state": op.to_state,
            "version": inst.version + 1,
            "read_version": inst.version,
            "id": inst.id,
            "org": inst.organisation_id,
        }
        sql = PG_TERMINAL
        if not op.terminal:
            opened = self.opened[op.key][inst.moves]
            inst.moves += 1
            params |= {"rule": opened.rule, "due": opened.due}
            for i, (kind, rung, due, recipients) in enumerate(opened.steps):
                params |= {f"k{i}": kind, f"r{i}": rung, f"d{i}": due, f"p{i}": recipients}
            sql = pg_move(len(opened.steps))
        cur = self.cur
        cur.execute(sql, params)
        inst.version += 1
        if op.terminal:
            inst.deadline = None
        else:
            cur.nextset()  # UPDATE steps
            cur.nextset()  # UPDATE deadlines
            cur.nextset()  # the new deadline's id
            (inst.deadline,) = cur.fetchone() or (None,)
            while cur.nextset():
                pass

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


# -- rounds -----------------------------------------------------------------------------------


@dataclass
class Variant:
    """One way of firing the plan, with its per-round figures."""

    name: str
    fire: Callable[[Op], Any]
    done: int = 0
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def run(self, ops: list[Op], n: int) -> None:
        """Fire the next ``n`` operations of the plan, timed."""
        chunk = ops[self.done : self.done + n]
        self.done += len(chunk)
        fire, lat = self.fire, self.latencies
        cpu0, start = time.process_time(), time.perf_counter()
        for op in chunk:
            t0 = time.perf_counter()
            fire(op)
            lat.append(time.perf_counter() - t0)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        self.rates.append(len(chunk) / elapsed)
        self.cpu.append(cpu / len(chunk))

    @property
    def rate(self) -> float:
        """Median fires/s over the rounds."""
        return statistics.median(self.rates)

    @property
    def cpu_ms(self) -> float:
        """Median client CPU ms per fire over the rounds."""
        return statistics.median(self.cpu) * 1000


def interleave(variants: list[Variant], ops: list[Op], rounds: int, fires: int, warmup: int) -> None:
    """Warm each variant up (untimed), then run the rounds, each variant in turn."""
    for v in variants:
        for op in ops[:warmup]:
            v.fire(op)
        v.done = warmup
    for r in range(rounds):
        for v in variants:
            v.run(ops, fires)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{v.name} {v.rates[-1]:,.0f}/s" for v in variants))


@contextmanager
def counting(store: Store) -> Iterator[list[str]]:
    """The statements ``store`` executes inside the block (a ``before_cursor_execute`` listener)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", before)


def statements_per_fire(engine: Engine, ops: list[Op]) -> dict[str, float]:
    """Fire ``ops`` counting what ``Engine.fire`` sends: statements per fire, by verb."""
    with counting(engine.store) as seen:
        for op in ops:
            engine.fire(op.key, op.trigger, op.actor, reason=op.reason)
    verbs: dict[str, float] = {}
    for verb in seen:
        verbs[verb] = verbs.get(verb, 0) + 1 / len(ops)
    return verbs


def round_trips_per_fire(engine: Engine, ops: list[Op], trace: Path) -> float:
    """PostgreSQL: the round trips ``Engine.fire`` makes, counted in libpq's own protocol trace
    (``PQtrace``) of the connections it uses: each ``Sync`` (the end of an extended-protocol
    pipeline) and each simple ``Query`` is one wait for the server."""
    with trace.open("w", encoding="utf-8") as out:

        def on(dbapi_connection: Any, *_args: Any) -> None:
            dbapi_connection.pgconn.trace(out.fileno())

        def off(dbapi_connection: Any, *_args: Any) -> None:
            dbapi_connection.pgconn.untrace()

        event.listen(engine.store.engine, "checkout", on)
        event.listen(engine.store.engine, "checkin", off)
        try:
            for op in ops:
                engine.fire(op.key, op.trigger, op.actor, reason=op.reason)
        finally:
            event.remove(engine.store.engine, "checkout", on)
            event.remove(engine.store.engine, "checkin", off)
    waits = 0
    for line in trace.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) > 3 and parts[1] == "F" and parts[3].split(" ", 1)[0] in ("Sync", "Query"):
            waits += 1
    return waits / len(ops)


ROW_COUNTS = {
    "instances (sum of versions)": "SELECT SUM(version) FROM instances",
    "deadlines": "SELECT COUNT(*) FROM deadlines",
    "deadlines closed": "SELECT COUNT(*) FROM deadlines WHERE closed_at IS NOT NULL",
    "steps": "SELECT COUNT(*) FROM steps",
    "steps cancelled": "SELECT COUNT(*) FROM steps WHERE status = 'cancelled'",
    "audit entries": "SELECT COUNT(*) FROM audit_entries",
    "audit head seqs (sum)": "SELECT SUM(chain_seq) FROM audit_heads",
}


ROW_VALUES = {
    "deadlines": "SELECT state, rule, due_at, meeting_ids, problem, closed_at IS NULL FROM deadlines",
    "steps": "SELECT kind, rung, due_at, recipients, status FROM steps",
    "instances": "SELECT key, state, version, context FROM instances",
    "audit entries": "SELECT chain, chain_seq, as_of, organisation, instance, event, trigger, from_state,"
    " to_state, actor, role, reason, data, alg FROM audit_entries",
}
"""What the ceiling must write as ``Engine.fire`` does, value for value (times, hashes and ids
aside: the two runs are made at other instants)."""


def row_values(url: str) -> dict[str, list[str]]:
    """Each table's rows of ``ROW_VALUES``, as sorted text."""
    store = Store(url, upgrade=False)
    try:
        with store.engine.connect() as conn:
            return {
                name: sorted(repr(tuple(r)) for r in conn.exec_driver_sql(sql))
                for name, sql in ROW_VALUES.items()
            }
    finally:
        store.dispose()


def row_counts(url: str) -> dict[str, int]:
    """What each variant's database holds after the run: the ceiling must match the project."""
    store = Store(url, upgrade=False)
    try:
        with store.engine.connect() as conn:
            return {name: int(conn.execute(text(sql)).scalar_one() or 0) for name, sql in ROW_COUNTS.items()}
    finally:
        store.dispose()


# -- one backend ------------------------------------------------------------------------------


@dataclass
class Backend:
    """How to make a database on one backend, and its ceiling."""

    name: str
    new_url: Callable[[str], str]
    ceiling: Callable[[str, Store, dict[str, list[Opened]]], SqliteCeiling | PostgresCeiling]


def run_backend(
    backend: Backend,
    catalog: Catalog,
    args: argparse.Namespace,
    cycles: int,
    logs: Path,
    opened: dict[str, list[Opened]],
) -> dict[str, Any]:
    """Prepare the databases, run the interleaved rounds, print the figures."""
    from benchmarks.peer import NaivePeer  # noqa: PLC0415 - needs ROOT on sys.path

    ops = build_plan(cycles)
    print(f"\n{backend.name}: preparing {cycles} cycles x {SERVICES} returns, 40,000 other actors ...")
    t0 = time.perf_counter()
    urls = {name: backend.new_url(name) for name in ("ceiling", "project", "peer", "project_0")}
    project = prepare(urls["project"], catalog, cycles, others=True)
    ceiling = backend.ceiling(
        urls["ceiling"], prepare(urls["ceiling"], catalog, cycles, others=True).store, opened
    )
    prepare(urls["peer"], catalog, cycles, others=True).store.dispose()
    peer = NaivePeer(urls["peer"], ROOT / "workflows", bench_policies())
    project_0 = (
        prepare(urls["project_0"], catalog, cycles, others=False) if backend.name == "sqlite" else None
    )
    print(f"  prepared in {time.perf_counter() - t0:.1f} s")

    def fire_project(engine: Engine) -> Callable[[Op], Any]:
        return lambda op: engine.fire(op.key, op.trigger, op.actor, reason=op.reason)

    variants = [
        Variant("ceiling", ceiling.fire),
        Variant("project", fire_project(project)),
        Variant("peer", lambda op: peer.fire(op.key, op.trigger, op.actor, op.reason)),
    ]
    if project_0 is not None:
        variants.append(Variant("project_0_actors", fire_project(project_0)))
    warmup = 20
    # What Engine.fire sends, counted on the warm-up of a database of its own (no timing).
    counted = prepare(backend.new_url("counted"), catalog, 1, others=False)
    verbs = statements_per_fire(counted, ops[:warmup])
    trips = (
        round_trips_per_fire(counted, ops[warmup : 4 * SERVICES + 1], logs.parent / "pq.trace")
        if backend.name == "postgresql"
        else None
    )
    counted.store.dispose()
    settle_heap()  # as ``pmf serve`` and ``pmf worker`` do once started: the set-up's garbage is not a fire's
    interleave(variants, ops, args.rounds, args.fires, warmup)
    ceiling.close()
    peer.dispose()
    project.store.dispose()
    if project_0 is not None:
        project_0.store.dispose()
    by = {v.name: v for v in variants}
    print(
        f"\n| {backend.name} variant | fires/s (median) | of ceiling | client CPU ms/fire | p50 ms | p99 ms |"
    )
    print("|---|---|---|---|---|---|")
    for v in variants:
        p50 = statistics.median(v.latencies) * 1000
        p99 = statistics.quantiles(v.latencies, n=100)[98] * 1000
        print(
            f"| {v.name} | {v.rate:,.0f} | {v.rate / by['ceiling'].rate:.1%} | {v.cpu_ms:.3f} |"
            f" {p50:.2f} | {p99:.2f} |"
        )
    print(
        "Engine.fire's statements per fire (as listeners see them; on PostgreSQL pmf_fire_read is one"
        " SELECT and pmf_apply's writes count as the statements they stand for): "
        + ", ".join(f"{verb} {count:.2f}" for verb, count in sorted(verbs.items()))
        + f" (total {sum(verbs.values()):.2f})"
    )
    if trips is not None:
        print(f"Engine.fire round trips per fire (libpq trace: Sync and Query messages): {trips:.2f}")
    counts = {name: row_counts(urls[name]) for name in ("ceiling", "project", "peer")}
    print("\n| rows after the run | ceiling | project | peer |\n|---|---|---|---|")
    for what in ROW_COUNTS:
        print(
            f"| {what} | "
            + " | ".join(f"{counts[name][what]:,}" for name in ("ceiling", "project", "peer"))
            + " |"
        )
    ceiling_values, project_values = row_values(urls["ceiling"]), row_values(urls["project"])
    differ = [name for name, rows in ceiling_values.items() if rows != project_values[name]]
    same = counts["ceiling"] == counts["project"] and not differ
    print(
        "ceiling wrote the same rows as Engine.fire, value for value (times, hashes, ids aside): "
        + ("yes" if same else f"NO ({', '.join(differ) or 'counts'})")
    )
    result: dict[str, Any] = {
        "fires_per_s": round(by["project"].rate, 1),
        "ceiling_per_s": round(by["ceiling"].rate, 1),
        "ratio": round(by["project"].rate / by["ceiling"].rate, 3),
        "peer_per_s": round(by["peer"].rate, 1),
        "cpu_ms_per_fire": round(by["project"].cpu_ms, 3),
        "ceiling_cpu_ms_per_fire": round(by["ceiling"].cpu_ms, 3),
        "peer_cpu_ms_per_fire": round(by["peer"].cpu_ms, 3),
        "statements_per_fire": round(sum(verbs.values()), 2),
        "round_trips_per_fire": round(trips, 2) if trips is not None else None,
        "same_rows": same,
    }
    if project_0 is not None:
        result["cpu_ms_per_fire_0_actors"] = round(by["project_0_actors"].cpu_ms, 3)
        result["fires_per_s_0_actors"] = round(by["project_0_actors"].rate, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    parser.add_argument("--quick", action="store_true", help="a short run (3 rounds of 80 fires)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fires", type=int, default=300, help="fires per variant per round")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.fires = 3, 80
    warmup = 20
    cycles = -(-(args.rounds * args.fires + warmup) // (4 * SERVICES + 1))
    catalog = load_catalog(ROOT / "workflows", bench_policies())
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}; {args.rounds} rounds x {args.fires} fires per variant"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pmf-bench-") as tmp:
        folder = Path(tmp)
        logs = folder / "pmf.log.jsonl"
        configure_logging("json", "info", logs.open("a", encoding="utf-8"))  # as in production
        sqlite = Backend(
            "sqlite",
            lambda name: sqlite_url(folder / f"{name}.db"),
            lambda url, store, opened: SqliteCeiling(Path(url.removeprefix("sqlite:///")), store, opened),
        )
        opened = record(catalog, cycles, sqlite_url(folder / "recorded.db"))
        results["sqlite"] = run_backend(sqlite, catalog, args, cycles, logs, opened)
        results["postgresql"] = None
        if not args.no_postgres:
            results["postgresql"] = run_postgres(catalog, args, cycles, logs, opened)
        lines = sum(1 for _ in logs.open(encoding="utf-8"))
        print(f"\ninfo-level JSON log lines written (set-up included): {lines:,}")
    sq = results["sqlite"]
    results["peer"] = {
        "sqlite_per_s": sq["peer_per_s"],
        "speedup": round(sq["fires_per_s"] / sq["peer_per_s"], 2),
    }
    print()
    for backend, target in TARGETS.items():
        figures = results.get(backend)
        if figures is None:
            print(f"SKIP ratio {backend}: not run")
            continue
        verdict = "PASS" if figures["ratio"] >= target else "FAIL"
        print(f"{verdict} ratio {backend} {figures['ratio']:.3f} >= {target:.2f} (of the same-rows ceiling)")
    speedup = results["peer"]["speedup"]
    print(
        f"{'PASS' if speedup >= PEER_TARGET else 'FAIL'} project / naive peer on SQLite {speedup:.2f}x >= 5x"
    )
    growth = sq["cpu_ms_per_fire"] / sq["cpu_ms_per_fire_0_actors"] - 1
    print(
        f"{'PASS' if growth <= CPU_FLAT else 'FAIL'} client CPU per fire 0 -> 40k actors (SQLite):"
        f" {sq['cpu_ms_per_fire_0_actors']:.3f} -> {sq['cpu_ms_per_fire']:.3f} ms"
        f" ({growth:+.1%}, within 10 %)"
    )
    if args.json:
        print(json.dumps(results, sort_keys=True))


def run_postgres(
    catalog: Catalog, args: argparse.Namespace, cycles: int, logs: Path, opened: dict[str, list[Opened]]
) -> dict[str, Any]:
    """The same on a throw-away PostgreSQL (fsync on) started from the installed binaries."""
    from tests.pg import PostgresServer  # noqa: PLC0415 - the test suite's throw-away server

    server = PostgresServer.start(fsync=True)
    try:
        names: dict[str, str] = {}

        def new_url(name: str) -> str:
            names[name] = server.create_database()
            return server.url(names[name])

        def ceiling(url: str, store: Store, opened: dict[str, list[Opened]]) -> PostgresCeiling:
            db = url.rsplit("/", 1)[1]
            dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname={db}"
            return PostgresCeiling(dsn, store, opened)

        return run_backend(Backend("postgresql", new_url, ceiling), catalog, args, cycles, logs, opened)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
