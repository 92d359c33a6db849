"""Processes for the fault and race tests: racing firers, and a busy process to kill -9."""

from __future__ import annotations

import logging
import os
import random
from datetime import datetime, timedelta
from multiprocessing.synchronize import Barrier

import structlog

from pmf_engine.app.wiring import make_worker
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import ConcurrencyConflict, Refused
from pmf_engine.core.store import Store
from tests.conftest import POLICIES, WORKFLOWS, lenient_catalog

NEXT = {"requested": "submit", "returned": "submit", "submitted": "return_for_correction"}


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def race(url: str, key: str, rounds: int, read: Barrier, go: Barrier, wins: list[int], me: int) -> None:
    """Each round: everyone reads the same version, then everyone fires on it at once."""
    _quiet()
    store = Store(url, upgrade=False)
    engine = Engine(store, lenient_catalog(WORKFLOWS, POLICIES), ManualClock(datetime(2024, 7, 1, 9)))
    won = 0
    for _ in range(rounds):
        read.wait(60)
        state, version = engine.peek(key)
        go.wait(60)
        try:
            engine.fire(key, NEXT[state], "both", reason="race", expected_version=version)
            won += 1
        except ConcurrencyConflict:
            pass
    wins[me] = won
    store.dispose()


def busy(url: str, keys: list[str], start_hours: int, ack_path: str, seed: int) -> None:
    """Fire transitions and sweep steps in a loop until killed; acknowledge each commit."""
    _quiet()
    rng = random.Random(seed)
    store = Store(url, upgrade=False)
    catalog = lenient_catalog(WORKFLOWS, POLICIES)
    clock = ManualClock(datetime(2024, 7, 1, 9) + timedelta(hours=start_hours))
    engine = Engine(store, catalog, clock)
    worker = make_worker(store, catalog, clock, worker_id=f"busy-{os.getpid()}", batch=5)
    with open(ack_path, "a", encoding="utf-8") as ack:
        while True:
            clock.advance(timedelta(minutes=rng.randint(1, 20)))
            if rng.random() < 0.3:
                worker.sweep()
                continue
            key = rng.choice(keys)
            try:
                state, _ = engine.peek(key)
                done = engine.fire(key, NEXT[state], "both", reason="fault test")
            except (Refused, ConcurrencyConflict, KeyError):
                continue
            ack.write(f"{done.instance} {done.version}\n")
            ack.flush()
            os.fsync(ack.fileno())
