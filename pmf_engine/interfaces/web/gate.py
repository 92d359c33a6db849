"""The gate every request with a body passes before anything reads it: a size limit and a
check of who is asking, in a pure ASGI middleware.

FastAPI parses a route's body (JSON, a form, a multipart upload spooled to disk) *before* it
solves the route's dependencies, so a size check or a sign-in check in a dependency comes too
late: the body has been read. Here, before the app sees the request:

- a ``Content-Length`` over the limit is answered 413 without reading a byte; a body without
  one (chunked) is counted as it streams and refused as soon as it passes the limit;
- an API request needs a live bearer token, a page's POST a live signed-in session (only the
  sign-in form is open): otherwise 401 (API) or a redirect to sign-in, unread.

Uploads (``.../upload``) have their own, larger, limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pmf_engine.interfaces.web.session import session_user

OPEN_PATHS = frozenset({"/sign-in"})
"""The only POSTs taken from someone not signed in."""
NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Limits:
    """The most a body may hold: JSON and forms, and an uploaded file."""

    body: int = 1024 * 1024
    upload: int = 10 * 1024 * 1024

    def of(self, path: str) -> int:
        """The limit of a request to ``path``."""
        return self.upload if path.endswith("/upload") else self.body


class BodyGate:
    """Size limit and authentication before the body is read (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, limits: Limits, token_user: Callable[[str], str | None]) -> None:
        self.app = app
        self.limits = limits
        self.token_user = token_user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what is too large or unauthenticated; pass the rest on with a counted body."""
        if scope["type"] != "http" or scope["method"] in NO_BODY:
            await self.app(scope, receive, send)
            return
        path, limit = scope["path"], self.limits.of(scope["path"])
        api = path.startswith("/api/")
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            too_big = declared.isdigit()
            status, why = (413, _too_large(limit)) if too_big else (400, "Content-Length is not a number")
            await _answer(send, status, why, api=api)
            return
        if path not in OPEN_PATHS and not await self._authenticated(scope, api=api):
            if api:
                await _answer(send, 401, "send Authorization: Bearer <token>", api=True)
            else:
                await _redirect(send, f"/sign-in?next={quote(path)}")
            return
        await self.app(scope, _counted(receive, limit), send)

    async def _authenticated(self, scope: Scope, *, api: bool) -> bool:
        conn = HTTPConnection(scope)
        if api:
            header = conn.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                return False
            return await anyio.to_thread.run_sync(self.token_user, header[7:].strip()) is not None
        return await anyio.to_thread.run_sync(session_user, conn) is not None


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive``, refusing (413) once the body passes ``limit`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large(limit))
        return message

    return counted


def _too_large(limit: int) -> str:
    return f"The request is too large: at most {limit // 1024} KB may be sent here"


async def _answer(send: Send, status: int, detail: str, *, api: bool) -> None:
    if api:
        title = {400: "Bad request", 401: "Not signed in", 413: "Content too large"}[status]
        body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
        kind = b"application/problem+json"
    else:
        body, kind = detail, b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"connection", b"close"), (b"cache-control", b"no-store")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})  # unread: the server closes


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"connection", b"close"), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
