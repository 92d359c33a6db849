"""Shared fixtures: the shipped catalog, a manual clock, and stores on SQLite and PostgreSQL.

Tests that take the ``store`` fixture run once per backend. PostgreSQL is a real server started
for the session from the installed binaries; without them the PostgreSQL cases are skipped
locally, and fail under CI (``CI`` set), where they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from pmf_engine.app.wiring import framework_catalog, load_catalog
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Instance, Store, sqlite_url
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.performance import ActualIn
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.signoff import holders
from tests.pg import PostgresServer, find_bin_dir


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kill-iterations",
        type=int,
        default=200,
        help="SIGKILLs per backend in the fault test (1000 for the long run)",
    )


ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
POLICIES = ROOT / "policies"
SHIPPED_POLICIES = load_policies(POLICIES)


def allow_unsigned(policies: FrameworkPolicies) -> FrameworkPolicies:
    """``policies``, accepting a return unsigned where its service has no holder of the sign-off
    role (``quality.signing.accept_without_holder``), if they have ``quality.signing``."""
    signing = policies.framework.quality.signing
    if signing is None:
        return policies
    quality = policies.framework.quality.model_copy(
        update={"signing": signing.model_copy(update={"accept_without_holder": True})}
    )
    return replace(policies, framework=policies.framework.model_copy(update={"quality": quality}))


def lenient_catalog(workflows_dir: Path, policies_dir: Path) -> Catalog:
    """``load_catalog`` of these folders, the policies ``allow_unsigned`` (as the test council's)."""
    return framework_catalog(workflows_dir, policies_dir, allow_unsigned(load_policies(policies_dir)))


UNSIGNED_ALLOWED = allow_unsigned(SHIPPED_POLICIES)
"""The shipped policies, but accepting a return unsigned where its service has no head of
service (``quality.signing.accept_without_holder``): the test council has none, as most tests
are not about sign-off; those that are give a service a head (or use ``shipped_catalog``)."""
RAG = SHIPPED_POLICIES.rag
ORG = "TDC"
SERVICES = ("HOUSING", "PLANNING", "WASTE")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped workflows and policies, the test council accepting unsigned returns of
    services without a head of service (``UNSIGNED_ALLOWED``)."""
    return framework_catalog(WORKFLOWS, POLICIES, UNSIGNED_ALLOWED)


@pytest.fixture(scope="session")
def shipped_catalog() -> Catalog:
    """The shipped workflows and policies as they are."""
    return load_catalog(WORKFLOWS, POLICIES)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if find_bin_dir() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no PostgreSQL binaries are installed")
        pytest.skip("PostgreSQL binaries are not installed")
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer, catalog: Catalog) -> str:
    """A database at schema head with the test council seeded, cloned for each test."""
    name = pg_server.create_database()
    _seed_store(Store(pg_server.url(name), rehearsal=True), catalog)
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    path = tmp_path_factory.mktemp("template") / "seeded.db"
    _seed_store(Store(sqlite_url(path), rehearsal=True), catalog)
    return path


def _seed_store(store: Store, catalog: Catalog) -> None:
    seed(Engine(store, catalog, ManualClock(datetime(2024, 6, 3, 9, 0, tzinfo=LONDON))))
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding the seeded test council, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "pmf.db")
        return sqlite_url(tmp_path / "pmf.db")
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.url(server.create_database(request.getfixturevalue("pg_template")))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "empty.db")
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.url(server.create_database())


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.dispose()


PEOPLE: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("perf", [("performance_officer", None)]),
    ("perf2", [("performance_officer", None)]),
    ("sm_housing", [("service_manager", "HOUSING")]),
    ("sm_planning", [("service_manager", "PLANNING")]),
    ("sm_waste", [("service_manager", "WASTE")]),
    ("both", [("service_manager", "HOUSING"), ("performance_officer", None)]),
    ("cmt", [("cmt_member", None)]),
    ("holder", [("portfolio_holder", None)]),
    ("lead", [("leadership_team", None)]),
    ("lead_clerk", [("leadership_team", None), ("cabinet_clerk", None)]),
    ("clerk", [("cabinet_clerk", None)]),
    ("scrutiny", [("scrutiny_officer", None)]),
    ("auditor", [("auditor", None)]),
]


def seed(engine: Engine, org: str = ORG) -> None:
    engine.directory.add_organisation(org, "Test District Council")
    for code in SERVICES:
        engine.directory.add_service(org, code, code.title())
    for username, roles in PEOPLE:
        engine.directory.add_actor(username, username.title())
        for role, service in roles:
            engine.directory.grant(username, role, org, service=service)


@pytest.fixture
def engine(store: Store, catalog: Catalog, clock: ManualClock) -> Engine:
    """An engine over the seeded test council."""
    return Engine(store, catalog, clock)


def services(engine: Engine) -> Framework:
    """The council framework's services over ``engine``, with the shipped policies."""
    return Framework(engine, SHIPPED_POLICIES)


CYCLE = f"{ORG}/2024-25-Q1"


@pytest.fixture
def cycle(engine: Engine) -> str:
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return CYCLE


def settle_returns(engine: Engine, cycle_key: str = CYCLE) -> None:
    """Every service submits and the performance officer accepts (a measure the test gave no
    figure is first given a reason it is missing, as a return must be complete to submit;
    where the test gave a service a head of service, they sign its return off first)."""
    account_for_missing(engine, cycle_key)
    framework = services(engine)
    for service in SERVICES:
        key = f"{cycle_key}/{service}"
        engine.fire(key, "submit", f"sm_{service.lower()}")
        with engine.store.read() as s:
            inst = s.execute(select(Instance).where(Instance.key == key)).scalar_one()
            heads = holders(s, inst.organisation_id, inst.service_id, "head_of_service")
        if heads:
            framework.sign_offs.sign_off(key, by=heads[0])
        engine.fire(key, "accept", "perf")


MISSING_IN_TEST = "not reported in this test"


def account_for_missing(engine: Engine, cycle_key: str = CYCLE, *, by: str = "perf") -> int:
    """Record ``MISSING_IN_TEST`` as the missing reason of every measure of the cycle that has
    no figure and no reason yet, so its return may be submitted; how many were recorded."""
    performance = services(engine).performance
    missing = [
        ActualIn(m.code, None, missing_reason=MISSING_IN_TEST)
        for m in performance.status(cycle_key)
        if m.actual is None and not m.missing_reason and m.service is not None
    ]
    if missing:
        performance.record_actuals(cycle_key, missing, by=by)
    return len(missing)
