"""Every hot-path and sweep query is answered from an index, on SQLite and PostgreSQL.

The test records the SQL the code really issues (a watched fire, a worker sweep and delivery,
the trail, the frozen-report check, the audit page, sessions and the sign-in throttle) on a
database crowded with other councils (thousands of actors, their role assignments, instances,
deadlines, steps and audit entries) and asks each backend's planner how it would run each
statement: SQLite's ``EXPLAIN QUERY PLAN`` may not ``SCAN`` a watched table, and PostgreSQL's
``EXPLAIN (FORMAT JSON)`` may not hold a ``Seq Scan`` of one, nor an index scan without a
condition (a full walk of an index). Both databases are ANALYZEd first (as PostgreSQL's autovacuum
would have done), and ``enable_seqscan`` is left on: each planner chooses freely with real
statistics. The test failed before migration 0009 on both (the holders query scanned
``role_assignments``). The submit guard (``return_complete``) reads a return's measures and
projects by service: the other councils hold measures with six quarters of actuals and projects
with their updates, and migration 0013 gave both tables their index on ``service_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Connection

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.sessions import Sessions
from pmf_engine.core.store import (
    Actor,
    AuditEntry,
    AuditHead,
    Deadline,
    Instance,
    Organisation,
    OutboxMessage,
    RoleAssignment,
    Service,
    Step,
)
from pmf_engine.core.throttle import Throttle
from pmf_engine.interfaces.web import queries
from pmf_engine.pmf.models import Actual, Measure, Project, ProjectUpdate, ReportSnapshot
from pmf_engine.pmf.reporting import genuine_snapshot
from tests.conftest import CYCLE, ORG

WATCHED = (
    "actors", "role_assignments", "steps", "audit_entries", "deadlines", "outbox",
    "measures", "actuals", "projects", "project_updates",
)  # fmt: skip
"""The tables no hot-path or sweep query may read in full (the last four: the submit guard's)."""

OTHER_ORGS = 40
ACTORS_PER_ORG = 100
INSTANCES_PER_ORG = 10
DEADLINES_PER_INSTANCE = 10
STEPS_PER_DEADLINE = 5
MESSAGES_PER_ORG = 50
ENTRIES_PER_INSTANCE = 10
SERVICES_PER_ORG, MEASURES_PER_SERVICE, QUARTERS_REPORTED, PROJECTS_PER_SERVICE = 3, 10, 6, 10


def _seed_other_councils(conn: Connection, now: datetime) -> None:
    """4,000 actors with a role each, 400 instances with 4,000 deadlines (half the instances
    with one open), 20,000 steps, 2,000 sent messages and 8,000 audit entries, all in 40
    organisations other than the one the queries are about."""
    version_id = conn.execute(select(Instance.workflow_version_id).limit(1)).scalar_one()
    orgs = [
        {"code": f"O{i:03}", "name": f"Other {i}", "holiday_subdivision": "ENG", "created_at": now}
        for i in range(OTHER_ORGS)
    ]
    conn.execute(insert(Organisation), orgs)
    org_ids = {k: v for k, v in conn.execute(select(Organisation.code, Organisation.id))}
    actors = [
        {"username": f"{o['code']}-{n}", "name": "Someone", "email": None, "active": True, "created_at": now}
        for o in orgs
        for n in range(ACTORS_PER_ORG)
    ]
    conn.execute(insert(Actor), actors)
    actor_ids = {k: v for k, v in conn.execute(select(Actor.username, Actor.id))}
    roles = ("performance_officer", "service_manager", "auditor", "cmt_member")
    conn.execute(
        insert(RoleAssignment),
        [
            {
                "actor_id": actor_ids[a["username"]],
                "organisation_id": org_ids[str(a["username"]).split("-")[0]],
                "role": roles[n % len(roles)],
                "service_id": None,
            }
            for n, a in enumerate(actors)
        ],
    )
    keys = [(o["code"], f"{o['code']}/2024-25-Q1/S{i}") for o in orgs for i in range(INSTANCES_PER_ORG)]
    conn.execute(
        insert(Instance),
        [
            {
                "key": key,
                "organisation_id": org_ids[code],
                "parent_id": None,
                "service_id": None,
                "period": "2024-25-Q1",
                "workflow_version_id": version_id,
                "state": "requested",
                "version": 1,
                "context": {},
                "created_at": now,
                "entered_at": now,
            }
            for code, key in keys
        ],
    )
    instance_ids = {k: v for k, v in conn.execute(select(Instance.key, Instance.id))}
    conn.execute(
        insert(Deadline),
        [
            {
                "instance_id": instance_ids[key],
                "organisation_id": org_ids[code],
                "state": "requested",
                "rule": "period_end + 10 working days",
                "due_at": now + timedelta(days=60),
                "meeting_ids": [],
                "problem": None,
                "opened_at": now,
                "closed_at": None if n % 2 and k == DEADLINES_PER_INSTANCE - 1 else now,
            }
            for n, (code, key) in enumerate(keys)
            for k in range(DEADLINES_PER_INSTANCE)
        ],
    )
    deadlines = conn.execute(
        select(Deadline.id, Deadline.instance_id, Deadline.organisation_id, Deadline.closed_at).where(
            Deadline.instance_id.in_(list(instance_ids[k] for _, k in keys))
        )
    ).all()
    conn.execute(
        insert(Step),
        [
            {
                "deadline_id": d.id,
                "instance_id": d.instance_id,
                "organisation_id": d.organisation_id,
                "kind": "reminder",
                "rung": rung,
                "due_at": now + timedelta(days=300 + rung),  # not due in the test
                "recipients": [],
                "status": "cancelled" if d.closed_at is not None else ("fired" if rung < 3 else "pending"),
            }
            for d in deadlines
            for rung in range(STEPS_PER_DEADLINE)
        ],
    )
    conn.execute(
        insert(OutboxMessage),
        [
            {
                "organisation_id": org_ids[o["code"]],
                "created_at": now,
                "kind": "reminder",
                "recipient": f"{o['code']}-{n}",
                "address": None,
                "subject": "Reminder",
                "body": "",
                "message_id": f"<{o['code']}-{n}@test>",
                "step_ids": [],
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": now,
                "sent_at": now,
            }
            for o in orgs
            for n in range(MESSAGES_PER_ORG)
        ],
    )
    entries = []
    for code, key in keys:
        for n in range(ENTRIES_PER_INSTANCE):
            entries.append((code, key, "fired", f"{code}-{n}"))
    for a in actors:
        username = str(a["username"])
        entries.append((username.split("-", maxsplit=1)[0], None, "role.granted", username))
    sequence: dict[str, int] = {}
    rows = []
    for code, key, what, actor in entries:
        sequence[code] = sequence.get(code, 0) + 1
        rows.append(
            {
                "chain": code,
                "chain_seq": sequence[code],
                "at": "2024-06-03T08:00:00.000000Z",
                "organisation": code,
                "instance": key,
                "event": what,
                "trigger": "submit" if what == "fired" else None,
                "actor": actor,
                "data": "{}",
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
                "alg": "sha256/2",
            }
        )
    conn.execute(insert(AuditEntry), rows)
    _seed_other_figures(conn, org_ids, now)
    conn.execute(
        insert(AuditHead),
        [{"chain": c, "chain_seq": n, "hash": "0" * 64, "at": rows[0]["at"]} for c, n in sequence.items()],
    )


def _seed_other_figures(conn: Connection, org_ids: dict[str, int], now: datetime) -> None:
    """Each other council's services with their measures (six quarters of actuals each) and
    projects (an update a quarter): what the submit guard must not read in full."""
    conn.execute(
        insert(Service),
        [
            {"organisation_id": oid, "code": f"S{n}", "name": f"Service {n}"}
            for oid in org_ids.values()
            for n in range(SERVICES_PER_ORG)
        ],
    )
    services = conn.execute(
        select(Service.id, Service.organisation_id).where(Service.organisation_id.in_(list(org_ids.values())))
    ).all()
    periods = [f"2023-24-Q{q}" for q in range(1, 5)] + ["2024-25-Q1", "2024-25-Q2"]
    conn.execute(
        insert(Measure),
        [
            {"organisation_id": oid, "service_id": sid, "code": f"M{sid}-{n}", "title": "A measure",
             "polarity": "higher", "format": "percent", "targets": {"2024-25-Q1": 90}}
            for sid, oid in services
            for n in range(MEASURES_PER_SERVICE)
        ],
    )  # fmt: skip
    measures = conn.execute(select(Measure.id).where(Measure.code.like("M%"))).scalars().all()
    conn.execute(
        insert(Actual),
        [
            {"measure_id": mid, "period": p, "value": 91.0, "narrative": "", "reported_by": "x",
             "reported_at": now}
            for mid in measures
            for p in periods[:QUARTERS_REPORTED]
        ],
    )  # fmt: skip
    conn.execute(
        insert(Project),
        [
            {"organisation_id": oid, "service_id": sid, "code": f"P{sid}-{n}", "title": "A project"}
            for sid, oid in services
            for n in range(PROJECTS_PER_SERVICE)
        ],
    )
    projects = conn.execute(select(Project.id).where(Project.code.like("P%"))).scalars().all()
    conn.execute(
        insert(ProjectUpdate),
        [
            {"project_id": pid, "period": p, "status": "on_track", "narrative": "", "reported_by": "x",
             "reported_at": now}
            for pid in projects
            for p in periods
        ],
    )  # fmt: skip


def _work(engine: Engine, clock: ManualClock) -> None:
    """What the queries are recorded from: fires (one watched for segregation), a sweep and
    delivery, the trail, the frozen-report check, the audit page, sessions, the throttle."""
    store = engine.store
    housing = f"{CYCLE}/HOUSING"
    engine.fire(housing, "submit", "sm_housing")
    engine.fire(housing, "accept", "perf")  # watched: whoever submitted may not accept
    engine.fire(f"{CYCLE}/PLANNING", "submit", "sm_planning")
    clock.set(datetime(2024, 7, 12, 16, 0, tzinfo=LONDON))
    make_worker(store, engine.catalog, clock, worker_id="w1", batch=50, channel=LogChannel()).tick()
    queries.trail(store, CYCLE)
    queries.last_move(store, housing)
    with store.read() as s:
        genuine_snapshot(s, s.execute(select(Instance.id).where(Instance.key == CYCLE)).scalar_one())
    queries.audit_page(store, ORG, queries.AuditFilters())
    queries.audit_page(store, ORG, queries.AuditFilters(event="fired"), before=5)
    queries.audit_page(store, ORG, queries.AuditFilters(instance=CYCLE, actor="perf"))
    sessions = Sessions(store, clock)
    token = sessions.start("perf")
    sessions.user(token)
    sessions.end_all("perf", "signed_out")
    throttle = Throttle(store)
    throttle.reserve("perf", "192.0.2.1", clock.now())
    throttle.succeeded("perf", "192.0.2.1")


def _recorded(engine: Engine, clock: ManualClock) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        reads = re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", statement, re.IGNORECASE)
        if not many and reads and any(re.search(rf"\b{t}\b", statement) for t in WATCHED):
            statements.append((statement, parameters))

    event.listen(engine.store.engine, "before_cursor_execute", record)
    try:
        _work(engine, clock)
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", record)
    return statements


def _sqlite_full_scans(conn: Connection, statement: str, parameters: Any) -> list[str]:
    plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    scans = []
    for row in plan:
        found = re.match(r"SCAN (\w+)", row[3])
        if found and re.sub(r"_\d+$", "", found.group(1)) in WATCHED:
            scans.append(row[3])
    return scans


def _pg_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _pg_nodes(child)


def _pg_full_scans(conn: Connection, statement: str, parameters: Any) -> list[str]:
    raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    scans = []
    for node in _pg_nodes(plan[0]["Plan"]):
        relation = node.get("Relation Name")
        if relation not in WATCHED:
            continue
        kind = node["Node Type"]
        if kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node):
            scans.append(f"{kind} on {relation}")
    return scans


@pytest.fixture
def crowded(engine: Engine, cycle: str) -> Engine:
    """The seeded council with its cycle started, among 40 other councils."""
    del cycle
    with engine.store.engine.begin() as conn:
        _seed_other_councils(conn, datetime(2024, 6, 3, 8, 0, tzinfo=UTC))
    with engine.store.write() as s:
        cycle_id = s.execute(select(Instance.id).where(Instance.key == CYCLE)).scalar_one()
        s.add(
            ReportSnapshot(
                instance_id=cycle_id,
                content="{}",
                sha256="0" * 64,
                frozen_at=engine.clock.now(),
                frozen_by="lead",
            )
        )
    with engine.store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")  # both planners choose with real statistics
        conn.commit()
    return engine


def test_no_hot_path_or_sweep_query_reads_a_whole_table(crowded: Engine, clock: ManualClock) -> None:
    """Each statement a fire, a sweep, the trail, the audit page and sign-in issue reads its
    rows of actors, role assignments, steps, deadlines, audit entries and the outbox through
    an index, with 4,000 actors of other councils in the database."""
    statements = _recorded(crowded, clock)
    assert len(statements) > 20, "the work did not issue the statements it should"
    full = _pg_full_scans if crowded.store.dialect == "postgresql" else _sqlite_full_scans
    found: dict[str, list[str]] = {}
    with crowded.store.engine.connect() as conn:
        for statement, parameters in statements:
            scans = full(conn, statement, parameters)
            if scans:
                found[" ".join(statement.split())[:300]] = scans
        conn.rollback()
    assert found == {}, json.dumps(found, indent=1)


def test_without_statistics_a_fire_finds_steps_by_their_deadline(
    engine: Engine, cycle: str, clock: ManualClock
) -> None:
    """SQLite databases are seldom ANALYZEd: without statistics, leaving a state must still
    reach its steps through their deadline, not walk every pending step of the deployment by
    ``status`` (which ``ix_steps_due`` alone would offer: before migration 0010 it did). The
    worker's check that it still holds its lease reads the steps claimed now (the batches in
    flight), which is what that index is for."""
    del cycle
    if engine.store.dialect != "sqlite":
        pytest.skip("PostgreSQL's autovacuum keeps statistics")
    with engine.store.engine.begin() as conn:
        _seed_other_councils(conn, datetime(2024, 6, 3, 8, 0, tzinfo=UTC))
    statements = _recorded(engine, clock)
    too_wide: dict[str, list[str]] = {}
    with engine.store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            wide = [
                row[3]
                for row in plan
                if re.match(r"SCAN (steps|deadlines)\b", row[3])
                or re.match(r"SEARCH (steps|deadlines) USING (COVERING )?INDEX \w+ \(status=\?\)", row[3])
            ]
            in_flight = "claimed_by" in statement
            if wide and statement.lstrip().upper().startswith("UPDATE") and not in_flight:
                too_wide[" ".join(statement.split())[:300]] = wide
        conn.rollback()
    assert too_wide == {}, json.dumps(too_wide, indent=1)


@pytest.mark.postgres
def test_on_postgresql_the_fire_functions_read_through_indexes(crowded: Engine, clock: ManualClock) -> None:
    """On PostgreSQL a fire's reads and writes run inside ``pmf_fire_read`` and ``pmf_apply``
    (migration 0026), where the statements above do not see them: ``auto_explain`` logs the
    plan of each statement the functions run (PL/pgSQL's kept plans included) and sends it to
    the client, and none may walk a watched table. Every read and write a fire makes is there."""
    if crowded.store.dialect != "postgresql":
        pytest.skip("the functions are PostgreSQL's")
    plans: list[dict[str, Any]] = []

    def explain(dbapi_connection: Any, _record: Any) -> None:
        def keep(diagnostic: Any) -> None:
            text = diagnostic.message_primary or ""
            if "plan:" in text:
                plans.append(json.loads(text.split("plan:", 1)[1]))

        dbapi_connection.add_notice_handler(keep)
        with dbapi_connection.cursor() as cursor:
            for setting in (
                "LOAD 'auto_explain'",
                "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_nested_statements = on",
                "SET auto_explain.log_format = json",
                "SET client_min_messages = log",
            ):
                cursor.execute(setting)
        dbapi_connection.commit()

    store = crowded.store
    event.listen(store.engine, "connect", explain)
    store.engine.dispose()  # every connection from here on is a new one, explaining
    try:
        for _ in range(3):  # PL/pgSQL plans generically from a statement's sixth run: past that too
            housing = f"{CYCLE}/HOUSING"
            crowded.fire(housing, "submit", "sm_housing")
            crowded.fire(housing, "return_for_correction", "perf", reason="figures")
        crowded.fire(housing, "submit", "sm_housing")
        crowded.fire(housing, "accept", "perf")  # watched: the prior triggers are read
    finally:
        event.remove(store.engine, "connect", explain)
        store.engine.dispose()
    nested = [p for p in plans if "pmf_" not in p.get("Query Text", "")[:40]]
    texts = " ".join(p["Query Text"] for p in nested)
    for statement in (
        "FROM instances i", "FROM actors a", "FROM role_assignments r", "FROM audit_heads h",
        "FROM audit_entries e", "UPDATE steps", "UPDATE deadlines", "INSERT INTO deadlines",
        "INSERT INTO steps", "UPDATE instances", "INSERT INTO audit_entries", "UPDATE audit_heads",
    ):  # fmt: skip
        assert statement in texts, f"auto_explain showed no plan of {statement!r}"
    found: dict[str, list[str]] = {}
    for plan in nested:
        scans = []
        for node in _pg_nodes(plan["Plan"]):
            kind, relation = node["Node Type"], node.get("Relation Name")
            if relation in WATCHED and (
                kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node)
            ):
                scans.append(f"{kind} on {relation}")
        if scans:
            found[" ".join(plan["Query Text"].split())[:300]] = scans
    assert found == {}, json.dumps(found, indent=1)
