"""Server-side sessions of the web application: a random id in the browser's cookie, its
SHA-256 in ``web_sessions``, and the rules that end it.

A session ends when its person signs out (all their sessions end), their password is set, they
are deactivated (a session is only live while its actor is active), it has been idle longer
than ``SessionPolicy.idle``, or it is older than ``SessionPolicy.absolute`` however active it
is. Ended sessions are kept with why they ended. Someone who can read the table cannot take a
session over: only the digest of each id is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pmf_engine.core.clock import Clock
from pmf_engine.core.errors import NotFound
from pmf_engine.core.store import Actor, Store, WebSession

log = structlog.get_logger()
TOUCH_EVERY = timedelta(minutes=1)
"""How stale ``last_seen_at`` may get before a request writes it (not a write per request)."""
MAX_TOKEN = 128
"""Longer cookie values are not looked up."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request, ``absolute`` in all."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=8)


def new_token() -> str:
    """A fresh random session id (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The SHA-256 under which a session id is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def end_sessions(s: Session, actor_id: int, at: datetime, why: str) -> int:
    """End every live session of an actor inside the caller's transaction; return how many."""
    result = s.execute(
        update(WebSession)
        .where(WebSession.actor_id == actor_id, WebSession.ended_at.is_(None))
        .values(ended_at=at, ended_why=why)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class Sessions:
    """Starting, looking up and ending web sessions."""

    def __init__(self, store: Store, clock: Clock, policy: SessionPolicy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or SessionPolicy()

    def start(self, username: str) -> str:
        """A new session for ``username``; returns the id for the cookie (shown only now)."""
        token = new_token()
        now = self.clock.now()
        with self.store.write() as s:
            actor_id = s.scalar(select(Actor.id).where(Actor.username == username))
            if actor_id is None:
                raise NotFound("actor", username)
            s.add(
                WebSession(
                    token_sha256=digest(token),
                    actor_id=actor_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.policy.absolute,
                )
            )
        log.info("session.started", actor=username)
        return token

    def user(self, token: str) -> str | None:
        """The active actor whose live session ``token`` is; ``None`` otherwise. A session found
        idle or past its absolute end is ended now; a live one is touched (once a minute)."""
        if not token or len(token) > MAX_TOKEN:
            return None
        now = self.clock.now()
        with self.store.read() as s:
            row = s.execute(
                select(
                    WebSession.id,
                    WebSession.last_seen_at,
                    WebSession.expires_at,
                    Actor.username,
                    Actor.active,
                )
                .join(Actor, Actor.id == WebSession.actor_id)
                .where(WebSession.token_sha256 == digest(token), WebSession.ended_at.is_(None))
            ).first()
        if row is None:
            return None
        session_id, last_seen, expires, username, active = row
        why = None
        if not active:
            why = "deactivated"
        elif now >= expires:
            why = "expired"
        elif now - last_seen > self.policy.idle:
            why = "idle"
        if why is not None:
            self._end(session_id, now, why)
            log.info("session.ended", actor=username, why=why)
            return None
        if now - last_seen >= TOUCH_EVERY:
            with self.store.write() as s:
                s.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))
        return str(username)

    def end_all(self, username: str, why: str) -> int:
        """End every live session of ``username`` (sign-out ends them everywhere)."""
        with self.store.write() as s:
            actor_id = s.scalar(select(Actor.id).where(Actor.username == username))
            if actor_id is None:
                return 0
            ended = end_sessions(s, actor_id, self.clock.now(), why)
        log.info("session.ended", actor=username, why=why, count=ended)
        return ended

    def _end(self, session_id: int, at: datetime, why: str) -> None:
        with self.store.write() as s:
            s.execute(
                update(WebSession)
                .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
                .values(ended_at=at, ended_why=why)
            )
