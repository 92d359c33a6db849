"""Issue #12, findings 9 and 10: web sessions end, and sign-in throttling slows a guesser
without locking the real person out.

Finding 9: "A cookie copied before sign-out still opened pages after it; the cookie is
re-issued on every response, so an active session never expires; changing a password ends
nothing." Finding 10: "40 concurrent wrong passwords: 30 were checked (limit 5); anyone can
lock anyone out for 15 minutes with 5 requests."
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from pmf_engine.core import accounts
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Actor, WebSession
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES
from tests.test_web import PASSWORD, csrf, sign_in

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def app(engine: Engine) -> object:
    accounts = Accounts(engine.store, engine.clock)
    for user in ("perf", "sm_housing"):
        accounts.set_password(user, PASSWORD, by="test")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return create_app(
        Framework(engine, SHIPPED_POLICIES), WebSettings(secret_key="test-secret", secure_cookies=False)
    )


def _client(app: object, address: str = "testclient") -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 50000))  # type: ignore[arg-type]


def _opens(app: object, cookie: str) -> bool:
    """Whether a fresh browser holding only ``cookie`` is let in to the organisation's page."""
    thief = _client(app, "203.0.113.9")
    thief.cookies.set("pmf_session", cookie)
    return thief.get(f"/orgs/{ORG}").status_code == 200


# -- finding 9: sessions ------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app: object) -> None:
    client = _client(app)
    sign_in(client, "perf")
    copied = client.cookies["pmf_session"]
    assert _opens(app, copied), "the copied cookie works while the session lives"
    signed_out = client.post("/sign-out", data={"csrf_token": csrf(client, f"/orgs/{ORG}")})
    assert signed_out.status_code == 303
    assert not _opens(app, copied), "sign-out ended the session on the server"


def test_sign_out_ends_every_session_of_the_person(app: object) -> None:
    laptop, phone = _client(app), _client(app, "198.51.100.7")
    sign_in(laptop, "perf")
    sign_in(phone, "perf")
    on_phone = phone.cookies["pmf_session"]
    laptop.post("/sign-out", data={"csrf_token": csrf(laptop, f"/orgs/{ORG}")})
    assert not _opens(app, on_phone)


def test_the_cookie_is_not_reissued_on_every_response(app: object) -> None:
    client = _client(app)
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}")
    assert page.status_code == 200 and "set-cookie" not in page.headers, "no sliding re-issue"


def test_the_cookie_holds_only_a_random_id(app: object, engine: Engine) -> None:
    client = _client(app)
    sign_in(client, "perf")
    value = client.cookies["pmf_session"]
    decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    assert len(decoded) == 32 and b"perf" not in decoded and "." not in value
    with engine.store.read() as s:
        stored = {w.token_sha256 for w in s.scalars(select(WebSession))}
    assert stored and value not in stored, "the database keeps only the id's digest"


def test_an_idle_session_ends(app: object, engine: Engine) -> None:
    client = _client(app)
    sign_in(client, "perf")
    engine.clock.advance(timedelta(minutes=29))  # type: ignore[attr-defined]
    assert client.get(f"/orgs/{ORG}").status_code == 200
    engine.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    assert client.get(f"/orgs/{ORG}").headers["location"].startswith("/sign-in")


def test_an_active_session_ends_at_its_absolute_time_out(app: object, engine: Engine) -> None:
    client = _client(app)
    sign_in(client, "perf")
    for _ in range(8 * 3):  # a request every 20 minutes for 8 hours
        assert client.get(f"/orgs/{ORG}").status_code == 200
        engine.clock.advance(timedelta(minutes=20))  # type: ignore[attr-defined]
    assert client.get(f"/orgs/{ORG}").headers["location"].startswith("/sign-in")


def test_a_password_change_ends_the_sessions(app: object, engine: Engine) -> None:
    client = _client(app)
    sign_in(client, "perf")
    copied = client.cookies["pmf_session"]
    Accounts(engine.store, engine.clock).set_password("perf", "a new passphrase here", by="perf")
    assert not _opens(app, copied)


def test_deactivation_ends_the_sessions(app: object, engine: Engine) -> None:
    client = _client(app)
    sign_in(client, "perf")
    with engine.store.write() as s:
        s.execute(update(Actor).where(Actor.username == "perf").values(active=False))
    assert client.get(f"/orgs/{ORG}").headers["location"].startswith("/sign-in")


def test_a_session_id_planted_before_sign_in_is_not_the_one_signed_in(app: object) -> None:
    client = _client(app)
    client.get("/sign-in")
    planted = client.cookies["pmf_session"]
    sign_in(client, "perf")
    assert client.cookies["pmf_session"] != planted and not _opens(app, planted)


# -- finding 10: throttling ---------------------------------------------------------------------


def test_forty_concurrent_wrong_passwords_are_checked_at_most_five_times(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("perf", PASSWORD, by="test")
    checked: list[str] = []
    real_check = Accounts.authenticate

    def counted(self: Accounts, username: str, password: str) -> str | None:
        checked.append(password)
        return real_check(self, username, password)

    monkeypatch.setattr(Accounts, "authenticate", counted)
    barrier = threading.Barrier(40)
    answers: list[str | None] = []

    def attempt(n: int) -> None:
        barrier.wait()
        _user, why = accounts.sign_in("perf", f"guess number {n}")
        answers.append(why)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 40
    assert len(checked) <= 5, f"{len(checked)} passwords were checked"
    assert sum("Too many failed attempts" in (a or "") for a in answers) >= 35


def test_five_wrong_passwords_by_someone_else_do_not_lock_the_real_person_out(app: object) -> None:
    attacker = _client(app, "203.0.113.66")
    for n in range(5):
        wrong = attacker.post(
            "/sign-in", data={"username": "perf", "password": f"guess {n}", "csrf_token": csrf(attacker)}
        )
        assert wrong.status_code == 401
    held = attacker.post(
        "/sign-in", data={"username": "perf", "password": "guess 6", "csrf_token": csrf(attacker)}
    )
    assert "Too many failed attempts" in held.text, "the guesser is slowed"
    real = _client(app, "192.0.2.10")
    sign_in(real, "perf")  # at once, from the person's own address
    assert real.get(f"/instances/{CYCLE}").status_code == 200


def test_the_guesser_waits_longer_each_time(engine: Engine) -> None:
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("perf", PASSWORD, by="test")
    for n in range(5):
        assert accounts.sign_in("perf", f"guess {n}", address="203.0.113.66")[1] == (
            "Enter a correct username and password"
        )
    waits = []
    for n in range(4):
        _user, why = accounts.sign_in("perf", "guess", address="203.0.113.66")
        assert why is not None and "try again in" in why
        waits.append(why)
        engine.clock.advance(timedelta(seconds=2**n))  # type: ignore[attr-defined]
        assert accounts.sign_in("perf", f"again {n}", address="203.0.113.66")[1] == (
            "Enter a correct username and password"
        )
    assert waits == [
        f"Too many failed attempts: try again in {s}"
        for s in ("1 second", "2 seconds", "4 seconds", "8 seconds")
    ]


def test_many_addresses_slow_an_account_by_a_minute_at_most(engine: Engine) -> None:
    """A guesser at 60 addresses, trying whenever the account opens: the real person, from
    their own address, is never told to wait more than a minute, and then gets in."""
    accounts = Accounts(engine.store, engine.clock)
    accounts.set_password("perf", PASSWORD, by="test")
    for n in range(60):
        accounts.sign_in("perf", f"guess {n}", address=f"203.0.113.{n}")
        engine.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    user, why = accounts.sign_in("perf", PASSWORD, address="192.0.2.10")
    if user is None:
        assert why is not None and "second" in why and "minute" not in why, why
        engine.clock.advance(timedelta(seconds=60))  # type: ignore[attr-defined]
        assert accounts.sign_in("perf", PASSWORD, address="192.0.2.10") == ("perf", None)


def test_a_busy_office_address_counts_only_failed_sign_ins(engine: Engine) -> None:
    """Every member of staff signing in from one office address: correct passwords do not add up
    to a hold on that address (the address counter once counted every attempt)."""
    accounts = Accounts(engine.store, engine.clock)
    people = [f"person{n}" for n in range(30)]
    for person in people:
        engine.directory.add_actor(person, person.title())
        accounts.set_password(person, PASSWORD, by="test")
    for person in people:
        assert accounts.sign_in(person, PASSWORD, address="198.51.100.7") == (person, None), person


def test_the_unknown_name_hash_is_made_by_the_web_app_not_by_every_command(engine: Engine) -> None:
    """Importing the CLI hashed a dummy password (a fifth of a second on every command); now the
    web app makes it as it starts, before anyone signs in, so an unknown name is never faster."""
    probe = (
        "import sys, pmf_engine.interfaces.main; from pmf_engine.core import accounts;"
        "print(accounts._dummy.cache_info().currsize, 'fastapi' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["0", "False"], "nor is the web stack imported unless a command serves"
    accounts._dummy.cache_clear()
    settings = WebSettings(secret_key="test-secret", secure_cookies=False)
    create_app(Framework(engine, SHIPPED_POLICIES), settings)
    assert accounts._dummy.cache_info().currsize == 1
