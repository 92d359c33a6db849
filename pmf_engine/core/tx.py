"""A write transaction on the pooled DB-API connection, with no SQLAlchemy Session unless asked.

``Engine.fire`` is the hot path: a Session costs more to begin, commit and close (about 115 µs
of client CPU on SQLite) than most of its statements. ``write`` checks a connection out of the
store's pool, begins the transaction on the driver (``BEGIN IMMEDIATE`` on SQLite, as
``Store.write`` does; on PostgreSQL the fire's first pipeline begins it) and hands out a
``Tx``: its ``raw`` runs the hot path's statements, and its ``session`` (a SQLAlchemy
Session on the same connection, in the same transaction) is made only when a cold path asks
for it (a cascade, a spawn, an effect, a guard that reads for itself, the web API's
idempotent answer). When the block ends the Session (if any) is flushed, the deferred writes
are sent and the transaction commits on the driver (one round trip with the writes on
PostgreSQL); if the block raises, it rolls back. Either way the connection goes back to the pool.

Code that serves both kinds of transaction takes ``Session | Tx`` and calls ``Tx.of``: a
Session is wrapped (its ``Raw``, itself as ``session``), a ``Tx`` is itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from pmf_engine.core import connections
from pmf_engine.core.errors import Busy
from pmf_engine.core.raw import Raw
from pmf_engine.core.store import Store

_LOCKED = "database is locked"


class Tx:
    """One write transaction: the hot path's ``raw`` and, made on demand, a ``session``."""

    __slots__ = ("_connection", "_fairy", "_session", "raw", "store")

    def __init__(
        self, store: Store | None, raw: Raw, *, fairy: Any = None, session: Session | None = None
    ) -> None:
        self.store = store
        self.raw = raw
        self._fairy = fairy
        """The pooled connection this Tx checked out (``None``: a wrapped Session's)."""
        self._connection: Connection | None = None
        self._session = session

    @classmethod
    def of(cls, s: Session | Tx) -> Tx:
        """``s`` itself, or a Session's transaction as a ``Tx`` (its Raw; itself as ``session``)."""
        if isinstance(s, Tx):
            return s
        return cls(s.info.get("pmf_store"), Raw.of(s), session=s)

    @classmethod
    def begin(cls, store: Store) -> Tx:
        """Check a connection out of the pool and begin a write transaction on it."""
        engine = store.engine
        fairy = engine.raw_connection()
        driver = fairy.driver_connection
        tx = cls(store, Raw(driver, engine.dialect, engine.dispatch, lambda: tx.connection), fairy=fairy)
        tx.raw.transaction = tx
        if engine.dialect.name == "sqlite":
            try:
                driver.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            except Exception as exc:
                fairy.close()
                error = engine.dialect.loaded_dbapi.Error
                if isinstance(exc, error):
                    raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, error) from exc
                raise
        return tx

    @property
    def connection(self) -> Connection:
        """SQLAlchemy's Connection on this transaction's DB-API connection (made on first use;
        its own "begin" sends nothing: the transaction is open already)."""
        if self._connection is None:
            if self._fairy is None or self.store is None:
                assert self._session is not None
                self._connection = self._session.connection()
            else:
                self._connection = Connection(self.store.engine, connection=self._fairy)
                self._connection.begin()
        return self._connection

    @property
    def session(self) -> Session:
        """A Session in this transaction (made on first use), whose ``Raw.of`` is ``raw``."""
        if self._session is None:
            assert self.store is not None  # only a wrapped Session's Tx has none, and it has its session
            session = self.store.session_on(self.connection)
            session.begin()
            self.raw.transaction = session.get_transaction()
            session.info["pmf_raw"] = self.raw
            self._session = session
        return self._session

    def commit(self) -> None:
        """Send the deferred writes, flush the Session (if any; in that order, as its own commit
        would) and commit on the driver (on PostgreSQL the COMMIT goes with the last writes)."""
        if self._session is not None:
            self.raw.flush()
            self._session.flush()
        self.raw.flush(commit=True)

    def close(self) -> None:
        """End the transaction (rolled back if it did not commit) and give the connection back."""
        if self._fairy is None:
            return
        try:
            if self._session is not None:
                self._session.close()
            if self._connection is not None:
                self._connection.close()  # rolls back what did not commit, checks the connection in
            else:
                self._fairy.close()  # the pool rolls back what did not commit
        finally:
            self._fairy = None


@contextmanager
def write(store: Store) -> Iterator[Tx]:
    """One write transaction on the driver: committed when the block ends, rolled back if it
    raises. ``Busy`` when SQLite's writer lock was not granted within the busy timeout."""
    try:
        tx = Tx.begin(store)
        try:
            yield tx
            tx.commit()
        finally:
            tx.close()
    except OperationalError as exc:
        if _LOCKED in str(exc.orig):
            raise Busy(connections.SQLITE_BUSY_TIMEOUT_MS / 1000) from exc
        raise
