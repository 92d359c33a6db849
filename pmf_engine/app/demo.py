"""``pmf demo``: an example council run through one whole quarter on a simulated clock."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit, outbox
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import Refused
from pmf_engine.core.store import Instance, Store, sqlite_url
from pmf_engine.pmf import report, sample
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.performance import ActualIn
from pmf_engine.pmf.policy import FrameworkPolicies

ORG = "WDC"
PERIOD = "2024-25-Q1"
CYCLE = f"{ORG}/{PERIOD}"
SERVICES = sample.SERVICES
MEETINGS = [
    ("cmt", "2024-07-23 10:00"),
    ("cmt", "2024-07-30 10:00"),
    ("leadership", "2024-08-05 10:00"),
    ("cabinet", "2024-08-14 18:00"),
    ("cabinet", "2024-09-11 18:00"),
    ("scrutiny", "2024-09-24 19:00"),
]
PEOPLE: list[tuple[str, str, list[tuple[str, str | None]]]] = [
    ("priya", "Priya Shah", [("performance_officer", None)]),
    ("adam", "Adam Clarke", [("administrator", None)]),
    ("hannah", "Hannah Boyd", [("service_manager", "HOUSING"), ("head_of_service", "HOUSING")]),
    ("pete", "Pete Okafor", [("service_manager", "PLANNING")]),
    ("wendy", "Wendy Marsh", [("service_manager", "WASTE")]),
    ("leo", "Leo Grant", [("service_manager", "LEISURE")]),
    ("rita", "Rita Evans", [("service_manager", "REVENUES")]),
    ("cara", "Cara Nolan", [("service_manager", "COMMUNITIES")]),
    ("cllr.patel", "Cllr Anita Patel", [("portfolio_holder", None)]),
    ("colin", "Colin Hughes", [("cmt_member", None)]),
    ("lena", "Lena Fischer", [("leadership_team", None), ("cabinet_clerk", None)]),
    ("carol", "Carol Dunn", [("cabinet_clerk", None)]),
    ("scott", "Scott Reid", [("scrutiny_officer", None)]),
    ("audrey", "Audrey Lamb", [("auditor", None)]),
]


def run_demo(
    db_file: Path, catalog: Catalog, policies: FrameworkPolicies, echo: Callable[[str], None]
) -> bool:
    """Seed the example council into a fresh SQLite file and run 2024-25 Q1; True if the
    audit chain verifies at the end."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    store = Store(sqlite_url(db_file), rehearsal=True)  # the demo runs a quarter of 2024
    engine = Engine(store, catalog, clock)
    framework = Framework(engine, policies)
    echo(f"pmf demo: Wexcombe District Council, quarter {PERIOD}, database {db_file}")

    engine.directory.add_organisation(ORG, "Wexcombe District Council", by="adam")
    for code, name in SERVICES.items():
        engine.directory.add_service(ORG, code, name, by="adam")
    for username, name, roles in PEOPLE:
        engine.directory.add_actor(username, name, email=f"{username}@wexcombe.example", by="adam")
        for role, service in roles:
            engine.directory.grant(username, role, ORG, service=service, by="adam")
    echo(f"seeded {len(SERVICES)} services and {len(PEOPLE)} people, one or more per role")

    calendar = framework.calendar
    for body, when in MEETINGS:
        calendar.add(ORG, body, datetime.fromisoformat(when).replace(tzinfo=LONDON), by="adam")
    echo(f"committee calendar: {', '.join(f'{b} {w[5:10]}' for b, w in MEETINGS)}")

    worker = make_worker(store, catalog, clock, channel=LogChannel(), worker_id="demo-worker")
    seen = [0]

    def run_worker_until(target: datetime) -> None:
        """The worker wakes at 08:00, 12:00 and 17:30 each day until ``target``."""
        moment = london(clock.now())
        day = moment.date()
        while True:
            for hh, mm in ((8, 0), (12, 0), (17, 30)):
                tick_at = datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)
                if tick_at <= moment:
                    continue
                if tick_at >= target:
                    clock.set(target)
                    return
                clock.set(tick_at)
                worker.tick(LogChannel())
                for message in outbox.listing(store, limit=1000)[::-1]:
                    if message.id > seen[0]:
                        seen[0] = message.id
                        echo(
                            f"  {london(message.created_at):%a %d %b %H:%M}  {'worker':<11} "
                            f"{message.kind:<24} -> {message.recipient}: {message.subject}"
                        )
            day += timedelta(days=1)
            moment = datetime(day.year, day.month, day.day, tzinfo=LONDON) - timedelta(seconds=1)

    def at(day: str, hour: int = 10) -> None:
        run_worker_until(datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=LONDON))

    def step(who: str, trigger: str, *, service: str | None = None, **kwargs: Any) -> None:
        key = f"{CYCLE}/{service}" if service else CYCLE
        when = f"{london(clock.now()):%a %d %b %H:%M}"
        try:
            done = engine.fire(key, trigger, who, **kwargs)
        except Refused as refusal:
            echo(f"  {when}  {who:<11} {trigger:<24} REFUSED: {refusal.reason}")
            return
        where = service or "cycle"
        reopened = (
            f"; {', '.join(k.rsplit('/', 1)[1] for k in done.cascaded)} reopened" if done.cascaded else ""
        )
        echo(f"  {when}  {who:<11} {trigger:<24} {where}: {done.from_state} -> {done.to_state}{reopened}")

    clock.set(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    status = engine.start_cycle(ORG, PERIOD, by="priya")
    echo(
        f"  {london(clock.now()):%a %d %b %H:%M}  {'priya':<11} {'start cycle':<24} "
        f"{status.state}, {len(status.children)} returns requested"
    )

    performance = framework.performance
    projects = framework.projects
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "measures.csv": sample.measures_csv(),
            "history.csv": sample.history_csv(),
            "projects.csv": sample.PROJECTS,
        }
        for name, text in files.items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        performance.import_measures(ORG, Path(folder) / "measures.csv", by="priya")
        history = performance.import_history(ORG, Path(folder) / "history.csv", by="priya")
        projects.import_projects(ORG, Path(folder) / "projects.csv", by="priya")
    echo(
        f"measures library: {len(performance.measures(ORG))} measures in {len(sample.THEMES)} themes, "
        f"{history} actuals from the {sample.HISTORY} quarters before, "
        f"{len(projects.projects(ORG))} Council Plan projects"
    )

    echo("Data request: services submit their returns")
    at("2024-07-05")
    figures = sample.current_figures()
    for svc, who in sample.OWNERS.items():
        if svc == "REVENUES":
            continue  # its benefits system is being migrated: the return is waived below
        performance.record_actuals(CYCLE, [ActualIn(*row) for row in figures[svc]], by=who)
        for code, service, owner, state, narrative in sample.PROJECT_UPDATES:
            if service == svc:
                projects.update(CYCLE, code, state, narrative=narrative, by=owner)
    for who, svc in [("hannah", "HOUSING"), ("pete", "PLANNING"), ("wendy", "WASTE"), ("leo", "LEISURE"),
                     ("cara", "COMMUNITIES")]:  # fmt: skip
        step(who, "submit", service=svc)
    at("2024-07-08")
    step(
        "priya",
        "return_for_correction",
        service="PLANNING",
        reason="Q1 figure leaves out householder applications",
    )
    step("hannah", "accept", service="HOUSING")
    step("priya", "close_data_request")
    at("2024-07-10")
    step("pete", "submit", service="PLANNING")
    for svc in ("HOUSING", "PLANNING", "WASTE", "LEISURE", "COMMUNITIES"):
        step("priya", "accept", service=svc)
    at("2024-07-17", 11)
    step("priya", "waive", service="REVENUES", reason="Benefits system migration: Q1 data not available")
    step("priya", "close_data_request")

    echo("Review and approval")
    at("2024-07-18")
    step("priya", "complete_service_review")
    at("2024-07-23")
    step(
        "colin",
        "return_to_services",
        reason="Housing narrative does not explain the rise in voids",
        data={"services": ["HOUSING"]},
    )
    at("2024-07-24")
    # CMT reopened Housing's accepted return: the service corrects its figure and explains it.
    voids = "Voids backlog after the spring heating programme: 41 homes held for works, now cleared."
    performance.record_actuals(CYCLE, [ActualIn("HOU-01", 32.5, voids)], by="hannah")
    echo(
        f"  {london(clock.now()):%a %d %b %H:%M}  {'hannah':<11} {'corrects a figure':<24} "
        "HOU-01: 33.5 -> 32.5"
    )
    step("priya", "complete_service_review")
    step("hannah", "submit", service="HOUSING")
    step("priya", "accept", service="HOUSING")
    at("2024-07-25")
    step("priya", "complete_service_review")
    at("2024-07-30", 12)
    step("cllr.patel", "endorse")
    at("2024-08-05", 11)
    step("lena", "sign_off")
    measures_now = performance.status(CYCLE)
    counts = Counter(m.rag.status for m in measures_now)
    echo(
        f"  {'':<17} {'RAG':<11} {counts['green']} green, {counts['amber']} amber, {counts['red']} red, "
        f"{counts['missing']} missing (Revenues waived)"
    )
    with store.read() as s:
        owed = missing_exception_reports(s, _cycle_id(s), policies)
    for item in owed:
        code, project = item.removeprefix("project "), item.startswith("project ")
        measure = next((m for m in measures_now if m.code == code), None)
        performance.add_exception_report(
            CYCLE,
            code,
            project=project,
            reason=sample.NARRATIVES.get(code) or "Supplier failure",
            remedial_action="Recovery plan agreed with the portfolio holder",
            owner=sample.OWNERS[measure.service] if measure and measure.service else "priya",
            recovery_date="2024-12-31",
            by="priya",
        )
        echo(f"  {london(clock.now()):%a %d %b %H:%M}  {'priya':<11} {'exception report':<24} {item}")
    at("2024-08-05", 12)
    step("lena", "sign_off")
    digest = report.verify_frozen(performance, CYCLE)
    echo(f"  {'':<17} {'report':<11} frozen at sign-off: sha256 {digest[:16]}…")
    at("2024-08-14", 18)
    step("lena", "approve", data={"minute_reference": "CAB/2024/51"})
    step("carol", "defer", reason="Agenda overran", data={"next_meeting": "2024-09-11"})
    at("2024-09-11", 19)
    step("carol", "approve", data={"minute_reference": "CAB/2024/57"})
    at("2024-09-24", 19)
    actions = framework.actions
    action = actions.add(
        CYCLE,
        "Report on the voids recovery plan",
        assignee="hannah",
        due="2024-10-31",
        by="scott",
        link="HOU-01",
    )
    when = f"{london(clock.now()):%a %d %b %H:%M}"
    echo(f"  {when}  {'scott':<11} {'scrutiny action':<24} {action.key} -> {action.assignee}")
    step("scott", "conclude", reason="Noted; action on Housing voids raised")
    at("2024-11-04", 10)
    closed = actions.close(action.key, note="Recovery plan reported to the November meeting", by="scott")
    echo(f"  {london(clock.now()):%a %d %b %H:%M}  {'scott':<11} {'close action':<24} {closed.key}")

    built = report.gather(framework, CYCLE)
    report_file = db_file.with_name(db_file.stem + "-report.html")
    report_file.write_text(report.html(built), encoding="utf-8")
    echo(f"committee report: {report_file} (figures frozen at sign-off; pmf report --format pdf|xlsx too)")
    final = engine.status(CYCLE)
    echo(f"cycle {CYCLE} is {final.state_label}, version {final.version}")
    with store.read() as s:
        verification = audit.verify(s)
        refused = sum(1 for e in audit.trail(s, CYCLE) if e.event == "refused")
    store.dispose()
    with store.read() as s:
        fired = sum(1 for e in audit.trail(s, CYCLE) if e.event.endswith(".fired"))
    echo(
        f"audit: {verification.entries} entries, {refused} refused attempts, "
        f"{fired} reminders and escalations recorded"
    )
    if verification.ok:
        chains = len(verification.chains)
        echo(f"pmf audit verify: audit log verified: {verification.entries} entries in {chains} chain(s)")
    else:
        echo(f"pmf audit verify: BROKEN {verification.first_break}")
    echo(f"explore it: pmf --db {sqlite_url(db_file)} audit trail {CYCLE}")
    return verification.ok


def _cycle_id(s: Session) -> int:
    return int(s.execute(select(Instance.id).where(Instance.key == CYCLE)).scalar_one())
