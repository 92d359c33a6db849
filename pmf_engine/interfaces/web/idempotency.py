"""``Idempotency-Key`` on the API's POSTs: the first answer is stored in the same transaction
as the change it reports (``Engine.fire(..., then=...)``, ``TargetSettings.propose(..., then=...)``),
so a retry gets that answer and changes nothing; the same key with a different request is refused.
Every such route answers through ``once``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from pmf_engine.core.clock import Clock
from pmf_engine.core.store import IdempotencyKey, Store
from pmf_engine.interfaces.web.errors import IdempotencyKeyReused

Made = TypeVar("Made")
Then = Callable[[Session, Made], None]
"""What a change runs in its transaction after it is made (``Engine.fire``'s ``then``): here,
storing the answer under the key. ``Then[Fired]`` for a fire."""


def fingerprint(key: str, body: dict[str, Any]) -> str:
    """A digest of what was asked: the instance and the request body."""
    return hashlib.sha256(json.dumps([key, body], sort_keys=True).encode()).hexdigest()


def answered(store: Store, actor: str, idempotency_key: str) -> IdempotencyKey | None:
    """The stored answer to ``actor``'s earlier request with this key, if any."""
    with store.read() as s:
        return s.get(IdempotencyKey, (actor, idempotency_key))


def replay(seen: IdempotencyKey, fingerprint: str) -> Response:
    """The stored answer again; ``IdempotencyKeyReused`` if the key came with another request."""
    if seen.request_sha256 != fingerprint:
        raise IdempotencyKeyReused("this key was used for a different request")
    return JSONResponse(
        json.loads(seen.body), status_code=seen.status_code, headers={"Idempotent-Replayed": "true"}
    )


def storing(
    actor: str,
    idempotency_key: str,
    fingerprint: str,
    clock: Clock,
    answer: Callable[[Made], Any],
    status_code: int = 201,
) -> Then[Made]:
    """A ``then`` that stores, under the key, the answer ``answer`` makes of what was done."""

    def remember(s: Session, made: Made) -> None:
        s.add(
            IdempotencyKey(
                actor=actor,
                key=idempotency_key,
                request_sha256=fingerprint,
                status_code=status_code,
                body=json.dumps(answer(made), default=str),
                created_at=clock.now(),
            )
        )

    return remember


def once(
    path: str,
    body: dict[str, Any],
    actor: str,
    idempotency_key: str | None,
    store: Store,
    clock: Clock,
    act: Callable[[Then[Made] | None], Made],
    answer: Callable[[Made], Any],
    headers: Callable[[Made], Mapping[str, str]] | None = None,
) -> Response:
    """``act`` (given the ``then`` that stores its answer under ``idempotency_key`` in its
    transaction), answered 201 with ``answer`` of what it made (and ``headers`` of it, such as
    its ``ETag``); or, for a key seen before, the stored answer (``IdempotencyKeyReused`` if it
    came with another request)."""
    digest = fingerprint(path, body)
    then = None
    if idempotency_key:
        seen = answered(store, actor, idempotency_key)
        if seen is not None:
            return replay(seen, digest)
        then = storing(actor, idempotency_key, digest, clock, answer)
    made = act(then)
    return JSONResponse(answer(made), status_code=201, headers=dict(headers(made)) if headers else None)
