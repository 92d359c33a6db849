"""Dashboard and drill-down latency for a large council: 200 measures in 8 themes with eight
years (32 quarters) of history, a cycle for each of those quarters (so the dashboard compares
with the same quarter last year), this quarter's figures (about a fifth red, each with its
exception report), on SQLite.

    python -m benchmarks.bench_dashboard [--rounds 30] [--measures 200] [--years 8]

Requests go through the ASGI app in-process (Starlette's TestClient): the figures are the
application's own time per page (routing, reads, building the dashboard, rendering), without
a network. Target: each page under 100 ms (median), printed as PASS/FAIL; nothing asserts it.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import structlog
from fastapi.testclient import TestClient

from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.period import Period
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.actuals import ActualIn
from pmf_engine.pmf.framework import Framework, load_policies

ROOT = Path(__file__).resolve().parent.parent
ORG = "BIG"
SERVICES = ("HOUSING", "PLANNING", "WASTE", "LEISURE", "REVENUES", "COMMUNITIES")
THEMES = tuple(f"Theme {i + 1}" for i in range(8))
PERIOD = Period(2024, 1)
TARGET_MS = 100.0


def seed(folder: Path, measures: int, years: int) -> tuple[Framework, str]:
    """The council, its measures and history, and this quarter's cycle with figures."""
    catalog = load_catalog(ROOT / "workflows", ROOT / "policies")
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(sqlite_url(folder / "big.db"), rehearsal=True)
    engine = Engine(store, catalog, clock)
    framework = Framework(engine, load_policies(ROOT / "policies"))
    directory = engine.directory
    directory.add_organisation(ORG, "A Large Council", by="bench")
    for code in SERVICES:
        directory.add_service(ORG, code, code.title(), by="bench")
    directory.add_actor("perf", "Performance Officer", by="bench")
    directory.grant("perf", "performance_officer", ORG, by="bench")
    rng = random.Random(7)
    codes = [f"M{i:03d}" for i in range(measures)]
    rows = ["code,title,theme,service,owner,unit,format,polarity,target 2024-25-Q1"]
    for i, code in enumerate(codes):
        rows.append(
            f"{code},Measure {i},{THEMES[i % len(THEMES)]},{SERVICES[i % len(SERVICES)]},"
            "perf,%,percent,higher,60"
        )
    (folder / "measures.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    framework.performance.import_measures(ORG, folder / "measures.csv", by="perf")
    quarters = [PERIOD]
    while len(quarters) < years * 4:
        quarters.insert(0, quarters[0].previous())
    history = ["code,period,value"] + [
        f"{code},{q},{rng.uniform(40, 80):.1f}" for code in codes for q in quarters[:-1]
    ]
    (folder / "history.csv").write_text("\n".join(history) + "\n", encoding="utf-8")
    framework.performance.import_history(ORG, folder / "history.csv", by="perf")  # before their cycles
    for year in range(years - 1, 0, -1):  # every quarter before has its cycle (closed or not)
        for quarter in range(1, 5):
            engine.start_cycle(ORG, str(Period(PERIOD.start_year - year, quarter)), by="perf")
    engine.start_cycle(ORG, str(PERIOD), by="perf")
    cycle = f"{ORG}/{PERIOD}"
    framework.performance.record_actuals(
        cycle, [ActualIn(code, rng.uniform(40, 80), f"{code} narrative", None) for code in codes], by="perf"
    )
    for status in framework.performance.status(cycle):
        if status.rag.status == "red":
            framework.performance.add_exception_report(
                cycle,
                status.code,
                reason="Below target",
                remedial_action="Recovery plan",
                owner="perf",
                recovery_date="2025-03-31",
                by="perf",
            )
    Accounts(store, clock).set_password("perf", "benchmark password", by="bench")
    return framework, cycle


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--measures", type=int, default=200)
    parser.add_argument("--years", type=int, default=8)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as name:
        started = time.perf_counter()
        framework, _cycle = seed(Path(name), args.measures, args.years)
        print(
            f"seeded {args.measures} measures x {args.years * 4} quarters "
            f"in {time.perf_counter() - started:.1f} s"
        )
        client = TestClient(create_app(framework, WebSettings(secret_key="bench", secure_cookies=False)))
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        client.post(
            "/sign-in", data={"username": "perf", "password": "benchmark password", "csrf_token": token[1]}
        )
        pages = [
            f"/orgs/{ORG}/dashboard",
            f"/orgs/{ORG}/dashboard/{PERIOD}/themes/Theme%201?sort=rag",
            f"/orgs/{ORG}/measures/M007/history?upto={PERIOD}",
            f"/orgs/{ORG}/dashboard/{PERIOD}/summary",
            "/todo",
        ]
        print(f"{'page':<60} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        failed = []
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
            print(f"{path:<60} {median:>10.1f} {p95:>8.1f} {len(response.content):>8}")
            if median >= TARGET_MS:
                failed.append(path)
        for path in pages:
            print(f"{'FAIL' if path in failed else 'PASS'} {path} median under {TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main()
