"""Connections: the SQLAlchemy engine for a database URL, with the settings pmf-engine relies on.

SQLite: WAL, ``synchronous=FULL``, foreign keys, a busy timeout, and every write transaction
begun with ``BEGIN IMMEDIATE`` (so writers queue for the lock at the start, not at their first
write). PostgreSQL through psycopg 3, with a pooled connection checked only after it sat idle.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError

from pmf_engine.core.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An Engine with the durability and locking settings pmf-engine relies on."""
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        scheme = url.split(":", 1)[0]  # only the scheme: the rest may hold a password
        raise InvalidInput(
            "database URL scheme", scheme, "pmf-engine runs on sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        _tune_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, echo=echo)
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_S = 30.0
"""A pooled PostgreSQL connection idle longer than this is checked before it is handed out."""


def _ping_after_idle(engine: Engine) -> None:
    """``pool_pre_ping`` costs a round trip on every checkout: a fire on PostgreSQL is two round
    trips, so that would be half as many again. A connection is pinged only when it has been
    idle in the pool for ``PING_AFTER_IDLE_S`` (when a server restart or a dropped link would
    have been noticed); a dead one is replaced, as SQLAlchemy's own pre-ping does, by raising
    ``DisconnectionError`` from the checkout."""

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["pmf_idle_since"] = time.monotonic()
        # A fire's pipeline may have begun its transaction itself (``Raw.prefetch``) and ended
        # in a rollback: the pool has rolled back by now, so psycopg may begin again.
        if dbapi_connection is not None and dbapi_connection.autocommit:
            try:
                dbapi_connection.autocommit = False
            except Exception:  # a broken connection: the pool replaces it
                record.invalidate()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("pmf_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # the driver's error, whatever broke: take another connection
            raise DisconnectionError(f"pooled connection dead after {PING_AFTER_IDLE_S:.0f} s idle") from exc


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # On the driver: this runs before every transaction, and Core's execution machinery
        # would cost more than the statement. A lock not granted is Core's OperationalError.
        driver: Any = conn.connection.driver_connection
        if driver.in_transaction:  # a ``Tx``'s, begun on the driver already: Core joins it
            return
        sql = "BEGIN" if conn.get_execution_options().get("pmf_readonly", False) else "BEGIN IMMEDIATE"
        try:
            driver.execute(sql)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc
