"""A worker process for the race tests: sweeps until nothing is left, then reports."""

from __future__ import annotations

import logging
from datetime import datetime
from multiprocessing.synchronize import Barrier

import structlog

from pmf_engine.app.wiring import make_worker
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.store import Store
from tests.conftest import POLICIES, WORKFLOWS, lenient_catalog


def sweep_until_done(url: str, worker_id: str, now: str, start: Barrier, batch: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    store = Store(url, upgrade=False)
    worker = make_worker(
        store,
        lenient_catalog(WORKFLOWS, POLICIES),
        ManualClock(datetime.fromisoformat(now)),
        worker_id=worker_id,
        batch=batch,
    )
    start.wait(60)  # every worker is ready before any sweeps
    idle = 0
    while idle < 3:
        claimed = worker.claim(worker.clock.now())
        if not claimed:
            idle += 1
            continue
        idle = 0
        worker.fire(claimed, worker.clock.now())
    store.dispose()
