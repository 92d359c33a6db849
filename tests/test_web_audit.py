"""The audit trail page and its API: newest first, keyset pages, filters, and verification
only when asked (a view never recomputes the whole chain)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import PermissionDenied
from pmf_engine.interfaces.web import queries
from tests.conftest import CYCLE, ORG, services, settle_returns
from tests.test_web import client, sign_in

__all__ = ["client"]  # the fixture, imported to be used here

NOTES = 230
"""More than two pages of entries (a page is ``queries.AUDIT_PAGE_SIZE``)."""


@pytest.fixture
def noted(client: TestClient, engine: Engine) -> TestClient:
    """The client, over a chain with ``NOTES`` more entries, ``note 0`` the oldest."""
    with engine.store.write() as s:
        audit.append_many(
            s,
            [
                audit.AuditRecord(
                    event="note", organisation=ORG, actor="perf" if n % 2 else "auditor", reason=f"note {n}"
                )
                for n in range(NOTES)
            ],
            engine.clock.now(),
        )
    return client


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The chains ``audit.verify`` was asked to verify, recorded as it runs."""
    calls: list[str | None] = []
    real = audit.verify

    def counted(*args: Any, **kwargs: Any) -> audit.Verification:
        calls.append(kwargs.get("chain"))
        return real(*args, **kwargs)

    monkeypatch.setattr(audit, "verify", counted)
    return calls


def _seqs(html: str) -> list[int]:
    return [
        int(n)
        for n in re.findall(r'<tr class="govuk-table__row">\s*<td class="govuk-table__cell">(\d+)</td>', html)
    ]


def _older(html: str) -> str | None:
    found = re.search(r'id="older" rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_page_lists_the_newest_entries_first_and_pages_back(
    noted: TestClient, verifications: list[str | None]
) -> None:
    """With more than a page of entries the newest come first, ``before`` pages back to the
    oldest without a gap or a repeat, and no view verifies the chain."""
    sign_in(noted, "auditor")
    first = noted.get(f"/orgs/{ORG}/audit")
    assert first.status_code == 200
    seqs = _seqs(first.text)
    assert len(seqs) == queries.AUDIT_PAGE_SIZE and seqs == sorted(seqs, reverse=True)
    assert "note 229" in first.text and "note 0<" not in first.text
    seen, link = list(seqs), _older(first.text)
    while link is not None:
        page = noted.get(link)
        seen += _seqs(page.text)
        link = _older(page.text)
    assert seen == list(range(seen[0], 0, -1)), "every entry once, newest to oldest"
    assert verifications == [], "viewing pages verified the chain"
    checked = noted.get(f"/orgs/{ORG}/audit?verify=1")
    assert "Chain verified" in checked.text and verifications == [ORG]
    assert f"This is {ORG}'s chain" in checked.text, "it says why the CLI, verifying every chain, counts more"


def test_filters_are_exact_and_kept_across_pages(noted: TestClient) -> None:
    """``actor`` and ``event`` match exactly; the older-page link keeps them; an instance
    filter matches the key and the keys below it, its ``_`` only itself."""
    sign_in(noted, "auditor")
    page = noted.get(f"/orgs/{ORG}/audit?actor=perf&event=note")
    link = _older(page.text)
    assert link is not None and "actor=perf" in link and "event=note" in link
    rest = noted.get(link).text
    assert "auditor" not in re.sub(r"<(nav|header).*?</\1>", "", rest, flags=re.S).split("<tbody")[1]
    assert len(_seqs(page.text)) + len(_seqs(rest)) == NOTES // 2
    cycle = noted.get(f"/orgs/{ORG}/audit?instance={CYCLE}").text
    assert "cycle.started" in cycle and f"{CYCLE}/HOUSING" in cycle
    lookalike = noted.get(f"/orgs/{ORG}/audit?instance={CYCLE.replace('-', '_')}").text
    assert _seqs(lookalike) == []


def test_the_api_pages_with_a_next_link(
    noted: TestClient, engine: Engine, verifications: list[str | None]
) -> None:
    """The API lists the same entries as the page, newest first, with ``next`` until the
    oldest; a size is capped; ``verify=true`` verifies on request."""
    token = Accounts(engine.store, engine.clock).create_token("auditor", "script", by="test")
    headers = {"Authorization": f"Bearer {token}"}
    url: str | None = f"/api/v1/organisations/{ORG}/audit?limit=100"
    seen: list[int] = []
    while url is not None:
        body = noted.get(url, headers=headers).json()
        seen += [e["chain_seq"] for e in body["entries"]]
        url = body["next"]
    assert seen == list(range(seen[0], 0, -1)) and len(seen) > NOTES
    assert verifications == []
    sign_in(noted, "auditor")
    assert seen[: queries.AUDIT_PAGE_SIZE] == _seqs(noted.get(f"/orgs/{ORG}/audit").text)
    too_many = noted.get(
        f"/api/v1/organisations/{ORG}/audit?limit={queries.AUDIT_PAGE_MAX + 1}", headers=headers
    )
    assert too_many.status_code == 422
    checked = noted.get(f"/api/v1/organisations/{ORG}/audit?verify=true&event=note", headers=headers).json()
    assert checked["verification"]["ok"] is True and verifications == [ORG]
    assert {e["event"] for e in checked["entries"]} == {"note"}


def test_a_position_past_any_integer_the_database_holds_is_a_422(client: TestClient) -> None:
    """Found by schemathesis: ``before=323382900261488951296`` was a 500 (an integer overflow)."""
    sign_in(client, "auditor")
    assert client.get(f"/orgs/{ORG}/audit?before=323382900261488951296").status_code == 422
    assert client.get(f"/orgs/{ORG}/audit?before=12").status_code == 200


def test_a_position_beyond_the_chain_seq_column_is_a_422_on_postgresql_too(
    client: TestClient, engine: Engine
) -> None:
    """``chain_seq`` is an INTEGER column: ``before=2147483648`` (within the old bound, 2**62)
    was bound as an INTEGER and overflowed on PostgreSQL, a 500 on the page, its CSV and the API."""
    token = Accounts(engine.store, engine.clock).create_token("auditor", "script", by="test")
    api = client.get(
        f"/api/v1/organisations/{ORG}/audit?before={2**31}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 422 and "before" in api.json()["detail"]
    sign_in(client, "auditor")
    assert client.get(f"/orgs/{ORG}/audit?before={2**31}").status_code == 422
    assert client.get(f"/orgs/{ORG}/audit.csv?before={2**31}").status_code == 422
    assert client.get(f"/orgs/{ORG}/audit?before={2**31 - 1}").status_code == 200


def _rows(html: str) -> list[str]:
    """The audit table's rows, tags stripped and spaces folded."""
    body = html.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_grants_and_figures_read_as_who_got_what_and_which_value(client: TestClient, engine: Engine) -> None:
    """A role grant says which role, of which service, went to whom; a recorded figure says which
    measure, period and value, with its narrative; a reminder says who it went to; the entry's
    JSON is never shown raw."""
    engine.directory.grant("auditor", "service_manager", ORG, service="HOUSING", by="admin")
    services(engine).performance.record_actual(
        CYCLE, "HOU-01", 31.5, narrative="Voids backlog clearing", by="sm_housing"
    )
    sign_in(client, "auditor")
    rows = _rows(client.get(f"/orgs/{ORG}/audit").text)
    granted = next(r for r in rows if "role.granted" in r)
    manager = engine.catalog.roles.roles["service_manager"].label
    assert f"Granted the role {manager} for HOUSING to auditor" in granted and "admin" in granted
    recorded = next(r for r in rows if "actual.recorded" in r)
    assert f"Recorded HOU-01 for {CYCLE.split('/')[1]}: 31.5" in recorded
    assert "Narrative: Voids backlog clearing" in recorded and "sm_housing" in recorded
    assert not any('{"' in r or "&#34;" in r or "&quot;" in r for r in rows), "no raw JSON"


def _shown_and_recorded(html: str) -> list[tuple[str, str]]:
    """Each row of the audit table as (what it shows, what its "As recorded" details hold),
    tags stripped and spaces folded; a ``title`` is not shown."""
    body = html.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", body, flags=re.S)
    found = []
    for row in rows:
        recorded = " ".join(re.findall(r"<details.*?</details>", row, flags=re.S))
        shown = re.sub(r"<details.*?</details>", " ", row, flags=re.S)
        found.append(tuple(" ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in (shown, recorded)))
    return found  # type: ignore[return-value]


def test_the_page_says_steps_states_roles_and_times_in_the_frameworks_words(
    client: TestClient, engine: Engine
) -> None:
    """A step reads as its transition's label between its states' labels (from the workflow the
    instance runs), a role by its label in roles.yaml, a refusal as a sentence, a time as London
    reads it and a list as a list; the stored names (event, trigger, states, role, rule, the
    UTC time and the hash) stay on the row, under "As recorded", for an auditor."""
    housing = f"{CYCLE}/HOUSING"
    engine.directory.add_actor("hos", "Head of Housing")
    engine.directory.grant("hos", "head_of_service", ORG, service="HOUSING", by="admin")
    with pytest.raises(PermissionDenied):
        engine.fire(housing, "waive", "sm_housing", reason="no figures this quarter")
    settle_returns(engine)
    with engine.store.write() as s:
        audit.append_many(
            s,
            [
                audit.AuditRecord(
                    event="note",
                    organisation=ORG,
                    actor="perf",
                    data={"services": ["HOUSING", "WASTE"], "status": "on_track"},
                )
            ],
            engine.clock.now(),
        )
    sign_in(client, "auditor")
    html = client.get(f"/orgs/{ORG}/audit").text
    rows = _shown_and_recorded(html)
    wf = engine.catalog.workflows["service_return"]
    roles = engine.catalog.roles.roles
    step = {t.trigger: t.shown_label for t in wf.transitions}

    submitted = next((shown, raw) for shown, raw in rows if re.search(r"Trigger: submit\b", raw))
    moved = f"{step['submit']}: {wf.state_label('requested')} to {wf.state_label('submitted')}"
    assert moved in submitted[0], submitted
    assert roles["service_manager"].label in submitted[0]
    assert "submit:" not in submitted[0] and "fired" not in submitted[0], "no stored name shown"
    stored = ("fired", "submit", "requested", "submitted", "service_manager")
    assert all(name in submitted[1] for name in stored), submitted
    assert re.search(r"\b[0-9a-f]{12}", submitted[1]), "the entry's hash, for an auditor"

    refused = next((shown, raw) for shown, raw in rows if "Event: refused" in raw)
    assert f"Refused: {step['waive']}" in refused[0]
    assert f"Only a {roles['performance_officer'].label} may" in refused[0], refused
    assert "PermissionDenied" not in refused[0] and "PermissionDenied" in refused[1]
    assert "performance_officer" not in refused[0] and "permission denied for" in refused[1]

    signed = next((shown, raw) for shown, raw in rows if "Event: return.signed_off" in raw)
    assert f"Role: {roles['head_of_service'].label}" in signed[0], signed
    assert "head_of_service" not in signed[0] and "head_of_service" in signed[1]
    assert "return.signed_off" not in signed[0]

    noted = next((shown, raw) for shown, raw in rows if "Event: note" in raw)
    assert "Status: On track" in noted[0] and "on_track" not in noted[0] and "on_track" in noted[1]
    assert re.search(r"<ul[^>]*>\s*<li>HOUSING</li>\s*<li>WASTE</li>\s*</ul>", html), "a list as a list"

    assert re.search(r"(?<![0-9])1 Jul 2024 09:00(?![0-9:])", submitted[0]), "London time, to the minute"
    assert "2024-07-01T08:00:00" in submitted[1], "the stored UTC time, for an auditor"
    for shown, _recorded in rows:
        assert re.search(r"(?<![0-9])\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d(?![0-9:])", shown), shown
        assert not re.search(r"\d{4}-\d\d-\d\d(T| )\d\d:", shown), f"a stored UTC time shown: {shown}"
    exported = client.get(f"/orgs/{ORG}/audit.csv").text
    assert all(name in exported for name in ("return.signed_off", "head_of_service", "PermissionDenied"))


def test_a_reminder_says_its_number_on_the_ladder_and_a_record_id_is_called_one(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    """A reminder or escalation the worker sent says which of the ladder's steps it was
    ("Escalation number: 1"); the step's row id, which the entry also keeps, is called a record,
    never "Step" (a new user read "Step: 1" beside "step: 585" and saw two values disagree)."""
    clock.set(datetime(2024, 7, 12, 16, 0, tzinfo=LONDON))  # the data request's deadline has passed
    make_worker(engine.store, engine.catalog, clock, worker_id="w1", batch=50, channel=LogChannel()).tick()
    sign_in(client, "auditor")
    rows = _shown_and_recorded(client.get(f"/orgs/{ORG}/audit").text)
    sent = [
        (shown, recorded) for shown, recorded in rows if re.search(r"(Reminder|Escalation) sent to", shown)
    ]
    assert sent, "the sweep sent a reminder or an escalation"
    for shown, recorded in sent:
        assert re.search(r"(Reminder|Escalation) number: \d+", shown), shown
        assert not re.search(r"\bStep: ", shown), shown
        assert re.search(r"data\.step:? \d+", recorded), "the step's record stays as recorded"
