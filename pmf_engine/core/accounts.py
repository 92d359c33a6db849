"""Local accounts for the web application: argon2id password hashes, throttled sign-in and
API tokens. Setting a password ends the actor's web sessions.

A person signs in as the actor they are in the engine; what they may see and do comes from
their roles, as on the command line. Tokens are random, shown once, and stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from pmf_engine.core import audit
from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import InvalidInput, NotFound
from pmf_engine.core.provenance import stamp
from pmf_engine.core.sessions import end_sessions
from pmf_engine.core.store import Actor, ApiToken, Credential, Store
from pmf_engine.core.throttle import Throttle

MIN_PASSWORD = 12
_hasher = PasswordHasher()


@cache
def _dummy() -> str:
    """A hash to verify against when the username is unknown, so both take the same time (made
    when first needed: hashing takes a fifth of a second, too long for every CLI command's start)."""
    return _hasher.hash("not a password anyone has")


class Accounts:
    """Passwords, sign-in attempts and API tokens of the engine's actors."""

    def __init__(self, store: Store, clock: Clock, throttle: Throttle | None = None) -> None:
        self.store = store
        self.clock = clock
        self.throttle = throttle or Throttle(store)

    def ready_for_sign_in(self) -> Accounts:
        """Make the unknown-username hash now (a web app does, as it starts), so that the first
        sign-in with an unknown name takes no longer than one with a known name."""
        _dummy()
        return self

    def set_password(self, username: str, password: str, *, by: str) -> None:
        """Set or replace the actor's password, ``MIN_PASSWORD`` characters or more; audited as ``by``."""
        if len(password) < MIN_PASSWORD:
            raise InvalidInput("password", None, f"a password needs at least {MIN_PASSWORD} characters")
        with self.store.write() as s:
            actor = s.scalar(select(Actor).where(Actor.username == username))
            if actor is None:
                raise NotFound("actor", username)
            now = self.clock.now()
            found = s.get(Credential, actor.id)
            if found is None:
                s.add(Credential(actor_id=actor.id, password_hash=_hasher.hash(password), updated_at=now))
            else:
                found.password_hash, found.updated_at = _hasher.hash(password), now
            ended = end_sessions(s, actor.id, now, "password changed")
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="account.password_set",
                    actor=by,
                    data=stamp({"username": username, "sessions_ended": ended}),
                ),
                now,
            )

    def authenticate(self, username: str, password: str) -> str | None:
        """The username if the password is right and the actor active; ``None`` otherwise
        (in about the same time either way)."""
        with self.store.read() as s:
            row = s.execute(
                select(Credential.password_hash, Actor.active)
                .join(Actor, Actor.id == Credential.actor_id)
                .where(Actor.username == username)
            ).first()
        stored, active = (row[0], bool(row[1])) if row else (_dummy(), False)
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return username if row and active else None

    def sign_in(
        self, username: str, password: str, *, address: str = "unknown"
    ) -> tuple[str | None, str | None]:
        """(username, None) on success; (None, why) otherwise. Every attempt is audited. Each
        is counted before its password is checked (``Throttle``): past the free attempts of the
        account, the client ``address`` or the pair, a try must wait (seconds at first,
        doubling), whatever the password, and the person is told how long."""
        username = username.strip()[:64]
        now = self.clock.now()
        wait = self.throttle.reserve(username, address, now)
        if wait is not None:
            self._audit_attempt(username, "account.sign_in_refused", "held back after repeated failures")
            return None, f"Too many failed attempts: try again in {_duration(wait)}"
        user = self.authenticate(username, password)
        if user is None:
            self._audit_attempt(username, "account.sign_in_failed", "wrong username or password")
            return None, "Enter a correct username and password"
        self.throttle.succeeded(username, address)
        self._audit_attempt(username, "account.signed_in", None)
        return user, None

    def _audit_attempt(self, username: str, event: str, why: str | None) -> None:
        with self.store.write() as s:
            audit.append(
                s, audit.AuditRecord(event=event, actor=username, reason=why, data=stamp()), self.clock.now()
            )

    def create_token(self, username: str, name: str, *, by: str) -> str:
        """Issue a new API token for the actor and return it: only its SHA-256 is kept, so show it now."""
        token = "pmf_" + secrets.token_urlsafe(32)
        with self.store.write() as s:
            actor_id = s.scalar(select(Actor.id).where(Actor.username == username))
            if actor_id is None:
                raise NotFound("actor", username)
            now = self.clock.now()
            s.add(ApiToken(actor_id=actor_id, name=name, token_sha256=_digest(token), created_at=now))
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="account.token_created", actor=by, data=stamp({"username": username, "name": name})
                ),
                now,
            )
        return token

    def revoke_tokens(self, username: str, *, by: str, name: str | None = None) -> int:
        """Revoke the actor's tokens (those called ``name``, or all); return how many."""
        with self.store.write() as s:
            actor_id = s.scalar(select(Actor.id).where(Actor.username == username))
            if actor_id is None:
                raise NotFound("actor", username)
            query = select(ApiToken).where(ApiToken.actor_id == actor_id, ApiToken.revoked_at.is_(None))
            if name is not None:
                query = query.where(ApiToken.name == name)
            now = self.clock.now()
            tokens = list(s.scalars(query))
            for token in tokens:
                token.revoked_at = now
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(
                    event="account.tokens_revoked",
                    actor=by,
                    data=stamp({"username": username, "name": name, "count": len(tokens)}),
                ),
                now,
            )
        return len(tokens)

    def token_user(self, token: str) -> str | None:
        """The username a live (unrevoked) token belongs to, if that actor is active; ``None`` otherwise."""
        with self.store.read() as s:
            row = s.execute(
                select(Actor.username, Actor.active)
                .join(ApiToken, ApiToken.actor_id == Actor.id)
                .where(ApiToken.token_sha256 == _digest(token), ApiToken.revoked_at.is_(None))
            ).first()
        return str(row[0]) if row and row[1] else None


def _duration(wait: timedelta) -> str:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
