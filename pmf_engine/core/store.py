"""Persistence: the SQLAlchemy 2 schema and the transactions every write goes through.

SQLite is the default (WAL, ``synchronous=FULL``, foreign keys on, and writers that start with
``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade); PostgreSQL takes the same
URL form. The schema is created and upgraded by Alembic (``pmf_engine/migrations``), on first use
or by ``pmf db upgrade``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from pmf_engine.core import connections
from pmf_engine.core.clock import Clock, SystemClock
from pmf_engine.core.errors import Busy, NotFound, SchemaBehind
from pmf_engine.migrations import current_revision, head_revision, upgrade_to_head

DEFAULT_URL = "sqlite:///pmf.db"
"""The database when none is given: ``pmf.db`` (SQLite) in the working folder."""
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE for a statement the role may not run


@dataclass(frozen=True)
class AuditKey:
    """The secret that keys the audit chain's hashes (HMAC-SHA256), kept outside the database;
    ``id`` names it in each entry so a rotated key can still verify what it signed."""

    id: str
    secret: bytes = field(repr=False)


JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store an aware datetime as naive UTC; refuse a naive one, whose zone cannot be known."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC value")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read a stored value back as an aware UTC datetime."""
        return None if value is None else value.replace(tzinfo=UTC)

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, one function for both steps (the hot path binds several per fire): the
        text SQLAlchemy's SQLite ``DATETIME`` stores, of the value in UTC."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_utc_text


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use an aware UTC value")
    v = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the fastest exact form
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


class Base(DeclarativeBase):
    """The declarative base the engine's tables are mapped on (the migrations, not it, create the schema)."""

    pass


class Organisation(Base):
    """A council the engine serves; its ``code`` begins its instances' keys and names its audit chain.

    ``holiday_subdivision`` (``ENG``, ``WLS``, ``SCT`` or ``NIR``) says which bank holidays it observes.
    """

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    holiday_subdivision: Mapped[str] = mapped_column(String(8), default="ENG")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    services: Mapped[list[Service]] = relationship(back_populates="organisation", order_by="Service.code")


class Service(Base):
    """A service of an organisation: each has its own return in a cycle, keyed ``ORG/PERIOD/SERVICE``."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))

    organisation: Mapped[Organisation] = relationship(back_populates="services")


class Actor(Base):
    """A person who acts in the engine; an inactive one keeps their history but may not act or sign in."""

    __tablename__ = "actors"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    roles: Mapped[list[RoleAssignment]] = relationship(back_populates="actor")


class RoleAssignment(Base):
    """An actor holds a role in an organisation, optionally for one service only."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("actor_id", "organisation_id", "role", "service_id"),
        Index("ix_role_assignments_organisation", "organisation_id", "role"),  # the holders query
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))

    actor: Mapped[Actor] = relationship(back_populates="roles")
    organisation: Mapped[Organisation] = relationship()
    service: Mapped[Service | None] = relationship()


class WorkflowVersion(Base):
    """One content version of a workflow; running instances pin theirs."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("name", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def ref(self) -> str:
        """``name@hash-prefix``: how audit entries, listings and ``find_version`` name this version."""
        return f"{self.name}@{self.content_hash[:12]}"


class Instance(Base):
    """A running workflow: a cycle (no parent) or a child such as a service return."""

    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_parent", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    period: Mapped[str] = mapped_column(String(16))
    workflow_version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    state: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    context: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()
    service: Mapped[Service | None] = relationship()
    workflow_version: Mapped[WorkflowVersion] = relationship()
    children: Mapped[list[Instance]] = relationship(order_by="Instance.key")


class AuditEntry(Base):
    """One link of a hash chain. The database refuses UPDATE and DELETE on this table."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("chain", "chain_seq"),
        Index("ix_audit_instance", "instance"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(32))
    chain_seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(32))
    """UTC instant as ISO 8601 text, exactly as hashed."""
    organisation: Mapped[str | None] = mapped_column(String(32))
    instance: Mapped[str | None] = mapped_column(String(160))
    event: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)
    """Canonical JSON, exactly as hashed."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[str | None] = mapped_column(String(32))
    """The rehearsal time the change was made as of (``pmf --now``); ``None``: it happened at ``at``."""
    alg: Mapped[str] = mapped_column(String(48), default="sha256/2")
    """How ``hash`` was made: ``sha256/1`` (before ``as_of``), ``sha256/2``, ``hmac-sha256/2:KEY-ID``."""

    @property
    def effective_at(self) -> str:
        """When the change counts as made: the rehearsal time if there is one, else the real time."""
        return self.as_of or self.at


class AuditHead(Base):
    """The newest link of each chain: the row writers lock to append in order."""

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32), default="")
    """The real time of the newest entry: the next may not be earlier."""


class Deployment(Base):
    """One row, written when the database is created: whether it is a rehearsal database (one in
    which acting at another time, ``pmf --now``, is allowed). The database refuses changing it."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    rehearsal: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[str] = mapped_column(String(32))


class Meeting(Base):
    """A meeting of a committee (CMT, Leadership Team, Cabinet, Scrutiny, ...)."""

    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("organisation_id", "uid"),
        Index("ix_meetings_body_time", "organisation_id", "body", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    body: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    title: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    uid: Mapped[str] = mapped_column(String(200))
    """Stable identity for imports and calendar exports (an iCalendar UID)."""


class Deadline(Base):
    """The deadline of one instance's stay in one state; closed when the instance moves on."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_open", "instance_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    state: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meeting_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    problem: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Step(Base):
    """One reminder or escalation of a deadline, fired exactly once by whichever worker claims it."""

    __tablename__ = "steps"
    __table_args__ = (
        Index("ix_steps_due", "status", "due_at"),
        Index("ix_steps_deadline_status", "deadline_id", "status"),  # leaving a state
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    rung: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[list[str]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending -> claimed -> fired, or cancelled when the instance leaves the state."""
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message written in the same transaction as what caused it, sent later with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    """A stable RFC 5322 Message-ID: a resend after a crash is recognisable as the same message."""
    step_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending -> sending -> sent, or dead after too many failures."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The worker holding the lease; only it may record the outcome of sending."""
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Credential(Base):
    """A local account's password (argon2id hash) for the web application."""

    __tablename__ = "credentials"

    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A bearer token for scripts; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """The response to a POST that carried an ``Idempotency-Key``, written in the same
    transaction as what it did, so a retried request gets the same answer and fires once."""

    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser session, held by the server: the cookie carries only a random id,
    of which only the SHA-256 is stored. Ended by sign-out, a password change or a time-out."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_actor", "actor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """The absolute end, however active the session is."""
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_why: Mapped[str | None] = mapped_column(String(32))


class SignInThrottle(Base):
    """Failed sign-ins counted per key (an account, an address, or the pair), and until when
    the key is held back. Counted with ``UPDATE ... SET failures = failures + 1``."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Store:
    """The database: a schema kept at Alembic head and the transactions that use it.

    ``wall`` is the real clock the audit log stamps entries with (never the engine's clock,
    which a rehearsal sets); ``audit_key`` (held outside the database) keys each entry's hash,
    so a role that may only INSERT cannot write an entry that verifies. ``rehearsal`` marks a
    database being created now as one in which acting at another time is allowed; an existing
    database keeps what it was created as.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        upgrade: bool = True,
        rehearsal: bool = False,
        wall: Clock | None = None,
        audit_key: AuditKey | None = None,
    ) -> None:
        self.url = url
        self.engine = connections.make_engine(url)
        self.wall: Clock = wall or SystemClock()
        self.audit_key = audit_key
        info = {"pmf_store": self}
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        event.listen(self._sessions, "before_commit", _flush_deferred)
        self._readonly = sessionmaker(
            self.engine.execution_options(pmf_readonly=True), expire_on_commit=False, info=info
        )
        self._rehearsal: bool | None = None
        if upgrade:
            self._upgrade()
            self._settle_deployment(rehearsal)

    def _upgrade(self) -> None:
        """Bring the schema to head; a role without the right to (the app's, on PostgreSQL): SchemaBehind."""
        try:
            upgrade_to_head(self.engine)
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                raise
            current, why = current_revision(self.engine), getattr(exc.orig, "diag", None)
            self.engine.dispose()
            raise SchemaBehind(current, head_revision(), getattr(why, "message_primary", None)) from exc

    def _settle_deployment(self, rehearsal: bool) -> None:
        """Write the deployment row if the database has none: a new database is a rehearsal one
        only if asked; one that existed before this row did is not."""
        with self.write() as s:
            row = s.get(Deployment, 1)
            if row is None:
                fresh = s.scalar(select(AuditEntry.seq).limit(1)) is None
                stamp = self.wall.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                s.add(Deployment(id=1, rehearsal=rehearsal and fresh, created_at=stamp))
                self._rehearsal = rehearsal and fresh
            else:
                self._rehearsal = row.rehearsal

    @property
    def rehearsal(self) -> bool:
        """Whether this database was created for rehearsal (``pmf --now`` allowed)."""
        if self._rehearsal is None:
            with self.read() as s:
                row = s.get(Deployment, 1)
            self._rehearsal = bool(row and row.rehearsal)
        return self._rehearsal

    @property
    def dialect(self) -> str:
        """The backend's name (``sqlite`` or ``postgresql``), for the few places where they differ."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises.
        ``Busy`` when SQLite's writer lock was not granted within the busy timeout."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            if "database is locked" in str(exc.orig):
                raise Busy(connections.SQLITE_BUSY_TIMEOUT_MS / 1000) from exc
            raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it takes no write lock)."""
        with self._readonly() as session, session.begin():
            yield session

    def session_on(self, connection: Connection) -> Session:
        """A Session with this store's settings in the open transaction of ``connection`` (a ``Tx``'s)."""
        return self._sessions(bind=connection)

    def dispose(self) -> None:
        """Close every pooled connection, e.g. before a SQLite file is removed or the process ends."""
        self.engine.dispose()


def _flush_deferred(session: Session) -> None:
    """Send what a fire deferred (``Raw.defer``) before the session commits, so nothing queued is lost."""
    raw = session.info.get("pmf_raw")
    if raw is not None and raw.transaction is session.get_transaction():
        raw.flush()


def find_organisation(s: Session, code: str) -> Organisation:
    """The organisation with ``code`` (its services load with it); ``NotFound`` if none."""
    org = s.scalar(
        select(Organisation).where(Organisation.code == code).options(selectinload(Organisation.services))
    )
    if org is None:
        raise NotFound("organisation", code)
    return org


def roles_held(s: Session, username: str, organisation_id: int) -> set[tuple[str, int | None]]:
    """(role, service id) pairs an active actor holds in an organisation."""
    return set(
        s.execute(
            select(RoleAssignment.role, RoleAssignment.service_id)
            .join(Actor, Actor.id == RoleAssignment.actor_id)
            .where(
                Actor.username == username,
                Actor.active.is_(True),
                RoleAssignment.organisation_id == organisation_id,
            )
        ).all()
    )


def grant_app_role(store: Store, role: str) -> str:
    """Grant a PostgreSQL login role what the application needs, and no more on the audit log."""
    if store.dialect != "postgresql":
        raise ValueError("roles and grants are a PostgreSQL feature; SQLite relies on its triggers")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"{role!r} is not a plain PostgreSQL role name")
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # the engine's functions (a fire's reads and writes, the versioned move): granted, not
        # left to PUBLIC's default, which a hardened database revokes
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_entries FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON deployment FROM {role}",
    ]
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    return "may read and write the engine's tables; audit_entries: SELECT and INSERT only"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite database file at ``path``."""
    return f"sqlite:///{path}"
