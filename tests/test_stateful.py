"""A Hypothesis state machine: random triggers fired by random actors, the clock moved, the
worker swept, crashed and restarted, and the invariants checked after every step."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from pmf_engine.app.wiring import make_worker
from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import ConcurrencyConflict, Refused
from pmf_engine.core.store import AuditEntry, Instance, Step, Store, sqlite_url
from pmf_engine.pmf.meetings import CommitteeCalendar
from tests.conftest import CYCLE, ORG, PEOPLE, SERVICES

pytestmark = pytest.mark.slow  # a soak of random walks: about 8 s

KEYS = [CYCLE, *(f"{CYCLE}/{s}" for s in SERVICES)]
ROLES = {user: {(role, service) for role, service in roles} for user, roles in PEOPLE}


def test_random_walks_keep_the_invariants(sqlite_template: Path, catalog: Catalog) -> None:
    triggers = sorted({t for wf in catalog.workflows.values() for t in wf.triggers})

    class Quarter(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.folder = Path(tempfile.mkdtemp(prefix="pmf-stateful-"))
            shutil.copyfile(sqlite_template, self.folder / "pmf.db")
            self.store = Store(sqlite_url(self.folder / "pmf.db"), rehearsal=True)
            self.clock = ManualClock(datetime(2024, 7, 1, 9, tzinfo=LONDON))
            self.engine = Engine(self.store, catalog, self.clock)
            calendar = CommitteeCalendar(self.engine)
            for body, day in [("cmt", 23), ("leadership", 29), ("cabinet", 31)]:
                calendar.add(ORG, body, datetime(2024, 7, day, 10, tzinfo=LONDON))
            self.engine.start_cycle(ORG, "2024-25-Q1", by="perf")
            self.worker = make_worker(self.store, catalog, self.clock, worker_id="w0", batch=3)
            self.restarts = 0

        @rule(
            key=st.sampled_from(KEYS),
            trigger=st.sampled_from(triggers),
            actor=st.sampled_from([p for p, _ in PEOPLE] + ["stranger"]),
            reason=st.sampled_from([None, "because"]),
        )
        def fire(self, key: str, trigger: str, actor: str, reason: str | None) -> None:
            data = {"minute_reference": "CAB/1", "next_meeting": "2024-09-11"}
            try:
                done = self.engine.fire(key, trigger, actor, reason=reason, data=data)
            except (Refused, ConcurrencyConflict):
                return
            service = key.split("/")[2] if key.count("/") == 2 else None
            roles = ROLES[actor]
            scoped = self.engine.catalog.roles.roles[done.role].scope == "service"
            assert (done.role, service if scoped else None) in roles, "fired without the permission"

        @rule(hours=st.integers(min_value=1, max_value=120))
        def advance(self, hours: int) -> None:
            self.clock.advance(timedelta(hours=hours))

        @rule()
        def sweep(self) -> None:
            self.worker.sweep()

        @rule()
        def crash_and_restart_worker(self) -> None:
            self.worker.claim(self.clock.now())  # claims, then "dies" holding them
            self.restarts += 1
            self.worker = make_worker(self.store, catalog, self.clock, worker_id=f"w{self.restarts}", batch=3)

        @invariant()
        def states_are_legal_and_audited(self) -> None:
            with self.store.read() as s:
                rows = s.execute(select(Instance.key, Instance.state, Instance.version)).all()
                fired = dict(
                    s.execute(
                        select(AuditEntry.instance, func.count())
                        .where(AuditEntry.event == "fired")
                        .group_by(AuditEntry.instance)
                    ).all()
                )
                report = audit.verify(s)
                step_entries = [
                    json.loads(d)["step"]
                    for d in s.scalars(
                        select(AuditEntry.data).where(
                            AuditEntry.event.in_(("reminder.fired", "escalation.fired"))
                        )
                    )
                ]
                fired_steps = set(s.scalars(select(Step.id).where(Step.status == "fired")))
            for key, state, version in rows:
                workflow = "quarterly_cycle" if key == CYCLE else "service_return"
                assert state in catalog.workflow(workflow).states
                assert version - 1 == fired.get(key, 0)
            assert report.ok, report.first_break
            assert len(step_entries) == len(set(step_entries)) and set(step_entries) == fired_steps

        def teardown(self) -> None:
            self.store.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)

    run_state_machine_as_test(
        Quarter,
        settings=settings(
            max_examples=25,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
