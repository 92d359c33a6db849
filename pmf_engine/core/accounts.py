"""Local accounts for the web application: argon2id password hashes and API tokens.

A person signs in as the actor they are in the engine; what they may see and do comes from
their roles, as on the command line. Tokens are random, shown once, and stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select

from pmf_engine.core import audit
from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import InvalidInput, NotFound
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Actor, ApiToken, AuditEntry, Credential, Store

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password anyone has")


class Accounts:
    """Passwords, sign-in attempts and API tokens of the engine's actors."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

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
            s.flush()
            audit.append(
                s,
                audit.AuditRecord(event="account.password_set", actor=by, data=stamp({"username": username})),
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
        stored, active = (row[0], bool(row[1])) if row else (_DUMMY, False)
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return username if row and active else None

    def sign_in(self, username: str, password: str) -> tuple[str | None, str | None]:
        """(username, None) on success; (None, why) otherwise. Every attempt is audited; after
        ``MAX_FAILURES`` failures within ``LOCKOUT`` the account refuses sign-in until the
        window has passed, whatever the password (a brake on guessing)."""
        username = username.strip()[:64]
        now = self.clock.now()
        since = audit.format_instant(now - LOCKOUT)
        with self.store.read() as s:
            failures = s.scalar(
                select(func.count()).where(
                    AuditEntry.event == "account.sign_in_failed",
                    AuditEntry.actor == username,
                    func.coalesce(AuditEntry.as_of, AuditEntry.at) >= since,
                )
            )
        if (failures or 0) >= MAX_FAILURES:
            self._audit_attempt(username, "account.sign_in_refused", "locked after repeated failures")
            minutes = int(LOCKOUT.total_seconds() // 60)
            return None, f"Too many failed attempts: try again in {minutes} minutes"
        user = self.authenticate(username, password)
        if user is None:
            self._audit_attempt(username, "account.sign_in_failed", "wrong username or password")
            return None, "Enter a correct username and password"
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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
