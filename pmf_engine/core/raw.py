"""The hot path's statements run on the session's DB-API connection, compiled once per dialect.

``Engine.fire`` runs about a dozen small statements; through SQLAlchemy Core each pays about
90 µs of execution machinery (cache lookup, execution context, result wrapping) on top of the
driver. ``Raw`` sends the same Core statements' SQL, compiled once per dialect, straight to the
driver on the same connection (so in the same transaction), converts each bound value with the
bind processors SQLAlchemy itself compiled for that statement and each fetched value with its
result processor: the rows written and read are those Core would write and read.
``before_cursor_execute`` listeners still see every statement (the query-plan test and the
benchmark's statement count rely on them), and a driver error is raised as SQLAlchemy's own
exception class (``IntegrityError``, ``OperationalError``), as through Core.

One ``Raw`` serves a whole transaction (``Raw.of``), with one cursor: each call fetches what it
returns before the next statement runs, so no cursor is left open.

On PostgreSQL (psycopg 3) statements can share round trips: ``prefetch`` sends several reads in
one pipeline and returns all their rows; while the engine's fire has ``deferring`` on, ``defer``
queues a write whose answer nobody waits for and ``flush`` sends the queue, with the
transaction's COMMIT if asked, as one query (a statement that fails stops the query there, in
the open transaction, so what follows it, COMMIT included, does nothing). A deferred statement
that names its ``server`` write goes as part of one ``pmf_apply`` call (migration 0026) with the
writes queued beside it: listeners see each as its Core statement, which the call runs (the
call itself is not announced; a SQL trace that must show the wire should read the server's log).
A read on the driver flushes first, and so does the session's commit (``Store`` listens for
it): nothing queued is left behind.
Elsewhere, and always on SQLite (in-process, no round trips to save), ``defer`` runs the write
at once and ``prefetch`` runs each read in turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Row = tuple[Any, ...]
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the connection


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement compiled for one dialect: its SQL, its parameters in order (``None``:
    named, as pyformat drivers take them), each parameter's bind processor and each result
    column's processor (``None`` where the driver's value is the value)."""

    sql: str
    order: tuple[str, ...] | None
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    results: tuple[Callable[[Any], Any] | None, ...]
    ordered: Callable[[Mapping[str, Any]], tuple[Any, ...]] = tuple
    """The values in the parameter order, as one C call (``itemgetter``)."""
    converting: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
    """(column index, processor) of each result column that needs converting."""

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect, keys: list[str], many: bool) -> Compiled:
        """Compile ``statement`` as Core does when executing it on ``dialect`` with parameters
        named ``keys`` (one set, or ``many``); no expanding parameters."""
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=keys, for_executemany=many
        )
        processors = {k: v for k, v in compiled._bind_processors.items() if v is not None}
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        results = tuple(_result_processor(column.type, dialect) for column in compiled._result_columns)
        converting = tuple((i, process) for i, process in enumerate(results) if process is not None)
        params = dict(compiled.params)
        return cls(str(compiled), order, params, processors, results, _getter(order or ()), converting)

    def bind(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (the statement's literals filled in)."""
        merged = {**self.defaults, **values} if self.defaults else dict(values)
        for name, process in self.processors.items():
            merged[name] = process(merged[name])
        if self.order is None:
            return merged
        return self.ordered(merged)

    def convert(self, rows: list[Any]) -> list[Row]:
        """Fetched rows with each value as Core would return it (the driver's tuples as they
        are when no column needs converting)."""
        converting = self.converting
        if not converting:
            return rows
        converted: list[Row] = []
        for row in rows:
            values = list(row)
            for i, process in converting:
                values[i] = process(values[i])
            converted.append(tuple(values))
        return converted


def _getter(order: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(order) == 1:
        name = order[0]
        return lambda merged: (merged[name],)
    if not order:
        return lambda _merged: ()
    return itemgetter(*order)


def _result_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The processor Core applies to a column's values, or ``None``. A processor that needs the
    driver's type code to decide (psycopg's floats and numerics) needs none: psycopg already
    returns ``float`` for a float column and ``Decimal`` for a numeric one."""
    try:
        processor: Callable[[Any], Any] | None = type_._cached_result_processor(dialect, None)
    except TypeError:
        return None
    return processor


class Statement:
    """A Core statement whose compiled form is kept per dialect; ``server``: the name of the
    same write in PostgreSQL's ``pmf_apply`` (migration 0026), which a deferred one is sent as."""

    __slots__ = ("_compiled", "server", "statement")

    def __init__(self, statement: Executable, server: str | None = None) -> None:
        self.statement = statement
        self.server = server
        self._compiled: dict[tuple[Any, ...], Compiled] = {}

    def compiled(self, dialect: Dialect, values: Mapping[str, Any], many: bool = False) -> Compiled:
        """The statement compiled for ``dialect`` and parameters named as ``values`` are (once
        per dialect, server version and set of names)."""
        key = (dialect.name, dialect.server_version_info, many, *values)  # the names in their order
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = Compiled.of(self.statement, dialect, sorted(values), many)
        return found


def _apply(client: Any, writes: list[dict[str, Any]]) -> str:
    """The call of ``pmf_apply`` (migration 0026) that makes ``writes``, as SQL."""
    return str(client.mogrify(_APPLY, (json.dumps(writes, separators=(",", ":"), default=_plain),)))


_APPLY = "SELECT pmf_apply(%s::jsonb)"


def _plain(value: Any) -> Any:
    """A bound value as JSON: a timestamp as ISO text (the column's ``::timestamp`` reads it),
    a psycopg ``Jsonb`` as the value it wraps."""
    if isinstance(value, datetime):
        return value.isoformat()
    wrapped = getattr(value, "obj", _NOTHING)
    if wrapped is not _NOTHING:
        return wrapped
    raise TypeError(f"{type(value).__name__} is not a value pmf_apply takes")


_NOTHING = object()


class Raw:
    """A transaction's DB-API connection as the driver sees it (a session's, or a ``Tx``'s)."""

    __slots__ = (
        "_connect",
        "_cursor",
        "_deferred",
        "_dispatch",
        "_error",
        "_listening",
        "deferring",
        "dialect",
        "driver",
        "own_transaction",
        "pipelines",
        "transaction",
    )

    def __init__(
        self,
        driver: Any,
        dialect: Dialect,
        dispatch: Any,
        connection: Callable[[], Connection],
        transaction: object = None,
    ) -> None:
        self.driver = driver
        self.dialect = dialect
        self.transaction = transaction
        """What this Raw serves: the session's transaction (``Raw.of``), or a ``Tx``."""
        self._connect = connection
        self._dispatch = dispatch
        self._error: type[Exception] = dialect.loaded_dbapi.Error
        self._cursor: Any = None
        # Whether anyone listens for statements (tests, the benchmark's count), looked up once.
        self._listening = bool(dispatch.before_cursor_execute)
        self.pipelines = dialect.name == "postgresql"
        """Whether statements can share round trips (psycopg's pipeline mode)."""
        self._deferred: list[tuple[Compiled, Any, bool, str | None]] = []
        self.deferring = False
        """Set by the engine's fire: ``defer`` queues (PostgreSQL) until ``flush``."""
        self.own_transaction = False
        """The transaction was begun by ``prefetch``'s pipeline, not by psycopg."""

    @property
    def conn(self) -> Connection:
        """SQLAlchemy's Connection on the same DB-API connection and transaction (on a ``Tx``
        made when first asked for: only listeners and cold paths ask)."""
        return self._connect()

    @classmethod
    def of(cls, s: Session) -> Raw:
        """The ``Raw`` of the session's current transaction (made on first use)."""
        raw: Raw | None = s.info.get("pmf_raw")
        if raw is None or raw.transaction is not s.get_transaction():
            conn = s.connection()
            driver = conn.connection.driver_connection
            raw = cls(driver, conn.dialect, conn.dispatch, lambda: conn, s.get_transaction())
            s.info["pmf_raw"] = raw
        return raw

    def rows(self, statement: Statement, values: Mapping[str, Any]) -> list[Row]:
        """Run a statement that returns rows (a SELECT, or a write with RETURNING); its rows."""
        compiled = statement.compiled(self.dialect, values)
        cursor = self._run(compiled.sql, compiled.bind(values), many=False)
        return compiled.convert(cursor.fetchall())

    def count(self, statement: Statement, values: Mapping[str, Any]) -> int:
        """Run a write; the number of rows it changed."""
        compiled = statement.compiled(self.dialect, values)
        return int(self._run(compiled.sql, compiled.bind(values), many=False).rowcount)

    def many(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for each of ``rows`` (``executemany``, as Core does for these)."""
        compiled = statement.compiled(self.dialect, rows[0], many=len(rows) > 1)
        self._run(compiled.sql, [compiled.bind(row) for row in rows], many=True)

    def prefetch(self, reads: Sequence[tuple[Statement, Mapping[str, Any]]]) -> list[list[Row]]:
        """Run several reads (in one round trip on PostgreSQL); the rows of each, in order."""
        if not self.pipelines:
            return [self.rows(statement, values) for statement, values in reads]
        self.flush()
        compiled = [(statement.compiled(self.dialect, values), values) for statement, values in reads]
        cursors = []
        # psycopg begins a transaction with a BEGIN it waits for (a round trip of its own, even
        # in a pipeline). When none is open yet, the BEGIN goes in the pipeline instead: the
        # driver is told not to begin (autocommit) while this transaction, begun explicitly,
        # runs; it is told again when the transaction ends (``flush`` with COMMIT, or the pool's
        # check-in after a rollback: ``connections``).
        begin = self.driver.info.transaction_status == _IDLE and not self.driver.autocommit
        if begin:
            self.driver.autocommit = True
            self.own_transaction = True
        try:
            with self.driver.pipeline():
                if begin:
                    cursor = self.driver.cursor()
                    cursor.execute("BEGIN")
                    cursors.append(cursor)
                for c, values in compiled:
                    cursor = self.driver.cursor()
                    self._announce(cursor, c.sql, params := c.bind(values), many=False)
                    cursor.execute(c.sql, params)
                    cursors.append(cursor)
            answers = cursors[1:] if begin else cursors
            return [c.convert(cursor.fetchall()) for (c, _), cursor in zip(compiled, answers, strict=True)]
        except self._error as exc:
            raise DBAPIError.instance("(pipeline)", None, exc, self._error) from exc
        finally:
            for cursor in cursors:
                cursor.close()

    def defer(self, statement: Statement, values: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """A write (a mapping) or one statement for many rows (a sequence of mappings) whose
        answer is not needed: queued until ``flush`` while ``deferring`` on PostgreSQL, else run now."""
        many = not isinstance(values, Mapping)
        if not (self.pipelines and self.deferring):
            if many:
                self.many(statement, values)  # type: ignore[arg-type]
            else:
                self.count(statement, values)  # type: ignore[arg-type]
            return
        if many:
            rows: Sequence[Mapping[str, Any]] = values  # type: ignore[assignment]
            compiled = statement.compiled(self.dialect, rows[0], many=len(rows) > 1)
            self._deferred.append((compiled, [compiled.bind(row) for row in rows], True, statement.server))
        else:
            compiled = statement.compiled(self.dialect, values)  # type: ignore[arg-type]
            bound = compiled.bind(values)  # type: ignore[arg-type]
            self._deferred.append((compiled, bound, False, statement.server))

    def flush(self, *, commit: bool = False) -> None:
        """Send the deferred writes (and COMMIT, if ``commit``) in one round trip; a driver
        error (a statement refused, the COMMIT failed) is raised as Core's exception class."""
        if not self._deferred and not commit:
            return
        queued, self._deferred = self._deferred, []
        if not self.pipelines:
            if commit:
                self.driver.commit()
            return
        if not queued:
            self.driver.commit()
            self._ended()
            return
        # One simple-protocol query, COMMIT last: one round trip and one parse on the client.
        # A run of writes ``pmf_apply`` knows goes as one call with one jsonb argument; any
        # other statement as its SQL with its values bound by psycopg's client-side quoting.
        # The server stops at the first statement that fails, inside the open transaction, so
        # nothing after it runs, COMMIT included.
        from psycopg import ClientCursor  # noqa: PLC0415 - only PostgreSQL gets here

        with ClientCursor(self.driver) as client:
            parts: list[str] = []
            writes: list[dict[str, Any]] = []
            for compiled, params, many, server in queued:
                self._announce(client, compiled.sql, params, many=many)
                if server is not None:
                    writes.append({"op": server, "rows": params} if many else {"op": server, **params})
                    continue
                if writes:
                    parts.append(_apply(client, writes))
                    writes = []
                parts += [client.mogrify(compiled.sql, p) for p in (params if many else [params])]
            if writes:
                parts.append(_apply(client, writes))
            if commit:
                parts.append("COMMIT")
            try:
                client.execute(";\n".join(parts))
            except self._error as exc:
                raise DBAPIError.instance("(deferred writes)", None, exc, self._error) from exc
        if commit:
            self._ended()

    def _ended(self) -> None:
        """The transaction this Raw began itself has committed: psycopg begins the next one again."""
        if self.own_transaction:
            self.driver.autocommit = False
            self.own_transaction = False

    def _announce(self, cursor: Any, sql: str, params: Any, *, many: bool) -> None:
        if self._listening:
            self._dispatch.before_cursor_execute(self.conn, cursor, sql, params, None, many)

    def _run(self, sql: str, params: Any, *, many: bool) -> Any:
        if self._deferred:  # what was queued goes first, in order
            self.flush()
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self.driver.cursor()
        self._announce(cursor, sql, params, many=many)
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except self._error as exc:
            raise DBAPIError.instance(sql, params, exc, self._error) from exc
        return cursor
