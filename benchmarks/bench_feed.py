"""The open-data feed through a real HTTP server: ``pmf serve`` on 127.0.0.1 over the demo
council (SQLite), driven by httpx clients.

    python -m benchmarks.bench_feed [--seconds 5] [--clients 1,4] [--workers 1]

For each endpoint (the public and the member feed's actuals as CSV and JSON, and a repeated
public CSV request answered 304 by its ETag), each client holds its own connection and fetches
it for ``--seconds``; requests per second, the median and the 99th percentile latency are
printed per (endpoint, clients). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import structlog

from benchmarks.bench_serve import DEMO_NOW, ROOT, _free_port, _serve
from pmf_engine.app.demo import run_demo
from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.pmf.framework import load_policies

ORG = "WDC"
ENDPOINTS = {
    "public csv": (f"/api/v1/open/{ORG}/actuals.csv", False, False),
    "public json": (f"/api/v1/open/{ORG}/actuals.json", False, False),
    "public csv 304": (f"/api/v1/open/{ORG}/actuals.csv", False, True),
    "member csv": (f"/api/v1/organisations/{ORG}/data/actuals.csv", True, False),
    "member json": (f"/api/v1/organisations/{ORG}/data/actuals.json", True, False),
}
"""name: (path, with the bearer token, with If-None-Match of the first answer's ETag)."""


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _load(base: str, path: str, headers: dict[str, str], clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    expected = 304 if "If-None-Match" in headers else 200

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, headers=headers) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                answer = http.get(path)
                mine.append(time.perf_counter() - t0)
                assert answer.status_code == expected, answer.text[:200]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "requests": float(len(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        catalog = load_catalog(ROOT / "workflows", ROOT / "policies")
        policies = load_policies(ROOT / "policies")
        run_demo(db, catalog, policies, lambda _line: None, now=DEMO_NOW)
        store = Store(sqlite_url(db))
        token = Accounts(store, SystemClock()).create_token("priya", "bench", by="bench")
        store.dispose()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = _serve(db, args.workers, port, Path(folder) / "serve.log")
        try:
            sizes = {}
            for name, (path, member, _) in ENDPOINTS.items():
                auth = {"Authorization": f"Bearer {token}"} if member else {}
                first = httpx.get(base + path, headers=auth)
                assert first.status_code == 200, first.text[:200]
                sizes[name] = (len(first.content), first.headers["etag"])
            print(f"machine: {os.cpu_count()} CPUs; SQLite; demo {ORG}; {args.workers} web process(es)")
            print("| endpoint | bytes | clients | requests/s | p50 ms | p99 ms |")
            print("|---|---|---|---|---|---|")
            for name, (path, member, conditional) in ENDPOINTS.items():
                headers = {"Authorization": f"Bearer {token}"} if member else {}
                if conditional:
                    headers["If-None-Match"] = sizes[name][1]
                for clients in (int(c) for c in args.clients.split(",")):
                    found = _load(base, path, headers, clients, args.seconds)
                    results[f"{name},clients={clients}"] = found
                    size = 0 if conditional else sizes[name][0]
                    print(
                        f"| {name} | {size:,} | {clients} | {found['per_s']:,.0f} | "
                        f"{found['p50_ms']:.1f} | {found['p99_ms']:.1f} |"
                    )
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
