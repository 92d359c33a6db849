"""Issue #12, findings 5 and 8: bodies are bounded before they are read and nobody's body is
read before they are known; reasons, narratives and data have limits with clear errors.

Finding 5: "A 150 MB unauthenticated JSON POST took the server from 131 MB to 1.29 GB; a 300 MB
multipart upload was spooled to disk before the redirect to sign-in." Finding 8: "The
read-only auditor stored a 5 MB refused entry through the API; a 1 MB reason through a form."
The app is called here as the ASGI server would, with a ``receive`` that counts what is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES
from tests.test_web import PASSWORD, csrf, sign_in

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = {"max_body_bytes": 64 * 1024, "max_upload_bytes": 256 * 1024}


@pytest.fixture
def app(engine: Engine) -> Any:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing", "auditor"):
        accounts.set_password(user, PASSWORD, by="test")
    Framework(engine, SHIPPED_POLICIES).performance.import_measures(
        ORG, FIXTURES / "measures" / "measures.csv", by="perf"
    )
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return create_app(
        Framework(engine, SHIPPED_POLICIES),
        WebSettings(secret_key="test-secret", secure_cookies=False, **LIMITS),
    )


class Sent:
    """What the app answered, and how many body bytes it pulled from the client."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.read = 0


def call(app: Any, method: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> Sent:
    """One request through the ASGI interface, its body pulled chunk by chunk."""
    sent = Sent()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("192.0.2.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return sent


def megabytes(n: int) -> Iterator[bytes]:
    for _ in range(n * 16):
        yield b"x" * 65536


def test_an_unauthenticated_150_mb_json_post_is_refused_unread(app: Any) -> None:
    sent = call(
        app, "POST", f"/api/v1/instances/{CYCLE}/HOUSING/transitions",
        {"content-type": "application/json", "content-length": str(150 * 1024 * 1024)}, megabytes(150),
    )  # fmt: skip
    assert sent.status == 413 and sent.read == 0
    assert json.loads(sent.body)["status"] == 413


def test_an_unauthenticated_upload_is_not_spooled_before_sign_in(app: Any) -> None:
    """Under the upload limit, but from nobody: redirected to sign-in without a byte read."""
    sent = call(
        app, "POST", f"/instances/{CYCLE}/HOUSING/upload",
        {"content-type": "multipart/form-data; boundary=b", "content-length": str(200 * 1024)},
        iter([b"--b\r\n" + b"x" * 200 * 1024]),
    )  # fmt: skip
    assert sent.status == 303 and sent.headers["location"].startswith("/sign-in") and sent.read == 0


def test_an_unauthenticated_api_post_is_refused_before_its_body_is_read(app: Any) -> None:
    sent = call(
        app, "POST", f"/api/v1/instances/{CYCLE}/HOUSING/transitions",
        {"content-type": "application/json", "authorization": "Bearer pmf_nope"},
        iter([b'{"trigger": "submit"}']),
    )  # fmt: skip
    assert sent.status == 401 and sent.read == 0 and sent.headers["www-authenticate"] == "Bearer"


def test_a_chunked_body_is_refused_once_it_passes_the_limit(app: Any, engine: Engine) -> None:
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    sent = call(
        app, "POST", f"/api/v1/instances/{CYCLE}/HOUSING/transitions",
        {"content-type": "application/json", "authorization": f"Bearer {token}"}, megabytes(150),
    )  # fmt: skip
    assert sent.status == 413, sent.body[:300]
    assert sent.read <= LIMITS["max_body_bytes"] + 65536, "reading stopped at the limit"
    assert engine.peek(f"{CYCLE}/HOUSING")[1] == 1


def test_forms_and_uploads_over_their_limits_get_413(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{CYCLE}/HOUSING")
    big_form = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals", data={"csrf_token": token, "narrative_HOU-01": "x" * 70_000}
    )
    assert big_form.status_code == 413
    big_upload = client.post(
        f"/instances/{CYCLE}/HOUSING/upload",
        data={"csrf_token": token},
        files={"file": ("r.xlsx", b"x" * 300 * 1024, "application/zip")},
    )
    assert big_upload.status_code == 413
    small_upload = client.post(
        f"/instances/{CYCLE}/HOUSING/upload",
        data={"csrf_token": token},
        files={"file": ("r.xlsx", b"not a workbook", "application/zip")},
    )
    assert small_upload.status_code == 400, "within the limit, the upload is read and judged"


# -- finding 8: reasons, narratives and data -------------------------------------------------------


def _entries(engine: Engine) -> list[AuditEntry]:
    with engine.store.read() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_the_auditor_cannot_store_a_5_mb_refusal_through_the_api(app: Any, engine: Engine) -> None:
    token = Accounts(engine.store, engine.clock).create_token("auditor", "script", by="test")
    client = TestClient(app, follow_redirects=False)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/instances/{CYCLE}/HOUSING/transitions"
    huge = client.post(
        url,
        headers=headers,
        json={"trigger": "submit", "expected_version": 1, "data": {"k": "x" * 5_000_000}},
    )
    assert huge.status_code == 413, "refused at the gate, unread"
    big = client.post(
        url, headers=headers, json={"trigger": "submit", "expected_version": 1, "data": {"k": "x" * 20_000}}
    )
    assert big.status_code == 422 and "16 KB" in big.json()["detail"], big.json()
    longest = max(len(e.data) + len(e.reason or "") for e in _entries(engine))
    assert longest < 20_000, "no entry holds the payload"


def test_a_1_mb_reason_through_a_form_is_refused_and_the_attempt_kept_small(app: Any, engine: Engine) -> None:
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{CYCLE}/HOUSING")
    version = engine.peek(f"{CYCLE}/HOUSING")[1]
    before = len(_entries(engine))
    answer = client.post(
        f"/instances/{CYCLE}/HOUSING/fire",
        data={
            "csrf_token": token,
            "trigger": "submit",
            "reason": "r" * 60_000,
            "expected_version": str(version),
        },
    )
    assert answer.status_code == 422 and "2,000 characters" in answer.text
    after = _entries(engine)
    assert len(after) == before + 1 and after[-1].event == "refused", "the attempt is kept"
    assert len(after[-1].reason or "") <= 2_100 and len(after[-1].data) < 2_000, "but not its payload"
    assert engine.peek(f"{CYCLE}/HOUSING")[0] == "requested"


def test_the_engine_bounds_reasons_and_data_for_every_interface(engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    with pytest.raises(InvalidInput, match="2,000 characters"):
        engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing", reason="r" * 2_001)
    with pytest.raises(InvalidInput, match="16 KB"):
        engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing", data={"k": "x" * 17_000})
    with engine.store.read() as s:
        sizes = s.execute(select(func.max(func.length(AuditEntry.data)))).scalar_one()
    assert sizes < 2_000
    fired = engine.fire(f"{CYCLE}/HOUSING", "submit", "sm_housing", reason="r" * 2_000)
    assert fired.to_state == "submitted"


def test_a_narrative_over_its_limit_gets_an_error_by_its_field(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{CYCLE}/HOUSING")
    answer = client.post(
        f"/instances/{CYCLE}/HOUSING/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "29", "narrative_HOU-01": "n" * 10_001},
    )
    assert answer.status_code == 400 and 'id="narrative_HOU-01-error"' in answer.text
    assert "10,000 characters" in answer.text
