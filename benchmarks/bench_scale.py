"""Scale, sweep, audit and worker-memory benchmarks on SQLite (WAL, synchronous=FULL).

    python -m benchmarks.bench_scale [--orgs 400 --services 60] [--skip scale,sweep,audit,memory]

b. start one quarter for ORGS x SERVICES organisations (service returns, deadline rows, steps,
   audit entries): time and rows per second;
c. find and claim 1,000 due steps when 10,000, 100,000 and 1,000,000 steps are scheduled;
d. audit verification rate over 100,000 and 1,000,000 entries, with the verifying process's
   peak memory;
e. a worker process's RSS after sweeping while 1,000,000 steps are scheduled.

Set-up rows (organisations, services, actors; the scheduled steps; the audit chain) are
written in bulk and are not timed: each figure times only what it names.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from pmf_engine.app.wiring import load_catalog
from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 7, 1, 9, tzinfo=UTC)


def _catalog() -> Catalog:
    return load_catalog(ROOT / "workflows", ROOT / "policies")


def _bulk_council(db: Path, orgs: int, services: int) -> None:
    """Organisations, services, a performance officer and service managers, in bulk."""
    conn = sqlite3.connect(db)
    now = "2024-06-01 09:00:00.000000"
    conn.executemany(
        "INSERT INTO organisations (id, code, name, holiday_subdivision, created_at)"
        " VALUES (?, ?, ?, 'ENG', ?)",
        [(o, f"ORG{o:04d}", f"Council {o}", now) for o in range(1, orgs + 1)],
    )
    conn.executemany(
        "INSERT INTO services (id, organisation_id, code, name) VALUES (?, ?, ?, ?)",
        [(o * 1000 + s, o, f"S{s:03d}", f"Service {s}") for o in range(1, orgs + 1) for s in range(services)],
    )
    conn.executemany(
        "INSERT INTO actors (id, username, name, email, active, created_at) VALUES (?, ?, ?, NULL, 1, ?)",
        [(o, f"perf{o:04d}", f"Officer {o}", now) for o in range(1, orgs + 1)]
        + [(100_000 + o, f"sm{o:04d}", f"Manager {o}", now) for o in range(1, orgs + 1)],
    )
    conn.executemany(
        "INSERT INTO role_assignments (actor_id, organisation_id, role, service_id) VALUES (?, ?, ?, ?)",
        [(o, o, "performance_officer", None) for o in range(1, orgs + 1)]
        + [
            (100_000 + o, o, "service_manager", o * 1000 + s)
            for o in range(1, orgs + 1)
            for s in range(services)
        ],
    )
    conn.commit()
    conn.close()


def bench_scale(tmp: Path, orgs: int, services: int) -> None:
    db = tmp / "scale.db"
    Store(sqlite_url(db), rehearsal=True).dispose()
    _bulk_council(db, orgs, services)
    engine = Engine(Store(sqlite_url(db)), _catalog(), ManualClock(T0))
    start = time.perf_counter()
    for o in range(1, orgs + 1):
        engine.start_cycle(f"ORG{o:04d}", "2024-25-Q1", by=f"perf{o:04d}")
    elapsed = time.perf_counter() - start
    conn = sqlite3.connect(db)
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("instances", "deadlines", "steps")
    }
    entries = conn.execute(
        "SELECT count(*) FROM audit_entries WHERE event IN ('cycle.started', 'child.spawned')"
    ).fetchone()[0]
    conn.close()
    rows = sum(counts.values()) + entries
    print(f"\n## b. start one quarter: {orgs} organisations x {services} services")
    print("| instances | deadlines | steps | audit entries | seconds | rows/s |")
    print("|---|---|---|---|---|---|")
    cells = [counts["instances"], counts["deadlines"], counts["steps"], entries]
    print("| " + " | ".join(f"{c:,}" for c in cells) + f" | {elapsed:.1f} | {rows / elapsed:,.0f} |")
    engine.store.dispose()


def _scheduled_steps(db: Path, total: int, due: int) -> None:
    """One council with one open deadline, and ``total`` pending steps of which ``due`` are due."""
    store = Store(sqlite_url(db), rehearsal=True)
    engine = Engine(store, _catalog(), ManualClock(T0 - timedelta(days=30)))
    engine.directory.add_organisation("BEN", "Bench")
    engine.directory.add_service("BEN", "S", "Service")
    engine.directory.add_actor("perf", "Perf")
    engine.directory.grant("perf", "performance_officer", "BEN")
    engine.start_cycle("BEN", "2024-25-Q1", by="perf")
    store.dispose()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE steps SET status = 'cancelled'")
    deadline, instance = conn.execute("SELECT id, instance_id FROM deadlines LIMIT 1").fetchone()
    rows = []
    for i in range(total):
        when = T0 - timedelta(minutes=i + 1) if i < due else T0 + timedelta(minutes=i)
        rows.append(
            (deadline, instance, 1, "reminder", 1, when.strftime("%Y-%m-%d %H:%M:%S.%f"), "[]", "pending")
        )
    conn.executemany(
        "INSERT INTO steps (deadline_id, instance_id, organisation_id, kind, rung, due_at, recipients,"
        " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def bench_sweep(tmp: Path) -> None:
    from pmf_engine.app.wiring import make_worker  # noqa: PLC0415 - keep start-up light for the other runs

    print("\n## c. find and claim 1,000 due steps")
    print("| steps scheduled | claim 1,000 (ms) | ratio to 10,000 |")
    print("|---|---|---|")
    base = None
    for total in (10_000, 100_000, 1_000_000):
        db = tmp / f"sweep{total}.db"
        _scheduled_steps(db, total, 1000)
        store = Store(sqlite_url(db))
        worker = make_worker(store, _catalog(), ManualClock(T0), worker_id="bench", batch=1000)
        start = time.perf_counter()
        claimed = worker.claim(T0)
        elapsed = (time.perf_counter() - start) * 1000
        assert len(claimed) == 1000, len(claimed)
        base = base or elapsed
        print(f"| {total:,} | {elapsed:.1f} | {elapsed / base:.2f}x |")
        store.dispose()


def _chain(db: Path, entries: int) -> None:
    Store(sqlite_url(db), rehearsal=True).dispose()
    conn = sqlite3.connect(db)
    conn.execute(  # an entry must name an organisation that exists (the database checks)
        "INSERT INTO organisations (code, name, holiday_subdivision, created_at) "
        "VALUES ('BEN', 'Bench Council', 'ENG', '2024-07-01 08:00:00')"
    )
    prev = audit.GENESIS
    batch = []
    at = T0
    for n in range(1, entries + 1):
        values = {
            "chain": "BEN",
            "chain_seq": n,
            "at": audit.format_instant(at + timedelta(seconds=n)),
            "organisation": "BEN",
            "instance": f"BEN/2024-25-Q1/S{n % 60:03d}",
            "event": "fired",
            "trigger": "submit",
            "from_state": "requested",
            "to_state": "submitted",
            "actor": "sm",
            "role": "service_manager",
            "reason": None,
            "data": "{}",
            "as_of": None,
            "alg": "sha256/2",
            "prev_hash": prev,
        }
        values["hash"] = prev = audit.entry_hash(values)
        batch.append(tuple(values[k] for k in (*audit.HASHED_FIELDS, "hash")))
        if len(batch) == 50_000:
            _insert_entries(conn, batch)
            batch = []
    _insert_entries(conn, batch)
    last_at = audit.format_instant(at + timedelta(seconds=entries))
    conn.execute(
        "INSERT INTO audit_heads (chain, chain_seq, hash, at) VALUES ('BEN', ?, ?, ?)",
        (entries, prev, last_at),
    )
    conn.commit()
    conn.close()


def _insert_entries(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    columns = ", ".join((*audit.HASHED_FIELDS, "hash"))
    marks = ", ".join("?" * (len(audit.HASHED_FIELDS) + 1))
    conn.executemany(f"INSERT INTO audit_entries ({columns}) VALUES ({marks})", rows)


VERIFY = """
import json, sys, time
from pmf_engine.core import audit
from pmf_engine.core.store import Store
store = Store(sys.argv[1], upgrade=False)
start = time.perf_counter()
with store.read() as s:
    report = audit.verify(s)
elapsed = time.perf_counter() - start
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"ok": report.ok, "entries": report.entries, "seconds": elapsed, "rss_mb": int(hwm) / 1024}))
"""


def bench_audit(tmp: Path) -> None:
    print("\n## d. audit verification (fresh process each)")
    print("| entries | seconds | entries/s | peak RSS of the verifying process (MB) |")
    print("|---|---|---|---|")
    for entries in (100_000, 1_000_000):
        db = tmp / f"audit{entries}.db"
        _chain(db, entries)
        out = subprocess.run(
            [sys.executable, "-c", VERIFY, sqlite_url(db)], check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(out.splitlines()[-1])
        assert result["ok"] and result["entries"] == entries, result
        rate = entries / result["seconds"]
        print(f"| {entries:,} | {result['seconds']:.2f} | {rate:,.0f} | {result['rss_mb']:.0f} |")


WORKER = """
import json, sys
from datetime import datetime, UTC
from pathlib import Path
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.store import Store
from pmf_engine.app.wiring import make_worker
root = Path(sys.argv[2])
store = Store(sys.argv[1], upgrade=False)
worker = make_worker(store, load_catalog(root / "workflows", root / "policies"),
                ManualClock(datetime(2024, 7, 1, 9, 10, tzinfo=UTC)), worker_id="mem")  # after any lease
swept = worker.sweep()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"fired": swept.fired, "rss_mb": int(hwm) / 1024}))
"""


def bench_memory(tmp: Path) -> None:
    db = tmp / "sweep1000000.db"
    if not db.exists():
        _scheduled_steps(db, 1_000_000, 1000)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, sqlite_url(db), str(ROOT)], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.splitlines()[-1])
    print("\n## e. worker memory with 1,000,000 steps scheduled")
    print("| steps fired in the sweep | peak RSS of the worker process (MB) |")
    print("|---|---|")
    print(f"| {result['fired']:,} | {result['rss_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=400)
    parser.add_argument("--services", type=int, default=60)
    parser.add_argument("--skip", default="", help="comma-separated: scale,sweep,audit,memory")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    skip = set(filter(None, args.skip.split(",")))
    python = f"CPython {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}, SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if "scale" not in skip:
            bench_scale(tmp, args.orgs, args.services)
        if "sweep" not in skip:
            bench_sweep(tmp)
        if "audit" not in skip:
            bench_audit(tmp)
        if "memory" not in skip:
            bench_memory(tmp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark driver: {peak:.0f} MB")


if __name__ == "__main__":
    main()
