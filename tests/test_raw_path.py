"""The hot path on the driver (``pmf_engine.core.raw``) writes exactly what SQLAlchemy Core wrote.

Two copies of the seeded council run the same fires at the same (manual) times: one as the
engine runs them, on the DB-API connection (on PostgreSQL its reads and writes by the functions
of migration 0026, ``pmf_fire_read`` and ``pmf_apply``), the other with ``Raw`` sending each
statement by itself back through Core. Every table, dumped as the database stores it, is
identical afterwards; the audit chains verify; and each entry's stored hash is the one Python
computes from its stored fields.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Integer, String, bindparam, func, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, OperationalError

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit
from pmf_engine.core.audit.chain import entry_hash, format_instant
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import ConcurrencyConflict, GuardFailed, PermissionDenied
from pmf_engine.core.raw import Raw, Statement
from pmf_engine.core.store import AuditEntry, Base, Instance, Step, Store, UTCDateTime, sqlite_url
from tests.conftest import ORG
from tests.pg import PostgresServer

PERIOD = "2024-25-Q1"
CYCLE = f"{ORG}/{PERIOD}"


def _core_rows(self: Raw, statement: Statement, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in self.conn.execute(statement.statement, dict(values))]


def _core_count(self: Raw, statement: Statement, values: Mapping[str, Any]) -> int:
    return int(self.conn.execute(statement.statement, dict(values)).rowcount)


def _core_many(self: Raw, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
    self.conn.execute(statement.statement, [dict(r) for r in rows])


_RAW_INIT = Raw.__init__


def _one_at_a_time(self: Raw, *args: Any, **kwargs: Any) -> None:
    """A ``Raw`` that sends each statement by itself, as on SQLite: on PostgreSQL no pipeline,
    no ``pmf_fire_read`` or ``pmf_apply``, each read and write the Core statement it stands for."""
    _RAW_INIT(self, *args, **kwargs)
    self.pipelines = False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two identical copies of the seeded council."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        for name in ("raw.db", "core.db"):
            shutil.copyfile(template, tmp_path / name)
        yield sqlite_url(tmp_path / "raw.db"), sqlite_url(tmp_path / "core.db")
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    pg_template = request.getfixturevalue("pg_template")
    yield (
        server.url(server.create_database(pg_template)),
        server.url(server.create_database(pg_template)),
    )


def _work(url: str, catalog: Catalog) -> Store:
    """Start a cycle and move it and its returns along (refusals and a stale write included)."""
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(url, wall=clock)
    engine = Engine(store, catalog, clock)
    with store.engine.begin() as conn:  # a holder deactivated with roles still held: no reminders
        conn.exec_driver_sql("UPDATE actors SET active = false WHERE username = 'perf2'")
    engine.start_cycle(ORG, PERIOD, by="perf")
    moves = [
        (f"{CYCLE}/HOUSING", "submit", "sm_housing", None),
        (f"{CYCLE}/HOUSING", "return_for_correction", "perf", "figures missing"),
        (f"{CYCLE}/HOUSING", "submit", "sm_housing", None),
        (f"{CYCLE}/HOUSING", "accept", "perf", None),
        (f"{CYCLE}/PLANNING", "waive", "perf", "service restructured"),
        (f"{CYCLE}/WASTE", "submit", "sm_waste", None),
        (f"{CYCLE}/WASTE", "accept", "perf", None),
        (CYCLE, "close_data_request", "perf", None),
    ]
    for n, (key, trigger, actor, reason) in enumerate(moves):
        if n == 4:  # the sweep first sends what is due: leaving a state keeps a fired step fired
            clock.set(datetime(2024, 7, 12, 16, 0, tzinfo=LONDON))
            make_worker(store, catalog, clock, worker_id="w1", batch=50, channel=LogChannel()).tick()
        clock.advance(timedelta(minutes=7))
        engine.fire(key, trigger, actor, reason=reason)
    with pytest.raises(PermissionDenied):
        engine.fire(CYCLE, "complete_service_review", "sm_waste")
    with pytest.raises(ConcurrencyConflict):
        engine.fire(CYCLE, "complete_service_review", "perf", expected_version=1)
    return store


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as the driver returns them (SQLite: the stored text and numbers)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            if store.dialect == "sqlite":
                columns += ", " + ", ".join(f'typeof("{c.name}")' for c in table.columns)
            order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
            sql = f"SELECT {columns} FROM {table.name} ORDER BY {order}"
            tables[table.name] = [tuple(row) for row in conn.exec_driver_sql(sql)]
    return tables


def _ranked(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The tables with each audit entry's ``seq`` and each deadline's ``id`` (and the steps'
    ``deadline_id``) replaced by its rank: on PostgreSQL a fire reserves both in its first round
    trip, so a fire refused after it leaves a gap that sending each statement by itself does not."""

    def rank(column: str, table: str) -> dict[Any, int]:
        at = _columns(table).index(column)
        return {value: n for n, value in enumerate(sorted(row[at] for row in tables[table]))}

    seqs, deadlines = rank("seq", "audit_entries"), rank("id", "deadlines")
    out = dict(tables)
    for table, column, ranks in (
        ("audit_entries", "seq", seqs),
        ("deadlines", "id", deadlines),
        ("steps", "deadline_id", deadlines),
    ):
        at = _columns(table).index(column)
        out[table] = [(*row[:at], ranks[row[at]], *row[at + 1 :]) for row in out[table]]
    return out


def _columns(table: str) -> list[str]:
    return list(Base.metadata.tables[table].columns.keys())


def test_the_driver_path_writes_what_core_wrote(
    two_urls: tuple[str, str], catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw_url, core_url = two_urls
    raw_store = _work(raw_url, catalog)
    with monkeypatch.context() as m:
        m.setattr(Raw, "rows", _core_rows)
        m.setattr(Raw, "count", _core_count)
        m.setattr(Raw, "many", _core_many)
        m.setattr(Raw, "__init__", _one_at_a_time)
        core_store = _work(core_url, catalog)
    try:
        raw_tables, core_tables = _ranked(_dump(raw_store)), _ranked(_dump(core_store))
        assert raw_tables["steps"] and raw_tables["deadlines"]
        status = list(Step.__table__.columns.keys()).index("status")
        assert any(row[status] == "cancelled" for row in raw_tables["steps"])  # leaving cancelled steps
        assert any(row[status] == "fired" for row in raw_tables["steps"])  # and kept the fired ones
        recipients = list(Step.__table__.columns.keys()).index("recipients")
        everyone = " ".join(str(row[recipients]) for row in raw_tables["steps"])
        assert "perf2" not in everyone and "perf" in everyone  # an inactive holder is sent nothing
        for name, rows in core_tables.items():
            assert raw_tables[name] == rows, name
        with raw_store.read() as s:
            assert audit.verify(s).ok
            entries = list(s.scalars(select(AuditEntry).where(AuditEntry.chain == ORG)))
            assert len(entries) >= 9
            for entry in entries:
                values = {c: getattr(entry, c) for c in AuditEntry.__table__.columns.keys()}  # noqa: SIM118
                assert entry_hash(values) == entry.hash
            assert s.execute(text("SELECT COUNT(*) FROM audit_entries")).scalar_one() == len(
                core_tables["audit_entries"]
            )
    finally:
        raw_store.dispose()
        core_store.dispose()


def _deferred_fire_with_stale_move(engine: Engine, key: str, stale_by: int, move: Statement) -> None:
    """Queue what a fire queues on PostgreSQL (its steps cancelled, its move) and send it
    with the COMMIT, the move reading a version ``stale_by`` behind the instance's."""
    from pmf_engine.core import instances

    with engine.store.write() as s:
        row = instances.InstanceRow.load(s, key, lock=True)
        raw = Raw.of(s)
        raw.deferring = True
        engine.timekeeper.leave(s, row.id, engine.clock.now())
        raw.defer(
            move,
            {
                "instance_id": row.id,
                "read_version": row.version - stale_by,
                "new_state": "submitted",
                "new_version": row.version + 1,
                "new_context": {"moved": True},
                "new_entered_at": engine.clock.now(),
            },
        )
        raw.flush(commit=True)


PG_MOVE_INSTANCE = select(
    func.pmf_move_instance(
        sql_cast(bindparam("instance_id"), Integer),
        sql_cast(bindparam("read_version"), Integer),
        sql_cast(bindparam("new_state"), String),
        sql_cast(bindparam("new_version"), Integer),
        sql_cast(bindparam("new_context", type_=Instance.context.type), Instance.context.type),
        bindparam("new_entered_at", type_=Instance.entered_at.type),
    )
)
"""Migration 0011's versioned move, which the engine used before ``pmf_apply`` (0026) took
its place: the function is still in the schema, so it is still held to refusing a stale move."""


@pytest.mark.postgres
@pytest.mark.parametrize("by", ["pmf_apply", "pmf_move_instance"])
def test_a_stale_move_in_the_pipeline_stops_its_commit(
    pg_server: PostgresServer, pg_template: str, catalog: Catalog, by: str
) -> None:
    """On PostgreSQL a fire's writes go with its COMMIT in one pipeline, so the versioned move
    cannot be checked by its row count before committing: the move the engine sends as a
    write of ``pmf_apply`` (migration 0026), like ``pmf_move_instance`` (migration 0011) before
    it, raises ``pmf_stale`` instead, and nothing queued before or after it is written."""
    from pmf_engine.core import engine as engine_module

    move = engine_module._MOVE_INSTANCE if by == "pmf_apply" else Statement(PG_MOVE_INSTANCE)
    assert (move.server is not None) == (by == "pmf_apply")
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(pg_server.create_database(pg_template)), wall=clock)
    engine = Engine(store, catalog, clock)
    try:
        engine.start_cycle(ORG, PERIOD, by="perf")
        key = f"{CYCLE}/HOUSING"

        def pending() -> int:
            with store.read() as s:
                return len(list(s.scalars(select(Step.id).where(Step.status == "pending"))))

        before, state = pending(), engine.peek(key)
        with pytest.raises(OperationalError) as refused:
            _deferred_fire_with_stale_move(engine, key, stale_by=1, move=move)
        assert "pmf_stale" in str(refused.value)
        assert (pending(), engine.peek(key)) == (before, state)  # nothing of it was written
        _deferred_fire_with_stale_move(engine, key, stale_by=0, move=move)  # not stale: all of it
        assert engine.peek(key) == ("submitted", state[1] + 1)
        assert pending() < before
    finally:
        store.dispose()


@pytest.mark.postgres
def test_a_connection_that_died_idle_is_replaced(
    pg_server: PostgresServer, pg_template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``pool_pre_ping`` on every checkout, a pooled connection idle past the limit is
    pinged when handed out, and one whose server process is gone is replaced, not returned."""
    from pmf_engine.core import connections

    monkeypatch.setattr(connections, "PING_AFTER_IDLE_S", 0.0)
    store = Store(pg_server.url(pg_server.create_database(pg_template)), upgrade=False)
    try:
        with store.read() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        url = store.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as other:  # outside the pool: end its process
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with store.read() as s:
            assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
            assert s.execute(text("SELECT count(*) FROM organisations")).scalar_one() >= 1
    finally:
        store.dispose()


@pytest.mark.postgres
def test_after_a_fire_the_connection_is_transactional_again(
    pg_server: PostgresServer, pg_template: str, catalog: Catalog
) -> None:
    """A fire's first pipeline begins its transaction itself, with psycopg told not to
    (autocommit) until it ends. After a fire that commits and after one that is refused (rolled
    back), the pooled connection must again hold a write transaction's statements until commit:
    a block that fails half-way leaves nothing."""
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(pg_server.create_database(pg_template)), wall=clock)
    engine = Engine(store, catalog, clock)
    try:
        engine.start_cycle(ORG, PERIOD, by="perf")

        def half_written_is_lost() -> bool:
            with pytest.raises(RuntimeError), store.write() as s:
                s.execute(text("UPDATE organisations SET name = 'half-written' WHERE code = :c"), {"c": ORG})
                raise RuntimeError("a failure half-way")
            with store.read() as s:
                name = s.execute(text("SELECT name FROM organisations WHERE code = :c"), {"c": ORG}).scalar()
            return name != "half-written"

        engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")  # committed
        assert half_written_is_lost()
        with pytest.raises(PermissionDenied):  # refused: rolled back
            engine.fire(f"{CYCLE}/WASTE", "submit", "sm_housing")
        assert half_written_is_lost()
    finally:
        store.dispose()


def _own_reads(monkeypatch: pytest.MonkeyPatch, watched: Statement) -> list[str]:
    """Each time a guard runs ``watched`` itself (not in the fire's first round trip), an entry."""
    own_reads: list[str] = []
    real_rows = Raw.rows

    def watching(self: Raw, statement: Statement, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if statement is watched:
            own_reads.append(str(statement.statement)[:40])
        return real_rows(self, statement, values)

    monkeypatch.setattr(Raw, "rows", watching)
    return own_reads


@pytest.mark.postgres
def test_a_guard_that_declares_its_read_is_answered_in_the_first_round_trip(
    pg_server: PostgresServer, pg_template: str, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``return_complete`` declares its read (``Registry.guard(reads=)``): on PostgreSQL the fire
    sends it in its first pipeline and the guard decides on those rows, refusing an incomplete
    return and letting a complete one through, without a read of its own."""
    from pmf_engine.pmf import completeness
    from tests.conftest import services

    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(pg_server.create_database(pg_template)), wall=clock)
    engine = Engine(store, catalog, clock)
    try:
        performance = services(engine).performance
        performance.import_measures(
            ORG, Path(__file__).parent / "fixtures" / "measures" / "measures.csv", by="perf"
        )
        engine.start_cycle(ORG, PERIOD, by="perf")
        own_reads = _own_reads(monkeypatch, completeness._RETURN_ROWS)
        with pytest.raises(GuardFailed, match="HOU-01 has no figure and no reason why it is missing"):
            engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
        performance.record_actual(CYCLE, "HOU-01", 27, by="sm_housing")
        assert engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing").to_state == "submitted"
        assert own_reads == []  # both decided on the rows of the first round trip
    finally:
        store.dispose()


def test_the_sqlite_datetime_text_and_the_audit_time_are_the_formatting_they_replace() -> None:
    """``UTCDateTime`` binds on SQLite with one function of its own and ``format_instant`` skips
    ``strftime``: both must give exactly the text they replaced (SQLAlchemy's SQLite
    ``DATETIME`` of the UTC value; ``strftime`` of it), over zones, microseconds and years."""
    dialect = sqlite.dialect()
    theirs = sqlite.DATETIME().bind_processor(dialect)
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    rng = random.Random(13)
    for _ in range(5000):
        zone = timezone(timedelta(minutes=rng.randint(-14 * 60, 14 * 60)))
        moment = datetime(
            rng.randint(1001, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, rng.randint(0, 999_999)]),
            tzinfo=zone,
        )
        utc = moment.astimezone(UTC)
        assert ours(moment) == theirs(utc.replace(tzinfo=None))
        assert format_instant(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2024, 7, 1, 9, 0))


def _waits(trace: Path) -> int:
    """Round trips in a libpq protocol trace: each ``Sync`` (the end of an extended-protocol
    pipeline) and each simple ``Query`` is one wait for the server."""
    waits = 0
    for line in trace.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) > 3 and parts[1] == "F" and parts[3].split(" ", 1)[0] in ("Sync", "Query"):
            waits += 1
    return waits


@pytest.mark.postgres
def test_each_fire_of_a_return_is_two_round_trips_sign_off_guard_included(
    pg_server: PostgresServer,
    pg_template: str,
    shipped_catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue #13: a fire is two round trips on PostgreSQL (read and lock; write and commit).
    ``signed_off`` (on ``accept``) declares its read, so it is answered by the first: a refused
    accept (no sign-off yet) decides on the first round trip's rows too, and the accept after
    the head of service signed off is two round trips, like the submit, the return for
    correction and the resubmission. (A refusal then writes its audit entry in a transaction
    of its own: not counted here.)"""
    from sqlalchemy import event

    from pmf_engine.pmf import signoff
    from tests.conftest import account_for_missing, services

    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(pg_server.create_database(pg_template)), wall=clock)
    engine = Engine(store, shipped_catalog, clock)
    try:
        framework = services(engine)
        engine.directory.add_actor("hos_housing", "Head of Housing")
        engine.directory.grant("hos_housing", "head_of_service", ORG, service="HOUSING")
        engine.start_cycle(ORG, PERIOD, by="perf")
        account_for_missing(engine, CYCLE)
        key = f"{CYCLE}/HOUSING"
        trips: dict[str, int] = {}
        own_reads = _own_reads(monkeypatch, signoff._SIGN_OFF_BY_KEY)

        def traced(name: str, fire: Any) -> Any:
            trace = tmp_path / f"{name}.trace"
            with trace.open("w", encoding="utf-8") as out:

                def on(dbapi_connection: Any, *_args: Any) -> None:
                    dbapi_connection.pgconn.trace(out.fileno())

                def off(dbapi_connection: Any, *_args: Any) -> None:
                    dbapi_connection.pgconn.untrace()

                event.listen(store.engine, "checkout", on)
                event.listen(store.engine, "checkin", off)
                try:
                    return fire()
                finally:
                    event.remove(store.engine, "checkout", on)
                    event.remove(store.engine, "checkin", off)
                    trips[name] = _waits(trace)

        traced("submit", lambda: engine.fire(key, "submit", "sm_housing"))
        traced("return", lambda: engine.fire(key, "return_for_correction", "perf", reason="figures"))
        traced("resubmit", lambda: engine.fire(key, "submit", "sm_housing"))
        with pytest.raises(GuardFailed, match="sign-off of its head of service"):
            traced("accept unsigned", lambda: engine.fire(key, "accept", "perf"))
        framework.sign_offs.sign_off(key, by="hos_housing")
        assert traced("accept", lambda: engine.fire(key, "accept", "perf")).to_state == "accepted"
        del trips["accept unsigned"]
        assert trips == {"submit": 2, "return": 2, "resubmit": 2, "accept": 2}
        assert own_reads == []
    finally:
        store.dispose()


@pytest.mark.postgres
def test_pmf_apply_refuses_a_write_missing_a_value_instead_of_writing_null(
    pg_server: PostgresServer, pg_template: str, catalog: Catalog
) -> None:
    """``pmf_apply`` writes each column it names from its write's values: a value left out
    would be NULL where Core would have written the column's default, and steps given as one
    mapping instead of a list would be no steps at all. It refuses both, naming the write and
    what it lacks, and nothing of the transaction is written."""
    from pmf_engine.core import timekeeper

    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(pg_server.create_database(pg_template)), wall=clock)
    engine = Engine(store, catalog, clock)
    try:
        engine.start_cycle(ORG, PERIOD, by="perf")
        with store.read() as s:
            deadline, instance, org = s.execute(
                text("SELECT id, instance_id, organisation_id FROM deadlines ORDER BY id LIMIT 1")
            ).one()
        step = {
            "deadline_id": deadline, "instance_id": instance, "organisation_id": org, "kind": "reminder",
            "rung": 9, "due_at": clock.now(), "recipients": ["perf"], "status": "pending",
        }  # fmt: skip
        count = "SELECT COUNT(*) FROM steps"
        with store.read() as s:
            before = s.execute(text(count)).scalar_one()
        for values, said in (
            (step, "lacks rows"),  # one mapping: not a list of rows
            ([{k: v for k, v in step.items() if k != "kind"}], "lacks rows, each with every column"),
        ):
            with pytest.raises(DataError, match=f"pmf_apply: write new_steps {said}"), store.write() as s:
                raw = Raw.of(s)
                raw.deferring = True
                raw.defer(timekeeper._RAW_NEW_STEP, values)
                raw.flush(commit=True)
        with store.read() as s:
            assert s.execute(text(count)).scalar_one() == before
        with store.write() as s:  # the same write, whole: written
            raw = Raw.of(s)
            raw.deferring = True
            raw.defer(timekeeper._RAW_NEW_STEP, [step])
            raw.flush(commit=True)
        with store.read() as s:
            assert s.execute(text(count)).scalar_one() == before + 1
    finally:
        store.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("head", [True, False])
def test_the_first_call_locks_the_instance_and_if_asked_the_chain_head(
    pg_server: PostgresServer, pg_template: str, catalog: Catalog, head: bool
) -> None:
    """While a fire sits between its two round trips, ``pmf_fire_read`` holds the instance's row
    (a concurrent writer waits, then sees the new version) and, unless the trigger cascades
    (``head`` false: a cascade locks children first), the chain head: another session asking
    for either without waiting is refused."""
    database = pg_server.create_database(pg_template)
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(pg_server.url(database), wall=clock)
    Engine(store, catalog, clock).start_cycle(ORG, PERIOD, by="perf")
    store.dispose()
    dsn = f"host=127.0.0.1 port={pg_server.port} user=postgres dbname={database}"
    key = f"{CYCLE}/HOUSING"
    with psycopg.connect(dsn) as firing, psycopg.connect(dsn, autocommit=True) as other:
        read = firing.execute("SELECT pmf_fire_read(%s, %s, NULL, %s)", (key, "sm_housing", head)).fetchone()
        assert read is not None and read[0]["instance"][1] == key
        assert (read[0]["head"] is not None) == head
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT 1 FROM instances WHERE key = %s FOR UPDATE NOWAIT", (key,))
        taken = "SELECT 1 FROM audit_heads WHERE chain = %s FOR UPDATE NOWAIT"
        if head:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(taken, (ORG,))
        else:
            assert other.execute(taken, (ORG,)).fetchone() == (1,)
        firing.rollback()
        assert other.execute("SELECT 1 FROM instances WHERE key = %s FOR UPDATE NOWAIT", (key,)).fetchone()
