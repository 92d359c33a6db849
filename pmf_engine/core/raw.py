"""The hot path's statements run on the session's DB-API connection, compiled once per dialect.

``Engine.fire`` runs about a dozen small statements; through SQLAlchemy Core each pays about
90 µs of execution machinery (cache lookup, execution context, result wrapping) on top of the
driver. ``Raw`` sends the same Core statements' SQL, compiled once per dialect, straight to the
driver on the same connection (so in the same transaction), and converts each bound value
with the bind processors SQLAlchemy itself compiled for that statement: the rows written are
those Core would write. ``before_cursor_execute`` listeners still see every statement (the
query-plan test and the benchmark's statement count rely on them), and a driver error is raised
as SQLAlchemy's own exception class (``IntegrityError``, ``OperationalError``), as through Core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement compiled for one dialect: its SQL, its parameters in order (``None``:
    named, as pyformat drivers take them) and each parameter's bind processor."""

    sql: str
    order: tuple[str, ...] | None
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect, keys: list[str], many: bool) -> Compiled:
        """Compile ``statement`` as Core does when executing it on ``dialect`` with parameters
        named ``keys`` (one set, or ``many``); no expanding parameters."""
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=keys, for_executemany=many
        )
        processors = {k: v for k, v in compiled._bind_processors.items() if v is not None}
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        return cls(str(compiled), order, dict(compiled.params), processors)

    def bind(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (the statement's literals filled in)."""
        merged = {**self.defaults, **values}
        for name, process in self.processors.items():
            merged[name] = process(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


class Statement:
    """A Core statement whose compiled form is kept per dialect."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[Any, ...], Compiled] = {}

    def compiled(self, dialect: Dialect, values: Mapping[str, Any], many: bool = False) -> Compiled:
        """The statement compiled for ``dialect`` and parameters named as ``values`` are (once
        per dialect, server version and set of names)."""
        keys = sorted(values)
        key = (dialect.name, dialect.server_version_info, many, *keys)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = Compiled.of(self.statement, dialect, keys, many)
        return found


class Raw:
    """The session's connection (its transaction begun) as the driver sees it."""

    __slots__ = ("_error", "conn", "dialect", "driver")

    def __init__(self, s: Session) -> None:
        self.conn: Connection = s.connection()
        self.dialect = self.conn.dialect
        self.driver: Any = self.conn.connection.driver_connection
        self._error: type[Exception] = self.dialect.loaded_dbapi.Error

    def execute(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """Run one statement; the driver's cursor (to fetch from, or read ``rowcount``)."""
        compiled = statement.compiled(self.dialect, values)
        return self._run(compiled.sql, compiled.bind(values), many=False)

    def execute_many(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for each of ``rows`` (``executemany``, as Core does for these)."""
        compiled = statement.compiled(self.dialect, rows[0], many=len(rows) > 1)
        self._run(compiled.sql, [compiled.bind(row) for row in rows], many=True)

    def _run(self, sql: str, params: Any, *, many: bool) -> Any:
        cursor = self.driver.cursor()
        conn = self.conn
        if conn._has_events or conn.engine._has_events:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except self._error as exc:
            raise DBAPIError.instance(sql, params, exc, self._error) from exc
        return cursor
