"""Issue #12, finding 6: a stale page cannot act, and the API says which version it acts on.

The reproduction: "A page loaded at version 2 could still ``accept`` after the return had been
returned, changed and resubmitted (version 4)." Every step form now carries the version it
showed; a conflict page says what changed; the API needs ``If-Match`` (the ETag of GET) or
``expected_version``, and answers 428 without either.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from tests.conftest import CYCLE, services
from tests.test_web import client, csrf, shown_version, sign_in  # noqa: F401 - the fixture

RETURN = f"{CYCLE}/HOUSING"


@pytest.fixture(autouse=True)
def _housing_reported(client: TestClient, engine: Engine) -> None:  # noqa: F811
    """HOUSING's one measure has its figure, so its return may be submitted (a figure changes
    no instance's version)."""
    del client  # it imported the measures
    services(engine).performance.record_actual(CYCLE, "HOU-01", 29, by="sm_housing")


def test_a_page_loaded_at_version_2_cannot_accept_version_4(client: TestClient, engine: Engine) -> None:  # noqa: F811
    engine.fire(RETURN, "submit", "sm_housing")  # version 2
    sign_in(client, "perf")
    page = f"/instances/{RETURN}"
    shown = shown_version(client, page)
    token = csrf(client, page)
    assert shown == 2
    engine.fire(RETURN, "return_for_correction", "perf2", reason="HOU-01 looks wrong")  # version 3
    engine.fire(RETURN, "submit", "sm_housing")  # changed and resubmitted: version 4
    stale = client.post(
        f"{page}/fire", data={"csrf_token": token, "trigger": "accept", "expected_version": shown}
    )
    assert stale.status_code == 409
    assert engine.peek(RETURN) == ("submitted", 4), "nothing was accepted"
    said = re.sub(r"\s+", " ", stale.text)
    assert "You saw version 2" in said and "Submitted (version 4)" in said
    assert "last by sm_housing (“Submit the return”" in said, "who moved it, in the step's words"
    fresh = client.post(
        f"{page}/fire",
        data={"csrf_token": token, "trigger": "accept", "expected_version": shown_version(client, page)},
    )
    assert fresh.status_code == 303 and engine.peek(RETURN)[0] == "accepted"


def test_every_step_form_carries_the_version_it_showed(client: TestClient, engine: Engine) -> None:  # noqa: F811
    sign_in(client, "perf")
    engine.fire(RETURN, "submit", "sm_housing")
    for path in (f"/instances/{RETURN}", f"/instances/{CYCLE}"):
        if path.endswith(CYCLE):  # the cycle offers its step once every return is settled
            for service in ("PLANNING", "WASTE"):
                engine.fire(f"{CYCLE}/{service}", "waive", "perf", reason="Not collected this quarter")
            engine.fire(RETURN, "accept", "perf")
        text = client.get(path).text
        forms = re.findall(r'<form method="post" action="[^"]*/fire".*?</form>', text, re.S)
        assert forms, path
        version = engine.peek(path.removeprefix("/instances/"))[1]
        for form in forms:
            assert f'name="expected_version" value="{version}"' in form, form[:300]


def test_a_step_form_without_a_version_does_nothing(client: TestClient, engine: Engine) -> None:  # noqa: F811
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{RETURN}")
    answer = client.post(f"/instances/{RETURN}/fire", data={"csrf_token": token, "trigger": "submit"})
    assert answer.status_code == 400 and "reload the page" in answer.text
    assert engine.peek(RETURN) == ("requested", 1)


@pytest.fixture
def api(client: TestClient, engine: Engine) -> tuple[TestClient, dict[str, str]]:  # noqa: F811
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    return client, {"Authorization": f"Bearer {token}"}


def test_the_api_requires_the_version(api: tuple[TestClient, dict[str, str]], engine: Engine) -> None:
    http, headers = api
    url = f"/api/v1/instances/{RETURN}/transitions"
    missing = http.post(url, headers=headers, json={"trigger": "submit"})
    assert missing.status_code == 428 and missing.headers["content-type"] == "application/problem+json"
    assert "If-Match" in missing.json()["detail"] and engine.peek(RETURN)[1] == 1
    got = http.get(f"/api/v1/instances/{RETURN}", headers=headers)
    assert got.headers["etag"] == '"v1"'
    fired = http.post(url, headers={**headers, "If-Match": got.headers["etag"]}, json={"trigger": "submit"})
    assert fired.status_code == 201 and fired.headers["etag"] == '"v2"'
    stale = http.post(url, headers={**headers, "If-Match": '"v1"'}, json={"trigger": "submit"})
    assert stale.status_code == 412 and "expected version 1, found 2" in stale.json()["detail"]
    both = http.post(
        url, headers={**headers, "If-Match": '"v2"'}, json={"trigger": "submit", "expected_version": 1}
    )
    assert both.status_code == 422
    garbled = http.post(url, headers={**headers, "If-Match": "*"}, json={"trigger": "submit"})
    assert garbled.status_code == 422
    by_field = http.post(url, headers=headers, json={"trigger": "submit", "expected_version": 1})
    assert by_field.status_code == 409, "the body's expected_version, stale: 409 as before"
    assert engine.peek(RETURN) == ("submitted", 2)
