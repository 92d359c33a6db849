"""Web page and API latency on the demo council (SQLite): 40 measures with 8 quarters of
history, 6 services, a closed quarter and an open one.

    python -m benchmarks.bench_web [--rounds 50]

Requests go through the ASGI app in-process (Starlette's TestClient), so the figures are the
application's own time per request (routing, database reads, template rendering), without a
network or a proxy. Each page is fetched ``--rounds`` times after one warm-up; median and 95th
percentile are printed.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import structlog
from fastapi.testclient import TestClient

from pmf_engine.app.demo import run_demo
from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf.framework import Framework, load_policies

DEMO_NOW = datetime(2024, 11, 4, 12, 0, tzinfo=LONDON)
"""The demo is built as of this time: 2024-25-Q1 closed, 2024-25-Q2 open (the same pages every run)."""

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "/orgs/WDC",
    "/instances/WDC/2024-25-Q1",
    "/instances/WDC/2024-25-Q2/HOUSING",
    "/orgs/WDC/measures?cycle=WDC/2024-25-Q1",
    "/orgs/WDC/audit",
    "/instances/WDC/2024-25-Q1/report",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    catalog = load_catalog(ROOT / "workflows", ROOT / "policies")
    policies = load_policies(ROOT / "policies")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        run_demo(db, catalog, policies, lambda _line: None, now=DEMO_NOW)
        engine = Engine(Store(sqlite_url(db)), catalog, SystemClock())
        Accounts(engine.store, engine.clock).set_password("priya", "benchmark password", by="bench")
        token = Accounts(engine.store, engine.clock).create_token("priya", "bench", by="bench")
        client = TestClient(
            create_app(
                Framework(engine, policies),
                WebSettings(secret_key="bench", secure_cookies=False),
            )
        )
        page = client.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        client.post(
            "/sign-in", data={"username": "priya", "password": "benchmark password", "csrf_token": csrf[1]}
        )
        api = {"Authorization": f"Bearer {token}"}
        targets = [(p, {}) for p in PAGES] + [
            ("/api/v1/instances/WDC/2024-25-Q1/measures", api),
            ("/api/v1/organisations/WDC/cycles", api),
        ]
        print(f"{'request':<48} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        for path, headers in targets:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                client.get(path, headers=headers)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{path:<48} {statistics.median(times):>10.1f} {p95:>8.1f} {len(response.content):>8}")


if __name__ == "__main__":
    main()
