"""Faults and races against SQLite and a real PostgreSQL: processes killed with SIGKILL at
random points inside ``fire`` and the sweep, and eight processes racing one transition.

The kill count is 200 in CI; ``--kill-iterations 1000`` for the longer run."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.core import audit
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, Instance, Step
from tests.conftest import CYCLE, SERVICES
from tests.faultproc import busy, race

pytestmark = pytest.mark.slow  # processes killed and raced: about 100 s

ROUNDS = 1000


def test_eight_processes_race_one_transition(engine: Engine) -> None:
    key = f"{CYCLE}/HOUSING"
    engine.start_cycle("TDC", "2024-25-Q1", by="perf")
    with engine.store.read() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    engine.store.dispose()
    context = multiprocessing.get_context("spawn")
    read, go = context.Barrier(8), context.Barrier(8)
    wins = context.Manager().list([0] * 8)
    procs = [
        context.Process(target=race, args=(engine.store.url, key, ROUNDS, read, go, wins, i))
        for i in range(8)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
        assert p.exitcode == 0
    assert sum(wins) == ROUNDS, "exactly one winner in every round"
    with engine.store.read() as s:
        after = s.scalar(select(func.count()).select_from(AuditEntry))
        version = s.execute(select(Instance.version).where(Instance.key == key)).scalar_one()
        refused = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event == "refused"))
    assert version == ROUNDS + 1
    assert after - before == ROUNDS and refused == 0, "the losers wrote nothing"


def test_kill_9_inside_fire_and_sweep(
    engine: Engine, clock: ManualClock, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    iterations: int = request.config.getoption("--kill-iterations")
    engine.start_cycle("TDC", "2024-25-Q1", by="perf")
    keys = [f"{CYCLE}/{s}" for s in SERVICES]
    ack = tmp_path / "acks.txt"
    ack.touch()
    url = engine.store.url
    engine.store.dispose()
    context = multiprocessing.get_context("fork")
    rng = random.Random(20241)
    for i in range(iterations):
        proc = context.Process(target=busy, args=(url, keys, i, str(ack), i))
        proc.start()
        time.sleep(rng.uniform(0.02, 0.12))
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        _check_invariants(engine, ack)  # after every restart
    # A last, clean sweep far in the future: every step still due fires, none twice.
    clock.set(clock.now().replace(year=2025))
    make_worker(engine.store, engine.catalog, clock, worker_id="final").sweep()
    _check_invariants(engine, ack)
    with engine.store.read() as s:
        due_left = s.scalar(
            select(func.count())
            .select_from(Step)
            .where(Step.status.in_(("pending", "claimed")), Step.due_at <= clock.now())
        )
    assert due_left == 0, "no step lost"


def _check_invariants(engine: Engine, ack: Path) -> None:
    with engine.store.read() as s:
        report = audit.verify(s)
        assert report.ok, report.first_break
        fired = Counter(s.scalars(select(AuditEntry.instance).where(AuditEntry.event == "fired")).all())
        versions = dict(s.execute(select(Instance.key, Instance.version)).all())
        step_entries = [
            json.loads(d)["step"]
            for d in s.scalars(
                select(AuditEntry.data).where(AuditEntry.event.in_(("reminder.fired", "escalation.fired")))
            )
        ]
        fired_steps = set(s.scalars(select(Step.id).where(Step.status == "fired")))
    for key, version in versions.items():
        assert version - 1 == fired.get(key, 0), f"{key}: transitions and audit entries disagree"
    assert len(step_entries) == len(set(step_entries)), "a step fired twice"
    assert set(step_entries) == fired_steps, "a fired step without its audit entry, or the reverse"
    for line in ack.read_text().splitlines():
        key, version = line.split()
        assert versions[key] >= int(version), f"acknowledged {key} v{version} was lost"
