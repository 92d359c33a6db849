"""Web throughput through a real HTTP server: ``pmf serve --workers N`` on 127.0.0.1 over the
demo council (SQLite), driven by httpx clients at concurrency 1 and 8.

    python -m benchmarks.bench_serve [--seconds 10] [--workers 1,2]

Each client holds its own connection and fetches, in turn, a cycle's status and its measures
through the JSON API with a bearer token, for ``--seconds``; requests per second and the
median latency are printed per (workers, concurrency). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import structlog

from pmf_engine.app.demo import run_demo
from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, SystemClock
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.pmf.framework import load_policies

DEMO_NOW = datetime(2024, 11, 4, 12, 0, tzinfo=LONDON)
"""The demo is built as of this time: 2024-25-Q1 closed, 2024-25-Q2 open (the same pages every run)."""

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["/api/v1/instances/WDC/2024-25-Q1", "/api/v1/instances/WDC/2024-25-Q1/measures"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(db: Path, workers: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pmf_engine", "--db", sqlite_url(db), "--log-level", "error"]
    command += ["serve", "--port", str(port), "--workers", str(workers), "--no-worker", "--insecure-cookies"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMF_")}
    env["PMF_SECRET_KEY"] = "bench-secret-bench-secret-bench-secret"
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/sign-in", timeout=1)
            time.sleep(2 if workers > 1 else 0)  # let every process start accepting
            return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(log.read_text()[-2000:])


def _load(base: str, token: str, concurrency: int, seconds: float) -> tuple[float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            i = 0
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                answer = http.get(PATHS[i % len(PATHS)])
                mine.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.text[:200]
                i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        catalog, policies = (
            load_catalog(ROOT / "workflows", ROOT / "policies"),
            load_policies(ROOT / "policies"),
        )
        run_demo(db, catalog, policies, lambda _line: None, now=DEMO_NOW)
        store = Store(sqlite_url(db))
        token = Accounts(store, SystemClock()).create_token("priya", "bench", by="bench")
        store.dispose()
        print(f"machine: {os.cpu_count()} CPUs; SQLite; {', '.join(PATHS)} in turn")
        print("| web processes | clients | requests/s | median ms |")
        print("|---|---|---|---|")
        for workers in (int(w) for w in args.workers.split(",")):
            port = _free_port()
            process = _serve(db, workers, port, Path(folder) / f"serve-{workers}.log")
            try:
                for concurrency in (1, 8):
                    rate, median = _load(f"http://127.0.0.1:{port}", token, concurrency, args.seconds)
                    results[f"workers={workers},clients={concurrency}"] = {"per_s": rate, "median_ms": median}
                    print(f"| {workers} | {concurrency} | {rate:,.0f} | {median:.1f} |")
            finally:
                process.terminate()
                process.wait(timeout=30)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
