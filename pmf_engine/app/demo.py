"""The example council, built in the present: ``pmf demo`` and ``pmf serve --demo``.

Wexcombe District Council is seeded into a SQLite file (or an empty database a URL names) and
its quarters are run on a simulated clock up to the time it is now (the injected clock's), with
the scheduler worker waking three times a day (when something is due):

* eight quarters of figures, imported but for the last full year's Q4, whose cycle is run through
  to the annual report's freeze and publication (``demo_year_end``), then the *story* quarter
  (the one before the quarter that ended most recently), run end to end with every way back the
  workflow has, and closed;
* the *open* quarter (the one that ended most recently), run as a quiet quarter would go as far
  as the time it is now, so that it stands at the stage it would be at, with no deadline missed;
* committee meetings for all of them and for the quarter after, placed by working days after
  each quarter's end, so that the calendar always has meetings in the coming months.

Every date is computed from the clock: the demo looks the same on any day of a quarter's
stage. ``prepare_demo`` keeps a demo database that is already there unless asked to reset it;
a new one is built beside it and moved into place only when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import make_url, select

from pmf_engine.app import demo_library, demo_plans, demo_time, demo_year_end
from pmf_engine.app.demo_time import DemoQuarters, on
from pmf_engine.app.wiring import make_worker
from pmf_engine.channels import LogChannel
from pmf_engine.core import audit, outbox
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import LONDON, ManualClock, london
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import InvalidInput, PmfError, Refused
from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance, Organisation, Store, sqlite_url
from pmf_engine.core.workdays import WorkingDays
from pmf_engine.core.worker import Worker
from pmf_engine.pmf import report, sample, sample_quality, sample_words
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.performance import ActualIn
from pmf_engine.pmf.policy import FrameworkPolicies

log = structlog.get_logger()

ORG = "WDC"
SERVICES = sample.SERVICES
DEMO_PASSWORD = "wexcombe-demo-2024"  # noqa: S105 - the example council's, printed at start
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
    ("gita", "Gita Rao", [("head_of_service", "PLANNING"), ("head_of_service", "COMMUNITIES")]),
    ("mark", "Mark Ellis", [("head_of_service", "WASTE"), ("head_of_service", "LEISURE")]),
    ("ruth", "Ruth Adeyemi", [("head_of_service", "REVENUES")]),
    ("omar", "Omar Haddad", [("head_of_service", "HOUSING")]),  # signs off what Hannah submits
]

# Meetings of each quarter's cycle, in working days after the first working day after the
# quarter's end (its "day 0"), with the hour they start.
STORY_MEETINGS = [("cmt", 16, 10), ("cmt", 21, 10), ("leadership", 25, 10), ("cabinet", 32, 18),
                  ("cabinet", 46, 18), ("scrutiny", 54, 19)]  # fmt: skip
QUARTER_MEETINGS = demo_year_end.MEETINGS
SCRUTINY_NOTICE = 10
"""The open quarter's Scrutiny meets at least this many working days from now: its cycle stays open."""
ACTION_WORKING_DAYS = 25
"""The story's Scrutiny action is due this many working days after the meeting that raised it."""


@dataclass(frozen=True)
class Prepared:
    """What ``prepare_demo`` did: built the database afresh (``built``) or kept the one there."""

    db_file: Path
    built: bool
    open_cycle: str | None


def demo_meetings(quarters: DemoQuarters, workdays: WorkingDays) -> list[tuple[str, datetime]]:
    """Every committee meeting of the demo's calendar, earliest first: the story quarter's,
    the open quarter's (its Scrutiny at least ``SCRUTINY_NOTICE`` working days from now) and
    those of the quarter running now; the year-end cycle's before them, if the demo runs one."""
    meetings = [(body, on(quarters.story, workdays, day, hour)) for body, day, hour in STORY_MEETINGS]
    meetings += demo_year_end.meetings(quarters, workdays)
    today = london(quarters.now).date()
    for period in (quarters.open, quarters.following):
        for body, day, hour in QUARTER_MEETINGS:
            when = on(period, workdays, day, hour)
            if period == quarters.open and body == "scrutiny":
                latest = datetime.combine(workdays.add(today, SCRUTINY_NOTICE), time(hour), tzinfo=LONDON)
                when = max(when, latest)
            meetings.append((body, when))
    return sorted(meetings, key=lambda meeting: meeting[1])


class _Run:
    """The engine on a simulated clock, with the worker waking at 08:00, 12:00 and 17:30."""

    def __init__(self, store: Store, catalog: Catalog, policies: FrameworkPolicies, start: datetime,
                 echo: Callable[[str], None], story: Period) -> None:  # fmt: skip
        self.store = store
        self.story = story  # the quarter each quarter's words are placed beside (``sample_words``)
        self.policies = policies
        self.clock = ManualClock(start)
        self.engine = Engine(store, catalog, self.clock)
        self.framework = Framework(self.engine, policies)
        self.worker: Worker = make_worker(
            store, catalog, self.clock, channel=LogChannel(), worker_id="demo-worker"
        )
        self.echo = echo
        self.seen = 0

    def stamp(self) -> str:
        return f"{london(self.clock.now()):%a %d %b %Y %H:%M}"

    def say(self, who: str, what: str, detail: str) -> None:
        self.echo(f"  {self.stamp()}  {who:<11} {what:<24} {detail}")

    def until(self, target: datetime) -> None:
        """Run the worker's wake-ups before ``target`` (those with something due), then set
        the clock to it."""
        moment, due = london(self.clock.now()), demo_time.next_due(self.store)
        if target <= moment:
            return
        day = moment.date()
        while True:
            for hh, mm in ((8, 0), (12, 0), (17, 30)):
                tick_at = datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)
                if tick_at >= target:
                    self.clock.set(target)
                    return
                if tick_at <= moment or due is None or tick_at < due:
                    continue
                self.clock.set(tick_at)
                self.tick()
                due = demo_time.next_due(self.store)
            day += timedelta(days=1)
            moment = datetime(day.year, day.month, day.day, tzinfo=LONDON) - timedelta(seconds=1)

    def tick(self) -> None:
        swept, delivered = self.worker.tick(LogChannel())
        if not (swept.fired or delivered.sent):
            return
        for message in outbox.listing(self.store, limit=1000)[::-1]:
            if message.id > self.seen:
                self.seen = message.id
                self.echo(
                    f"  {london(message.created_at):%a %d %b %Y %H:%M}  {'worker':<11} "
                    f"{message.kind:<24} -> {message.recipient}: {message.subject}"
                )

    def step(self, cycle: str, who: str, trigger: str, *, service: str | None = None, **kwargs: Any) -> None:
        key = f"{cycle}/{service}" if service else cycle
        try:
            done = self.engine.fire(key, trigger, who, **kwargs)
        except Refused as refusal:
            self.say(who, trigger, f"REFUSED: {refusal.reason}")
            return
        reopened = (
            f"; {', '.join(k.rsplit('/', 1)[1] for k in done.cascaded)} reopened" if done.cascaded else ""
        )
        self.say(who, trigger, f"{service or 'cycle'}: {done.from_state} -> {done.to_state}{reopened}")

    def sign_off(self, cycle: str, who: str, service: str) -> None:
        """The head of service signs off the service's return as submitted."""
        try:
            late = self.framework.sign_offs.sign_off(f"{cycle}/{service}", by=who)
        except PmfError as refusal:
            self.say(who, "sign off", f"REFUSED: {refusal}")
            return
        self.say(who, "sign off", f"{service} return signed off" + (" (late)" if late else ""))

    def start(self, period: Period) -> str:
        status = self.engine.start_cycle(ORG, str(period), by="priya")
        self.say(
            "priya", "start cycle", f"{status.key}: {status.state}, {len(status.children)} returns requested"
        )
        return status.key

    def report_figures(
        self,
        cycle: str,
        service: str,
        figures: dict[str, list[tuple[str, float, str]]],
        projects: list[tuple[str, str, str, str, str]] = sample.PROJECT_UPDATES,
    ) -> None:
        """The service manager records the service's figures and its projects' progress
        (``projects``: code, service, owner, status, narrative)."""
        who = sample.OWNERS[service]
        rows = [
            ActualIn(code, value, narrative, quality=sample_quality.QUALITY.get(code, "validated"))
            for code, value, narrative in figures[service]
        ]
        self.framework.performance.record_actuals(cycle, rows, by=who)
        period = cycle.rsplit("/", 1)[1]
        for code, title in sample_quality.EVIDENCE.items():
            if any(row.code == code for row in rows):
                pdf = sample_quality.evidence_pdf(f"{title} {period}")
                self.framework.evidence.attach(cycle, code, f"{code} {period} extract.pdf", pdf, by=who)
        for code, svc, owner, state, narrative in projects:
            if svc == service:
                self.framework.projects.update(cycle, code, state, narrative=narrative, by=owner)
        demo_plans.report_statuses(self.framework, cycle, service, who)

    def review_risks(self, cycle: str, reviews: list[tuple[str, int, int, str]]) -> None:
        """Each risk's owner (its service's manager; the performance officer for corporate
        risks) records the quarter's review of it (``reviews``: its notes in the quarter's months)."""
        register = {r.code: r for r in self.framework.risks.register(ORG)}
        period = Period.parse(cycle.rsplit("/", 1)[1])
        for code, likelihood, impact, note in reviews:
            service = register[code].service
            who = sample.OWNERS[service] if service else sample.CORPORATE_REVIEWER
            said = sample_words.words(note, period)
            view = self.framework.risks.review(cycle, code, likelihood, impact, note=said, by=who)
            if view.escalated:
                self.say(who, "risk review", f"{code} {view.score}: escalated to {view.level_label}")

    def headlines(self, cycle: str, texts: dict[str, str]) -> None:
        """The performance officer writes each theme's headline (``texts``) for the report."""
        for theme, narrative in texts.items():
            self.framework.delivery.write_headline(cycle, theme, narrative, by="priya")
        self.say("priya", "theme headlines", f"{len(texts)} themes")

    def exception_reports(self, cycle: str, recovery: date) -> None:
        """The performance officer writes every exception report the cycle still owes, in the
        words of its quarter (``sample_words``)."""
        performance = self.framework.performance
        measures = performance.status(cycle)
        period = Period.parse(cycle.rsplit("/", 1)[1])
        reasons = sample_words.narratives(period, self.story)
        short_of_target = sample_words.words(sample_words.SHORT_OF_TARGET, period)
        with self.store.read() as s:
            cycle_id = int(s.execute(select(Instance.id).where(Instance.key == cycle)).scalar_one())
            owed = missing_exception_reports(s, cycle_id, self.policies)
        for item in owed:
            code, project = item.removeprefix("project "), item.startswith("project ")
            measure = next((m for m in measures if m.code == code), None)
            performance.add_exception_report(
                cycle,
                code,
                project=project,
                reason="Supplier failure" if project else reasons.get(code) or short_of_target,
                remedial_action="Recovery plan agreed with the portfolio holder",
                owner=sample.OWNERS[measure.service] if measure and measure.service else "priya",
                recovery_date=recovery.isoformat(),
                by="priya",
            )
            self.say("priya", "exception report", item)


def run_demo(
    db_file: Path,
    catalog: Catalog,
    policies: FrameworkPolicies,
    echo: Callable[[str], None],
    *,
    now: datetime,
    database_url: str | None = None,
) -> bool:
    """Build the example council afresh in ``db_file`` (any file there is replaced), run up to
    ``now``; True if the audit chain verifies at the end. The new database is written beside
    ``db_file`` and moved into place only when complete. With ``database_url`` (PostgreSQL, say)
    it is built in that database instead, which must hold no organisation (``InvalidInput``);
    the reports are written beside ``db_file`` either way."""
    quarters = DemoQuarters.at(now)
    db_file = db_file.absolute()
    if database_url is not None:
        shown = make_url(database_url).render_as_string(hide_password=True)
        ok = _build(database_url, db_file, catalog, policies, echo, quarters)
        echo(f"explore it: pmf --db {shown} audit trail {ORG}/{quarters.story}")
        return ok
    fd, name = tempfile.mkstemp(prefix=f".{db_file.name}.", suffix=".building", dir=db_file.parent)
    os.close(fd)
    building = Path(name)
    try:
        ok = _build(sqlite_url(building), db_file, catalog, policies, echo, quarters)
        for suffix in ("-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        building.replace(db_file)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
    echo(f"explore it: pmf --db {sqlite_url(db_file)} audit trail {ORG}/{quarters.story}")
    return ok


def prepare_demo(
    db_file: Path,
    catalog: Catalog,
    policies: FrameworkPolicies,
    echo: Callable[[str], None],
    *,
    now: datetime,
    reset: bool,
) -> Prepared:
    """The demo database for ``pmf serve --demo``: the one at ``db_file`` kept as it is, or
    built afresh (``run_demo``) when there is none or ``reset`` asks. ``InvalidInput`` when the
    file there holds no demo council (nothing is changed: ``--reset`` replaces it)."""
    if db_file.exists() and not reset:
        store = Store(sqlite_url(db_file))
        try:
            with store.read() as s:
                held = s.scalar(select(Organisation.id).where(Organisation.code == ORG)) is not None
                cycle = s.scalar(
                    select(Instance.key)
                    .where(Instance.parent_id.is_(None))
                    .order_by(Instance.id.desc())
                    .limit(1)
                )
        finally:
            store.dispose()
        if not held:
            raise InvalidInput(
                "--demo", str(db_file), f"holds no demo council {ORG}: pass --reset to build it afresh"
            )
        log.info("demo.kept", db_file=str(db_file))
        return Prepared(db_file, False, cycle)
    run_demo(db_file, catalog, policies, echo, now=now)
    log.info("demo.built", db_file=str(db_file), reset=reset)
    return Prepared(db_file, True, f"{ORG}/{DemoQuarters.at(now).open}")


def _build(
    url: str,
    final: Path,
    catalog: Catalog,
    policies: FrameworkPolicies,
    echo: Callable[[str], None],
    quarters: DemoQuarters,
) -> bool:
    story, opened = quarters.story, quarters.open
    workdays = WorkingDays("ENG")  # the council's nation (``add_organisation``'s default)
    store = Store(url, rehearsal=True)  # the demo acts at times before now
    shown = final if url.startswith("sqlite") else make_url(url).render_as_string(hide_password=True)
    with store.read() as s:
        held = s.scalar(select(Organisation.code).limit(1)) is not None
    if held:
        store.dispose()
        raise InvalidInput("--db", shown, "holds organisations already: the demo needs an empty one")
    run = _Run(store, catalog, policies, demo_year_end.start(quarters, workdays), echo, story)
    engine, framework = run.engine, run.framework
    echo(
        f"pmf demo: Wexcombe District Council on {london(quarters.now):%a %d %b %Y}: quarter {story} "
        f"run end to end, {opened} open at the stage it has reached, database {shown}"
    )
    engine.directory.add_organisation(ORG, "Wexcombe District Council", by="adam")
    for code, name in SERVICES.items():
        engine.directory.add_service(ORG, code, name, by="adam")
    for username, name, roles in PEOPLE:
        engine.directory.add_actor(username, name, email=f"{username}@wexcombe.example", by="adam")
        for role, service in roles:
            engine.directory.grant(username, role, ORG, service=service, by="adam")
    accounts = Accounts(store, run.clock)
    for username, _name, _roles in PEOPLE:
        accounts.set_password(username, DEMO_PASSWORD, by="adam")
    echo(f"seeded {len(SERVICES)} services and {len(PEOPLE)} people, one or more per role")

    meetings = demo_meetings(quarters, workdays)
    for body, when in meetings:
        framework.calendar.add(ORG, body, when, by="adam")
    echo(f"committee calendar: {', '.join(f'{b} {w:%d %b %Y}' for b, w in meetings)}")

    first = story
    for _ in range(sample.HISTORY):
        first = first.previous()
    echo(demo_year_end.library_and_year_end(run, quarters, workdays, first))
    demo_plans.write_plans(framework, demo_plans.plan_year(opened), run.say)
    action_close = _story(run, story, workdays)
    _open_quarter(run, opened, workdays, quarters.now, action_close)

    demo_library.target_story(run.framework, ORG, quarters.following, run.say)

    built = report.gather(framework, f"{ORG}/{story}")
    report_file = final.with_name(final.stem + "-report.html")
    report_file.write_text(report.html(built), encoding="utf-8")
    echo(f"committee report: {report_file} (figures frozen at sign-off; pmf report --format pdf|xlsx too)")
    echo(demo_year_end.write_annual(framework, quarters, workdays, final))
    for key in (f"{ORG}/{story}", f"{ORG}/{opened}"):
        status = engine.status(key)
        echo(f"cycle {key} is {status.state_label}, version {status.version}")
    with store.read() as s:
        verification = audit.verify(s)
        refused = sum(1 for e in audit.trail(s, f"{ORG}/{story}") if e.event == "refused")
        fired = sum(1 for e in audit.trail(s, f"{ORG}/{story}") if e.event.endswith(".fired"))
    store.dispose()
    echo(
        f"audit: {verification.entries} entries, {refused} refused attempts, "
        f"{fired} reminders and escalations recorded"
    )
    if verification.ok:
        echo(f"pmf audit verify: audit log verified: {verification.summary()}")
    else:
        echo(f"pmf audit verify: BROKEN {verification.first_break}")
    return verification.ok


def _story(run: _Run, period: Period, workdays: WorkingDays) -> tuple[datetime, str]:
    """The story quarter, end to end: every way back the workflow has. Returns when its Scrutiny
    action is closed (on the morning it is due) and the action's key, for the open quarter's run."""
    cycle = f"{ORG}/{period}"
    performance, framework = run.framework.performance, run.framework

    def at(day: int, hour: int = 10, minute: int = 0) -> None:
        run.until(on(period, workdays, day, hour, minute))

    def step(who: str, trigger: str, **kwargs: Any) -> None:
        run.step(cycle, who, trigger, **kwargs)

    echo = run.echo
    echo(f"Quarter {period}: the data request")
    run.clock.set(on(period, workdays, 0, 9))
    run.start(period)
    at(4)
    figures = sample.current_figures(period)
    for svc in sample.OWNERS:
        if svc != "REVENUES":  # its benefits system is being migrated: the return is waived below
            run.report_figures(cycle, svc, figures)
    run.review_risks(cycle, sample.RISK_REVIEWS["story"])
    for who, svc in [("hannah", "HOUSING"), ("pete", "PLANNING"), ("wendy", "WASTE"), ("leo", "LEISURE"),
                     ("cara", "COMMUNITIES")]:  # fmt: skip
        step(who, "submit", service=svc)
    at(4, 15)
    run.sign_off(cycle, "hannah", "HOUSING")  # refused: she submitted it (quality.signing.by_another)
    run.sign_off(cycle, "omar", "HOUSING")
    at(5, 9)
    run.sign_off(cycle, "mark", "LEISURE")
    run.sign_off(cycle, "gita", "COMMUNITIES")
    at(5)
    step("priya", "return_for_correction", service="PLANNING",
         reason="Q1 figure leaves out householder applications".replace("Q1", period.tag))  # fmt: skip
    step("hannah", "accept", service="HOUSING")
    step("priya", "close_data_request")
    at(7)
    step("pete", "submit", service="PLANNING")
    run.sign_off(cycle, "gita", "PLANNING")
    run.sign_off(cycle, "mark", "WASTE")  # three working days after submission: late
    for svc in ("HOUSING", "PLANNING", "WASTE", "LEISURE", "COMMUNITIES"):
        step("priya", "accept", service=svc)
    at(12, 11)
    step("priya", "waive", service="REVENUES",
         reason=f"Benefits system migration: {period.tag} data not available")  # fmt: skip
    step("priya", "close_data_request")

    echo("Review and approval")
    at(13)
    run.headlines(cycle, sample.HEADLINES)
    step("priya", "complete_service_review")
    at(16)
    step("colin", "return_to_services", reason="Housing narrative does not explain the rise in voids",
         data={"services": ["HOUSING"]})  # fmt: skip
    at(17)
    # CMT reopened Housing's accepted return: the service corrects its figure and explains it.
    voids = sample_words.words("Voids backlog after the heating programme of {m1} and {m2}: 41 homes "
                               "held for works, now cleared.", period)  # fmt: skip
    performance.record_actuals(cycle, [ActualIn("HOU-01", 32.5, voids, quality="validated")], by="hannah")
    run.say("hannah", "corrects a figure", "HOU-01: 33.5 -> 32.5")
    step("priya", "complete_service_review")
    step("hannah", "submit", service="HOUSING")
    run.sign_off(cycle, "omar", "HOUSING")  # the resubmitted return is signed off again
    step("priya", "accept", service="HOUSING")
    at(18)
    step("priya", "complete_service_review")
    at(21, 12)
    step("cllr.patel", "endorse")
    at(25, 11)
    step("lena", "sign_off")
    counts = Counter(m.rag.status for m in performance.status(cycle))
    echo(
        f"  {'':<22} {'RAG':<11} {counts['green']} green, {counts['amber']} amber, {counts['red']} red, "
        f"{counts['missing']} missing (Revenues waived)"
    )
    run.exception_reports(cycle, period.next().next().end)
    at(25, 12)
    step("lena", "sign_off")
    digest = report.verify_frozen(performance, cycle)
    echo(f"  {'':<22} {'report':<11} frozen at sign-off: sha256 {digest[:16]}…")
    at(32, 18)
    step("lena", "approve", data={"minute_reference": f"CAB/{on(period, workdays, 32, 18):%Y}/51"})
    second_cabinet = on(period, workdays, 46, 18)
    step("carol", "defer", reason="Agenda overran", data={"next_meeting": second_cabinet.date().isoformat()})
    at(46, 19)
    step("carol", "approve", data={"minute_reference": f"CAB/{second_cabinet:%Y}/57"})
    at(54, 19)
    due = workdays.add(on(period, workdays, 54, 19).date(), ACTION_WORKING_DAYS)
    action = framework.actions.add(
        cycle, "Report on the voids recovery plan", assignee="hannah", due=due.isoformat(), by="scott",
        link="HOU-01",
    )  # fmt: skip
    run.say("scott", "scrutiny action", f"{action.key} -> {action.assignee}, due {due:%d %b %Y}")
    step("scott", "conclude", reason="Noted; action on Housing voids raised")
    return datetime.combine(due, time(10), tzinfo=LONDON), action.key


def _open_quarter(
    run: _Run, period: Period, workdays: WorkingDays, now: datetime, action: tuple[datetime, str]
) -> None:
    """The open quarter as a quiet one goes, each step in time, run only as far as ``now``.

    Every step comes before the deadline of the state it leaves, so whichever step is next
    when ``now`` comes, the cycle stands where its deadline is still ahead."""
    cycle = f"{ORG}/{period}"
    framework = run.framework
    figures = sample.later_figures(period, run.story)
    events: list[tuple[datetime, Callable[[], None]]] = []

    def plan(day: int, hour: int, thing: Callable[[], None], minute: int = 0) -> None:
        events.append((on(period, workdays, day, hour, minute), thing))

    def step(who: str, trigger: str, **kwargs: Any) -> Callable[[], None]:
        return lambda: run.step(cycle, who, trigger, **kwargs)

    def report(svc: str) -> Callable[[], None]:
        def submit() -> None:
            run.report_figures(cycle, svc, figures)
            run.step(cycle, sample.OWNERS[svc], "submit", service=svc)

        return submit

    def count_again(svc: str, code: str) -> Callable[[], None]:  # as the return sent back asked
        value, said = next((v, n) for c, v, n in figures[svc] if c == code)
        again = ActualIn(code, round(value - 2.4, 1), f"{said} Recounted: decided applications only.")
        return lambda: framework.performance.record_actuals(cycle, [again], by=sample.OWNERS[svc])

    def close_action() -> None:
        closed = framework.actions.close(action[1], note="Recovery plan reported to Scrutiny", by="scott")
        run.say("scott", "close action", closed.key)

    events.append((action[0], close_action))
    plan(2, 9, lambda: run.review_risks(cycle, sample.RISK_REVIEWS["later"]))
    plan(10, 10, lambda: run.headlines(cycle, sample.headlines(sample.LATER_HEADLINES, figures)))

    def sign(who: str, svc: str) -> Callable[[], None]:
        return lambda: run.sign_off(cycle, who, svc)

    heads = {"HOUSING": "omar", "WASTE": "mark", "LEISURE": "mark"}
    for svc in ("HOUSING", "WASTE", "LEISURE"):
        plan(2, 10, report(svc))
        plan(3, 9, sign(heads[svc], svc))
        plan(3, 11, step("priya", "accept", service=svc))
    for svc in ("PLANNING", "COMMUNITIES"):
        plan(3, 10, report(svc))
    plan(4, 9, sign("gita", "PLANNING"))
    plan(4, 11, step("priya", "accept", service="PLANNING"))
    recount = "The licensing figure counts applications still open; count those decided"
    plan(4, 11, step("priya", "return_for_correction", service="COMMUNITIES", reason=recount))
    plan(5, 10, report("REVENUES"))
    plan(5, 13, count_again("COMMUNITIES", "COM-05"))
    plan(5, 14, step("cara", "submit", service="COMMUNITIES"))
    plan(6, 9, sign("gita", "COMMUNITIES"))
    plan(6, 10, sign("ruth", "REVENUES"))
    plan(6, 11, step("priya", "accept", service="REVENUES"))
    plan(6, 11, step("priya", "accept", service="COMMUNITIES"))
    plan(7, 11, step("priya", "close_data_request"))
    plan(10, 11, step("priya", "complete_service_review"))
    plan(14, 12, step("colin", "endorse"))
    plan(18, 14, lambda: run.exception_reports(cycle, period.next().next().end))
    plan(19, 11, step("lena", "sign_off"))
    cabinet = on(period, workdays, 30, 18)
    minute = {"minute_reference": f"CAB/{cabinet:%Y}/{cabinet:%m}"}
    plan(*demo_year_end.APPROVED, step("carol", "approve", data=minute))

    started = min(on(period, workdays, 0, 9), now)
    run.until(started)
    run.echo(
        f"Quarter {period}: the quarter that ended most recently, run up to {london(now):%a %d %b %Y %H:%M}"
    )
    run.start(period)
    for when, thing in sorted(events, key=lambda event: event[0]):
        if when > now:
            break
        run.until(when)
        thing()
    run.until(now)
    run.tick()
