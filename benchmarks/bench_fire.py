"""Transition throughput: ``Engine.fire`` against the raw ceiling of the same database.

The ceiling is a bare transaction through the database driver that updates one row and
inserts one audit row, with the same durability settings (SQLite WAL + synchronous=FULL;
PostgreSQL with fsync on). ``fire`` does everything a real transition does: optimistic lock,
permission and segregation checks, the compiled machine, the hash-chained audit entry.

    python -m benchmarks.bench_fire [--fires 1000] [--postgres]
"""

from __future__ import annotations

import argparse
import logging
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parent.parent
SERVICES = 50


def timed(n: int, one: Callable[[int], None]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        one(i)
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - start, latencies


def engine_fires(url: str, n: int) -> tuple[float, list[float]]:
    catalog = load_catalog(ROOT / "workflows", ROOT / "policies")
    engine = Engine(Store(url), catalog, ManualClock(datetime(2024, 7, 1, 9, tzinfo=UTC)))
    engine.directory.add_organisation("BEN", "Bench Council")
    engine.directory.add_actor("perf", "Perf")
    engine.directory.grant("perf", "performance_officer", "BEN")
    for i in range(SERVICES):
        engine.directory.add_service("BEN", f"S{i:03d}", f"Service {i}")
        engine.directory.add_actor(f"sm{i:03d}", f"Manager {i}")
        engine.directory.grant(f"sm{i:03d}", "service_manager", "BEN", service=f"S{i:03d}")
    engine.start_cycle("BEN", "2024-25-Q1", by="perf")

    def one(i: int) -> None:
        service = i % SERVICES
        key = f"BEN/2024-25-Q1/S{service:03d}"
        if (i // SERVICES) % 2 == 0:
            engine.fire(key, "submit", f"sm{service:03d}")
        else:
            engine.fire(key, "return_for_correction", "perf", reason="benchmark")

    result = timed(n, one)
    engine.store.dispose()
    return result


def sqlite_ceiling(path: Path, n: int) -> tuple[float, list[float]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, state TEXT, version INTEGER)")
    conn.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, item INTEGER, data TEXT)")
    conn.executemany("INSERT INTO item VALUES (?, 'a', 1)", [(i,) for i in range(SERVICES)])

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE item SET state = ?, version = version + 1 WHERE id = ?", (str(i), i % SERVICES))
        conn.execute("INSERT INTO log (item, data) VALUES (?, ?)", (i % SERVICES, "x" * 200))
        conn.execute("COMMIT")

    result = timed(n, one)
    conn.close()
    return result


def postgres_ceiling(dsn: str, n: int) -> tuple[float, list[float]]:
    import psycopg  # noqa: PLC0415 - only for the PostgreSQL run

    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, state TEXT, version INTEGER)")
        conn.execute("CREATE TABLE log (seq SERIAL PRIMARY KEY, item INTEGER, data TEXT)")
        for i in range(SERVICES):
            conn.execute("INSERT INTO item VALUES (%s, 'a', 1)", (i,))
        conn.commit()

        def one(i: int) -> None:
            conn.execute(
                "UPDATE item SET state = %s, version = version + 1 WHERE id = %s", (str(i), i % SERVICES)
            )
            conn.execute("INSERT INTO log (item, data) VALUES (%s, %s)", (i % SERVICES, "x" * 200))
            conn.commit()

        return timed(n, one)


def row(name: str, n: int, result: tuple[float, list[float]], ceiling: float | None) -> str:
    elapsed, lat = result
    rate = n / elapsed
    ratio = f"{rate / ceiling:6.1%}" if ceiling else "     -"
    p50 = statistics.median(lat) * 1000
    p99 = statistics.quantiles(lat, n=100)[98] * 1000
    return f"| {name:<32} | {rate:9.0f} | {ratio:>8} | {p50:7.2f} | {p99:7.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true", help="also run on a PostgreSQL started here")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    n = args.fires
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print("| run                              |   fires/s | of ceiling | p50 ms | p99 ms |")
    print("|----------------------------------|-----------|------------|--------|--------|")
    with tempfile.TemporaryDirectory() as tmp:
        raw = sqlite_ceiling(Path(tmp) / "raw.db", n)
        print(row("SQLite raw ceiling", n, raw, None))
        print(row("SQLite Engine.fire", n, engine_fires(sqlite_url(Path(tmp) / "pmf.db"), n), n / raw[0]))
    if args.postgres:
        from tests.pg import PostgresServer  # noqa: PLC0415 - the test suite's throw-away server

        server = PostgresServer.start(fsync=True)
        try:
            raw_db, pmf_db = server.create_database(), server.create_database()
            raw = postgres_ceiling(f"host=127.0.0.1 port={server.port} user=postgres dbname={raw_db}", n)
            print(row("PostgreSQL raw ceiling", n, raw, None))
            print(row("PostgreSQL Engine.fire", n, engine_fires(server.url(pmf_db), n), n / raw[0]))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
