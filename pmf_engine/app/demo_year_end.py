"""The demo council's published year, beside ``demo``: the quarters of its last full year
before the story run through the workflow like any other quarter, so that the demo holds a
published annual report with every quarter's figures in it.

The annual report of a year is frozen at the Leadership Team's sign-off of its Q4 cycle and
published once Cabinet has approved that cycle; a quarter's figures are public once Cabinet has
approved its cycle (imported history never is: ``open_data.history_published``). When neither
the story quarter nor the open one is a Q4 that has got that far by the time it is now, the
year's Q4 would be history with no cycle, and the annual report only a draft: so its cycle is
run here, before the story, and so are those of the year's quarters before the story's (all
four, or the ones before a story or open quarter that is that year's), each as a quiet quarter
goes (the register reviewed, every return in and signed off, no way back), up to Scrutiny's
conclusion. The quarters before them are imported as history first, then the projects and the
risk register they report on; the rest of the library after them.

A mid-year revision of a target is made in the story quarter too, before its report is frozen:
proposed by the service with its reason and approved by the Leadership Team, through the same
``targets`` code the CLI uses, so the story's report (and the open quarter's) lists the
original and revised targets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

from pmf_engine.app import demo_library
from pmf_engine.app.demo_plans import ORG
from pmf_engine.app.demo_time import DemoQuarters, on
from pmf_engine.core.clock import LONDON, ManualClock, london
from pmf_engine.core.period import Period
from pmf_engine.core.workdays import WorkingDays
from pmf_engine.pmf import report, sample, sample_words
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.targets import financial_year


class _Run(Protocol):
    """What the year end needs of the demo's run (``demo._Run``): the simulated clock and the
    steps it takes in it."""

    framework: Framework
    clock: ManualClock
    echo: Callable[[str], None]

    def until(self, target: datetime) -> None: ...
    def say(self, who: str, what: str, detail: str) -> None: ...

    story: Period

    def start(self, period: Period) -> str: ...
    def step(
        self, cycle: str, who: str, trigger: str, *, service: str | None = None, **kwargs: Any
    ) -> None: ...
    def sign_off(self, cycle: str, who: str, service: str) -> None: ...
    def report_figures(
        self,
        cycle: str,
        service: str,
        figures: dict[str, list[tuple[str, float, str]]],
        projects: list[tuple[str, str, str, str, str]] = ...,
    ) -> None: ...
    def review_risks(self, cycle: str, reviews: list[tuple[str, int, int, str]]) -> None: ...
    def headlines(self, cycle: str, texts: dict[str, str]) -> None: ...
    def exception_reports(self, cycle: str, recovery: date) -> None: ...


MEETINGS = [("cmt", 14, 10), ("leadership", 19, 10), ("cabinet", 30, 18), ("scrutiny", 44, 19)]
"""A quiet quarter's meetings, in working days after its day 0, with the hour they start (the
open quarter's and the quarter after's too)."""
APPROVED = (30, 19)
"""When Cabinet's approval of a quiet quarter is recorded: working day and hour."""
HEADS = {"HOUSING": "omar", "PLANNING": "gita", "WASTE": "mark", "LEISURE": "mark", "REVENUES": "ruth",
         "COMMUNITIES": "gita"}  # fmt: skip
"""Who signs off each service's return (never who submitted it)."""
REVISED = ("REV-03", 21.0, "rita", "lena")
"""The story's mid-year revision: measure, revised target, who proposes it, who approves it."""
REVISION_REASON = (
    "The benefits system migration means every new claim is assessed in both systems until it "
    "completes; 21 days is realistic until then"
)


def cycle_quarter(quarters: DemoQuarters, workdays: WorkingDays) -> Period | None:
    """The Q4 whose cycle the demo runs at its year end: ``None`` when the story quarter is a Q4
    (its cycle is run end to end) or the open quarter is one that Cabinet has approved by now."""
    story, opened = quarters.story, quarters.open
    if story.quarter == 4 or (opened.quarter == 4 and on(opened, workdays, *APPROVED) <= quarters.now):
        return None
    return Period(story.start_year - 1, 4)


def quiet_quarters(quarters: DemoQuarters, workdays: WorkingDays) -> list[Period]:
    """The quarters the demo runs as quiet ones before its story: those of the published year
    (``published_year``) before the story quarter, earliest first."""
    year = int(published_year(quarters, workdays)[:4])
    return [Period(year, q) for q in (1, 2, 3, 4) if Period(year, q) < quarters.story]


def published_year(quarters: DemoQuarters, workdays: WorkingDays) -> str:
    """The financial year whose annual report the demo publishes: the newest whose Q4 cycle
    Cabinet has approved by now."""
    q4 = cycle_quarter(quarters, workdays)
    if q4 is not None:
        return financial_year(q4)
    return financial_year(quarters.story if quarters.story.quarter == 4 else quarters.open)


def meetings(quarters: DemoQuarters, workdays: WorkingDays) -> list[tuple[str, datetime]]:
    """The committee meetings of the quiet quarters' cycles (``quiet_quarters``)."""
    return [
        (body, on(period, workdays, day, hour))
        for period in quiet_quarters(quarters, workdays)
        for body, day, hour in MEETINGS
    ]


def start(quarters: DemoQuarters, workdays: WorkingDays) -> datetime:
    """When the demo's simulated clock starts: as its first quiet quarter ends, or (when it
    runs none) when the story's target is revised."""
    quiet = quiet_quarters(quarters, workdays)
    if quiet:
        return datetime.combine(quiet[0].end, time(9), tzinfo=LONDON)
    return _revised_at(quarters.story, workdays)


def library_and_year_end(run: _Run, quarters: DemoQuarters, workdays: WorkingDays, first: Period) -> str:
    """Import the library, run the quiet quarters' cycles (``quiet_quarters``) after the
    history before them, the projects and the register, and before the rest, revise the story's
    target, and bring the clock to the story quarter's end; the line that says what was loaded."""
    story, opened, framework = quarters.story, quarters.open, run.framework
    quiet = quiet_quarters(quarters, workdays)
    history = [first]
    while history[-1].next() != story:
        history.append(history[-1].next())
    earlier = [p for p in history if quiet and p < quiet[0]]
    imported = demo_library.load_measures(framework, ORG, first, story, opened, earlier)
    demo_library.load_register(framework, ORG, story, london(run.clock.now()).date())
    for period in quiet:
        _quiet_quarter(run, period, story, workdays)
    revise(run, story, workdays)
    run.until(datetime.combine(story.end, time(9), tzinfo=LONDON))
    later = [p for p in history if p not in earlier and p not in quiet]
    return demo_library.load_library(framework, ORG, story, opened, later, earlier=earlier, imported=imported)


def write_annual(framework: Framework, quarters: DemoQuarters, workdays: WorkingDays, final: Path) -> str:
    """Write the published annual report (``published_year``) beside ``final`` as HTML; the line
    that says where, and whether it is frozen."""
    year = published_year(quarters, workdays)
    annual = report.annual_report(framework, ORG, year)
    annual_file = final.with_name(f"{final.stem}-annual-{year}.html")
    annual_file.write_text(report.annual_html(annual), encoding="utf-8")
    frozen = f"frozen: sha256 {annual.frozen.sha256[:16]}…" if annual.frozen else "a draft"
    return (
        f"annual report {year}: {annual_file} ({len(annual.went_well)} went well, {len(annual.reds)} red; "
        f"{frozen}; published at /open/{ORG}/annual/{year}; "
        f"pmf report annual --org {ORG} --year {year} --verify, or --out FILE.pdf [--public])"
    )


def _quiet_quarter(run: _Run, period: Period, story: Period, workdays: WorkingDays) -> None:
    """A quarter before the story, as a quiet one goes, each step before the deadline of the
    state it leaves: the register reviewed and the projects updated with the returns, closed
    after Scrutiny. A Q4's sign-off freezes its year's annual report."""
    cycle = f"{ORG}/{period}"
    figures = sample.quarter_figures(story, period)
    year_end = period.quarter == 4

    def at(day: int, hour: int) -> None:
        run.until(on(period, workdays, day, hour))

    if year_end:
        run.echo(f"Quarter {period}: the last full year's fourth quarter, which closes its annual report")
    else:
        run.echo(f"Quarter {period}: a quiet quarter of the last full year, published with it")
    at(0, 9)
    run.start(period)
    at(2, 9)
    run.review_risks(cycle, sample_words.EARLIER_REVIEWS)
    at(2, 10)
    for service, who in sample.OWNERS.items():
        run.report_figures(cycle, service, figures, sample_words.EARLIER_PROJECTS)
        run.step(cycle, who, "submit", service=service)
    at(3, 9)
    for service, head in HEADS.items():
        run.sign_off(cycle, head, service)
    at(3, 11)
    for service in sample.OWNERS:
        run.step(cycle, "priya", "accept", service=service)
    at(5, 11)
    run.step(cycle, "priya", "close_data_request")
    at(8, 10)
    texts = sample.YEAR_END_HEADLINES if year_end else sample_words.EARLIER_HEADLINES
    run.headlines(cycle, sample.headlines(texts, figures, period))
    run.step(cycle, "priya", "complete_service_review")
    at(14, 12)
    run.step(cycle, "colin", "endorse")
    at(18, 14)
    run.exception_reports(cycle, period.next().next().end)
    at(19, 11)
    run.step(cycle, "lena", "sign_off")  # freezes the quarter's report (and a Q4's, the year's annual report)
    if year_end:
        run.say("lena", "annual report", f"{financial_year(period)} frozen at the Q4 sign-off")
    at(*APPROVED)
    cabinet = on(period, workdays, 30, 18)
    run.step(cycle, "carol", "approve", data={"minute_reference": f"CAB/{cabinet:%Y}/{cabinet:%m}"})
    at(44, 20)
    noted = "the year-end performance and the annual report" if year_end else "the quarter's performance"
    run.step(cycle, "scott", "conclude", reason=f"Noted {noted}")


def _revised_at(story: Period, workdays: WorkingDays) -> datetime:
    """When the story's target revision is proposed: six weeks into the story quarter."""
    when = workdays.next_working_day(story.start + timedelta(weeks=6))
    return datetime.combine(when, time(10), tzinfo=LONDON)


def revise(run: _Run, story: Period, workdays: WorkingDays) -> None:
    """A mid-year revision of the story year's target of ``REVISED``, counting from the story
    quarter (the quarter it is when it is proposed), approved by the Leadership Team two
    working days later, before the story's report is frozen."""
    code, value, by, approver = REVISED
    targets, year = run.framework.targets, financial_year(story)
    when = _revised_at(story, workdays)
    if when < run.clock.now():  # after the year-end cycle: the next working morning
        later = workdays.next_working_day(london(run.clock.now()).date() + timedelta(days=1))
        when = datetime.combine(later, time(10), tzinfo=LONDON)
    run.until(when)
    original = next(m.targets.original for m in targets.of_year(ORG, year) if m.measure == code)
    proposed = targets.revise(ORG, code, year, value, reason=REVISION_REASON, by=by)
    shown = f"{original or 0:g} -> {value:g} from {proposed.effective_from}"
    run.say(by, "target revision", f"{code} {year}: {shown}")
    run.until(datetime.combine(workdays.add(london(run.clock.now()).date(), 2), time(11), tzinfo=LONDON))
    why = "Agreed at Leadership Team until the migration completes"
    targets.agree(ORG, proposed.id, reason=why, by=approver)
    run.say(approver, "target revised", f"{code} {year}: approved by the Leadership Team")
