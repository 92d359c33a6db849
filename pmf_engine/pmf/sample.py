"""Sample data for the demo: Wexcombe District Council's Council Plan measures (40 across six
services and three themes), eight quarters of history, the figures of the quarters the demo runs
(some amber, some red) and four delivery projects. Deterministic: the same figures for the same
quarters every run; every date is placed relative to the quarters the demo is built around.

The data is written as the CSV files a performance team would import, and imported through the
same code paths (``measures import``, ``actuals import-history``, ``projects import``).
"""

from __future__ import annotations

import calendar
import csv
import io
import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from pmf_engine.core.period import Period
from pmf_engine.pmf import sample_quality, sample_words

THEMES = ("Homes and communities", "Thriving economy", "Greener Wexcombe")
SERVICES = {
    "HOUSING": "Housing",
    "PLANNING": "Planning and Building Control",
    "WASTE": "Waste and Recycling",
    "LEISURE": "Leisure and Culture",
    "REVENUES": "Revenues and Benefits",
    "COMMUNITIES": "Communities and Wellbeing",
}
OWNERS = {
    "HOUSING": "hannah",
    "PLANNING": "pete",
    "WASTE": "wendy",
    "LEISURE": "leo",
    "REVENUES": "rita",
    "COMMUNITIES": "cara",
}


@dataclass(frozen=True)
class SampleMeasure:
    """A measure of the sample council, with its target and this quarter's figure."""

    code: str
    title: str
    theme: int
    service: str
    fmt: str
    polarity: str
    target: float
    now: float
    """This quarter's figure: chosen so that some measures are amber and some red."""
    aggregation: str = "mean"

    @property
    def unit(self) -> str:
        """The unit its format is shown in."""
        return {"percent": "%", "days": "days", "currency": "£"}.get(self.fmt, "")


M = SampleMeasure
MEASURES = [
    M("HOU-01", "Average days to re-let council homes", 0, "HOUSING", "days", "lower", 28, 33.5),
    M("HOU-02", "Households in temporary accommodation", 0, "HOUSING", "count", "lower", 60, 61, "latest"),
    M("HOU-03", "Homelessness cases prevented", 0, "HOUSING", "count", "higher", 240, 61, "sum"),
    M("HOU-04", "Rent collected (% of rent due)", 0, "HOUSING", "percent", "higher", 98, 97.6),
    M("HOU-05", "Repairs completed within target time", 0, "HOUSING", "percent", "higher", 92, 93.1),
    M("HOU-06", "Affordable homes delivered", 0, "HOUSING", "count", "higher", 120, 23, "sum"),
    M("HOU-07", "Disabled facilities grants completed", 0, "HOUSING", "count", "higher", 80, 21, "sum"),
    M("PLA-01", "Major applications decided in 13 weeks", 1, "PLANNING", "percent", "higher", 65, 71),
    M("PLA-02", "Minor applications decided in 8 weeks", 1, "PLANNING", "percent", "higher", 70, 68.2),
    M("PLA-03", "Other applications decided in 8 weeks", 1, "PLANNING", "percent", "higher", 80, 84),
    M("PLA-04", "Appeals allowed against refusals", 1, "PLANNING", "percent", "lower", 30, 27),
    M(
        "PLA-05",
        "Building control applications checked in 15 days",
        1,
        "PLANNING",
        "percent",
        "higher",
        85,
        86,
    ),
    M("PLA-06", "Planning enforcement cases closed", 1, "PLANNING", "count", "higher", 200, 44, "sum"),
    M("PLA-07", "Land charges searches returned in 10 days", 1, "PLANNING", "percent", "higher", 95, 99),
    M("WAS-01", "Household waste recycled", 2, "WASTE", "percent", "higher", 52, 41.5),
    M("WAS-02", "Residual waste per household (kg)", 2, "WASTE", "number", "lower", 110, 112),
    M("WAS-03", "Missed bins per 100,000 collections", 2, "WASTE", "number", "lower", 45, 58),
    M("WAS-04", "Fly-tipping incidents removed in 2 working days", 2, "WASTE", "percent", "higher", 90, 92),
    M("WAS-05", "Streets at an acceptable standard of cleanliness", 2, "WASTE", "percent", "higher", 94, 95),
    M("WAS-06", "Garden waste subscriptions", 2, "WASTE", "count", "higher", 21000, 20650, "latest"),
    M("WAS-07", "Council fleet emissions (tonnes CO2e)", 2, "WASTE", "number", "lower", 1800, 365, "sum"),
    M("LEI-01", "Leisure centre visits", 0, "LEISURE", "count", "higher", 900000, 231000, "sum"),
    M("LEI-02", "Museum and theatre visitors", 1, "LEISURE", "count", "higher", 150000, 33000, "sum"),
    M("LEI-03", "Parks with a Green Flag award", 2, "LEISURE", "count", "higher", 6, 6, "latest"),
    M(
        "LEI-04",
        "Active lifestyle programme participants",
        0,
        "LEISURE",
        "count",
        "higher",
        4000,
        1010,
        "sum",
    ),
    M("LEI-05", "Leisure customer satisfaction", 0, "LEISURE", "percent", "higher", 85, 86),
    M("LEI-06", "Trees planted", 2, "LEISURE", "count", "higher", 5000, 980, "sum"),
    M("REV-01", "Council tax collected (in-year)", 1, "REVENUES", "percent", "higher", 97.5, 97.2),
    M("REV-02", "Business rates collected (in-year)", 1, "REVENUES", "percent", "higher", 98, 98.4),
    M("REV-03", "Days to process new benefit claims", 0, "REVENUES", "days", "lower", 18, 23),
    M("REV-04", "Days to process benefit changes", 0, "REVENUES", "days", "lower", 8, 7.2),
    M("REV-05", "Invoices paid within 30 days", 1, "REVENUES", "percent", "higher", 95, 96),
    M("REV-06", "Calls answered within 60 seconds", 0, "REVENUES", "percent", "higher", 80, 78.5),
    M("COM-01", "Community grants awarded (£)", 0, "COMMUNITIES", "currency", "higher", 250000, 70000, "sum"),
    M("COM-02", "Volunteers supported", 0, "COMMUNITIES", "count", "higher", 1200, 290, "sum"),
    M("COM-03", "Anti-social behaviour cases resolved", 0, "COMMUNITIES", "percent", "higher", 75, 77),
    M("COM-04", "Food businesses rated 4 or 5", 1, "COMMUNITIES", "percent", "higher", 90, 91),
    M("COM-05", "Licensing applications decided in time", 1, "COMMUNITIES", "percent", "higher", 95, 88),
    M(
        "COM-06",
        "Complaints answered within 10 working days",
        0,
        "COMMUNITIES",
        "percent",
        "higher",
        90,
        86.5,
    ),
    M("COM-07", "Residents who feel safe after dark", 0, "COMMUNITIES", "percent", "higher", 70, 71),
]
HISTORY = 8
PROFILE = "20/25/25/30"  # counts build up through the year
STORY = Period(2024, 1)
"""The quarter the sample's dates (projects' milestones) were written for; they move with the demo."""


UNPUBLISHED = {"WAS-06"}
"""Measures whose figures are not for publication (garden waste subscriptions: commercially
sensitive): kept off the public open-data feed and page."""


def measures_csv(first_year: int, last_year: int, reached: int) -> str:
    """The measures library: an annual target for each financial year from ``first_year`` to
    ``last_year`` (start years), spread by a profile, rising 3% a year to the sample's target in
    ``reached`` and kept there."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    years = list(range(first_year, last_year + 1))
    writer.writerow(
        ["code", "title", "theme", "priority", "service", "owner", "unit", "format", "polarity",
         "frequency", "data_source", "assurance", "aggregation", "profile", "comparator_metric", "publish",
         "definition", "guidance", "numerator", "denominator", "data_owner",
         *(f"annual target {y}-{(y + 1) % 100:02d}" for y in years)]
    )  # fmt: skip
    for m in MEASURES:
        behind = [max(reached - y, 0) for y in years]
        annual = (
            [m.target * (1 - 0.03 * b) for b in behind]
            if m.polarity == "higher"
            else [m.target * (1 + 0.03 * b) for b in behind]
        )
        writer.writerow(
            [m.code, m.title, THEMES[m.theme], SERVICES[m.service], m.service, OWNERS[m.service], m.unit,
             m.fmt, m.polarity, "quarterly", f"{SERVICES[m.service]} system",
             "Audited" if m.code.endswith("1") else "Unaudited", m.aggregation,
             PROFILE if m.aggregation == "sum" else "", COMPARATOR_METRICS.get(m.code, ""),
             "no" if m.code in UNPUBLISHED else "yes",
             *sample_quality.DATA.get(m.code, ("",) * 5),
             *(_round(a, m.fmt) for a in annual)]
        )  # fmt: skip
    return out.getvalue()


GSS_CODE = "E07000999"
"""Wexcombe's area code: shaped like a district's GSS code (E07), but no real area's."""
COMPARATOR_METRICS = {"HOU-01": "8547", "WAS-01": "2142", "WAS-02": "45", "REV-01": "4107"}
"""The measures compared with similar councils, with the LG Inform metric of each (placeholders:
a council looks its own up in LG Inform's metric list)."""
NEIGHBOURS = (
    ("E07000032", "Amber Valley"), ("E07000034", "Chesterfield"), ("E07000035", "Derbyshire Dales"),
    ("E07000036", "Erewash"), ("E07000037", "High Peak"), ("E07000038", "North East Derbyshire"),
    ("E07000039", "South Derbyshire"), ("E07000170", "Ashfield"), ("E07000171", "Bassetlaw"),
    ("E07000172", "Broxtowe"), ("E07000173", "Gedling"), ("E07000174", "Mansfield"),
    ("E07000175", "Newark and Sherwood"), ("E07000176", "Rushcliffe"), ("E07000033", "Bolsover"),
)  # fmt: skip
"""Wexcombe's CIPFA nearest neighbours in the demo: real districts, with made-up figures."""


def comparators_csv(story: Period) -> str:
    """An LG Inform export of the last financial year before ``story``'s for the measures of
    ``COMPARATOR_METRICS``: Wexcombe, with its own outturn of that year (``outturn``), and its
    fifteen nearest neighbours, figures spread around each measure's target of that year
    (deterministic), published as ``story`` began."""
    rng = random.Random(16)  # noqa: S311 - sample figures, not secrets
    year = story.start_year - 1
    period = f"{year}/{(year + 1) % 100:02d}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["Area code", "Area", "Metric id", "Period", "Value", "Published date", "comparison_group"]
    writer.writerow(header)
    for m in MEASURES:
        metric = COMPARATOR_METRICS.get(m.code)
        if metric is None:
            continue
        areas = [(GSS_CODE, "Wexcombe", outturn(story, m.code, year))]
        spread = 0.025 if m.fmt == "percent" and m.target > 90 else 0.15  # collection rates sit close
        target = m.target * (0.97 if m.polarity == "higher" else 1.03)  # that year's (``measures_csv``)
        areas += [(gss, name, target * rng.uniform(1 - spread, 1 + spread)) for gss, name in NEIGHBOURS]
        for gss, name, value in areas:
            shown = min(value, 100.0) if m.fmt == "percent" else value
            text = f"{shown:.2f}" if gss == GSS_CODE else _round(shown, m.fmt)  # as its annual report has it
            writer.writerow([gss, name, metric, period, text, story.start.isoformat(),
                             "cipfa_nearest_neighbours"])  # fmt: skip
    return out.getvalue()


def history_rows(before: Period) -> list[tuple[str, str, str, str]]:
    """The eight quarters before ``before``, drifting towards its figure (a count of the year
    built up by ``PROFILE``): (code, period, value, narrative) rows, the same every time for the
    same ``before``."""
    rng = random.Random(2024)  # noqa: S311 - sample figures, not secrets
    rows = []
    quarters = [before]
    for _ in range(HISTORY):
        quarters.insert(0, quarters[0].previous())
    weights = [float(w) / 100 for w in PROFILE.split("/")]
    for m in MEASURES:
        for i, quarter in enumerate(quarters[:-1]):
            quarterly = m.target * weights[quarter.quarter - 1] if m.aggregation == "sum" else m.target
            drift = (HISTORY - i) / HISTORY * 0.08
            worse = -1 if m.polarity == "higher" else 1
            value = quarterly * (1 + worse * drift + rng.uniform(-0.04, 0.04))
            slipping = i - (HISTORY - 4)  # the last four quarters: the story's problems began there
            if m.code in YEAR_END_COMMENTS and slipping >= 0:
                value += (m.now - value) * (slipping + 1) / 4
            if m.fmt == "percent":
                value = min(value, 100.0)
            said = YEAR_END_COMMENTS.get(m.code, "") if slipping >= 0 and quarter.quarter == 4 else ""
            rows.append((m.code, str(quarter), _round(value, m.fmt), said))
    return rows


def history_csv(before: Period, periods: Collection[Period] | None = None) -> str:
    """The eight quarters before ``before`` (``history_rows``) as the CSV ``actuals
    import-history`` reads; only those of ``periods`` if given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "period", "value", "narrative"])
    wanted = None if periods is None else {str(p) for p in periods}
    writer.writerows(row for row in history_rows(before) if wanted is None or row[1] in wanted)
    return out.getvalue()


def quarter_figures(before: Period, period: Period) -> dict[str, list[tuple[str, float, str]]]:
    """One of the quarters before ``before`` as a service reports it in its cycle instead of
    its being imported (``history_rows``' figures), by service; a narrative for every measure,
    in the quarter's words (``sample_words.narratives``)."""
    service = {m.code: m.service for m in MEASURES}
    said_then = sample_words.narratives(period, before)
    figures: dict[str, list[tuple[str, float, str]]] = {}
    for code, quarter, value, said in history_rows(before):
        if quarter == str(period):
            narrative = said or said_then.get(code) or ROUTINE_NARRATIVE
            figures.setdefault(service[code], []).append((code, float(value), narrative))
    return figures


def outturn(before: Period, code: str, year: int) -> float:
    """Measure ``code``'s outturn of the financial year starting in ``year`` from the quarters
    before ``before`` (``history_rows``), as the annual report reaches it: the sum of the four
    quarters, the Q4 figure, or their mean to the hundredth."""
    measure = next(m for m in MEASURES if m.code == code)
    quarters = [str(Period(year, q)) for q in (1, 2, 3, 4)]
    found = {quarter: float(value) for c, quarter, value, _ in history_rows(before) if c == code}
    values = [found[q] for q in quarters]
    if measure.aggregation == "sum":
        return sum(values)
    if measure.aggregation == "latest":
        return values[-1]
    return round(sum(values) / len(values), 2)


def current_figures(story: Period) -> dict[str, list[tuple[str, float, str]]]:
    """The ``story`` quarter's figures by service, with a narrative where one is needed."""
    said = sample_words.narratives(story, story)
    figures: dict[str, list[tuple[str, float, str]]] = {}
    for m in MEASURES:
        figures.setdefault(m.service, []).append((m.code, m.now, said.get(m.code, ROUTINE_NARRATIVE)))
    return figures


def later_figures(period: Period, story: Period) -> dict[str, list[tuple[str, float, str]]]:
    """A quarter's after the ``story``'s figures by service: the story's, each moved a little
    (the same for the same quarter), with the later narratives where one is still needed."""
    said = sample_words.narratives(period, story)
    rng = random.Random(str(period))  # noqa: S311 - sample figures, not secrets
    figures: dict[str, list[tuple[str, float, str]]] = {}
    for m in MEASURES:
        value = m.now * (1 + rng.uniform(-0.03, 0.03))
        if m.fmt == "percent":
            value = min(value, 100.0)
        figures.setdefault(m.service, []).append(
            (m.code, float(_round(value, m.fmt)), said.get(m.code, ROUTINE_NARRATIVE))
        )
    return figures


ROUTINE_NARRATIVE = "Checked by the service manager; no change in how the service is delivered."
"""A later quarter's commentary on a measure the story says nothing of: a return is submitted
only with a narrative for each red measure (``return_complete``), and a moved figure may be red."""


def shift_months(day: date, months: int) -> date:
    """``day`` moved by whole ``months`` (the 31st becomes the month's last day where it has none)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def projects_csv(story: Period, known_on: date | None = None) -> str:
    """The four projects, their milestones moved from ``STORY`` to ``story`` by whole quarters;
    as the file stood on ``known_on`` if given (no milestone completed after it)."""
    months = 3 * ((story.start_year - STORY.start_year) * 4 + story.quarter - STORY.quarter)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(PROJECTS)):
        if row[0] != "project":
            for column in (7, 8):
                if row[column]:
                    row[column] = shift_months(date.fromisoformat(row[column]), months).isoformat()
            if known_on is not None and row[8] and date.fromisoformat(row[8]) > known_on:
                row[8] = ""
        writer.writerow(row)
    return out.getvalue()


YEAR_END_COMMENTS = {
    "HOU-01": "Director: the voids contractor's performance fell through the year; the new term "
    "contract from April has re-let targets with penalties.",
    "WAS-01": "Director: recycling fell after the dry recycling contractor lost two rounds; the food "
    "waste service will add four points in its first full year.",
    "WAS-03": "Director: missed bins rose with the new rounds; crews now report missed streets the "
    "same day and are sent back before 5pm.",
    "REV-03": "Director: new claims slowed with vacancies in the assessment team; two assessors are "
    "recruited and the online form now checks evidence before it is sent.",
    "COM-05": "Director: licensing decisions were late while the system was replaced; the backlog "
    "was cleared in March.",
}
"""What the director said at the year's end of the measures whose problems began before the
story quarter: the narrative of each Q4 among the last four quarters of history."""

PROJECTS = "".join(
    line + "\n"
    for line in (
        "project,title,theme,priority,service,owner,milestone,due,completed,measures,key",
        "P-01,Wexcombe leisure centre rebuild,Homes and communities,Regeneration,LEISURE,leo,"
        "Planning consent,2024-05-31,2024-05-20,LEI-01;LEI-04,no",
        "P-01,,,,,,Contractor appointed,2024-06-28,2024-06-25,,",
        "P-01,,,,,,Doors open,2026-03-31,,,",
        "P-02,Weekly food waste collections,Greener Wexcombe,Recycling,WASTE,wendy,"
        "Caddies procured,2024-06-14,,WAS-01;WAS-02,yes",
        "P-02,,,,,,First collections,2024-10-01,,,",
        "P-03,Town centre regeneration masterplan,Thriving economy,Growth,PLANNING,pete,"
        "Consultation closed,2024-06-30,2024-06-30,PLA-01,yes",
        "P-03,,,,,,Masterplan adopted,2024-12-31,,,",
        "P-04,200 council homes by 2027,Homes and communities,Housing supply,HOUSING,hannah,"
        "Site A on site,2024-06-30,2024-06-03,HOU-06;HOU-02,yes",
        "P-04,,,,,,Site B contract signed,2024-11-30,,,",
    )
)
PROJECT_UPDATES = [
    ("P-01", "LEISURE", "leo", "on_track", ""),
    ("P-02", "WASTE", "wendy", "off_track", "Caddy supplier went into administration; re-procuring."),
    ("P-03", "PLANNING", "pete", "on_track", ""),
    ("P-04", "HOUSING", "hannah", "at_risk", "Site B land purchase delayed by a title dispute."),
]


def _round(value: float, fmt: str) -> str:
    if fmt in ("percent", "days"):
        return f"{value:.1f}"
    return f"{round(value):d}"


RISKS = "".join(
    line + "\n"
    for line in (
        "risk,title,register,service,owner,cause,effect,inherent_likelihood,inherent_impact,"
        "residual_likelihood,residual_impact,controls,actions,measures,projects",
        "R-01,Temporary accommodation demand and cost,operational,HOUSING,hannah,Rising evictions from the "
        "private rented sector,Nightly-paid placements overspend the housing budget,5,4,3,4,Weekly placement "
        "panel; prevention fund,Lease 40 homes from private landlords,HOU-02;HOU-03,P-04",
        "R-02,Cyber attack disrupts council systems,corporate,,lena,Ransomware and phishing aimed at "
        "councils,Services offline for weeks; data lost,4,5,4,5,Multi-factor sign-in; offline backups,"
        "Penetration test and incident rehearsal,,",
        "R-03,Recycling collection contractor fails,operational,WASTE,wendy,Contractor's finances and "
        "industrial relations,Missed collections; recycling falls,4,4,2,4,Performance bond; weekly contract "
        "meetings,Contingency fleet agreement,WAS-01;WAS-03,P-02",
        "R-04,Leisure centre rebuild costs rise,operational,LEISURE,leo,Construction inflation,"
        "Scheme cut back or delayed,4,4,3,3,Fixed-price contract with a capped contingency,"
        "Value engineering review,LEI-01,P-01",
        "R-05,Benefits system migration delays claims,operational,REVENUES,rita,Supplier's data migration,"
        "Claimants wait longer; hardship,4,3,3,3,Parallel running; overtime,Extra assessors,REV-03,",
        "R-06,Planning officers hard to recruit and keep,operational,PLANNING,pete,Private sector pay,"
        "Decisions out of time; fee income lost,4,3,3,3,Market supplements; apprentices,"
        "Shared service with a neighbour,PLA-02,",
        "R-07,Medium-term financial plan gap,corporate,,lena,Inflation and grant settlement,"
        "Cuts to services,5,5,4,4,Savings programme tracked monthly,Budget consultation,,",
        "R-08,Council homes programme land delays,operational,HOUSING,hannah,Title disputes; planning,"
        "Homes delivered late; grant clawed back,4,4,3,3,Land assembly board,Legal support on Site B,"
        "HOU-06,P-04",
        "R-09,Safeguarding failure in community services,operational,COMMUNITIES,cara,Lone working; "
        "volunteers untrained,Harm to a resident,3,5,2,5,Training and DBS checks,Annual audit of cases,,",
        "R-10,Severe weather disrupts services,corporate,,priya,Flooding and heatwaves,Rounds and "
        "centres closed,3,4,2,3,Business continuity plans,,WAS-03,",
        "R-11,Personal data breach,corporate,,priya,Human error; mis-sent e-mail,ICO fine; loss of trust,"
        "4,4,2,3,Mandatory training; e-mail checks,,,",
        "R-12,Town centre masterplan stalls,operational,PLANNING,pete,Developer interest falls,"
        "Regeneration delayed,3,4,2,3,Developer forum,Bid for levelling-up funding,PLA-01,P-03",
    )
)
"""Wexcombe's risk register: twelve corporate and operational risks, with their links."""

RISK_REVIEWS = {
    "story": [
        ("R-01", 4, 4, "Evictions up a quarter on last year; placements at a record"),
        ("R-02", 4, 5, "Two neighbouring councils hit by ransomware this quarter"),
        ("R-03", 3, 4, "Contractor strike in {m2} and {m3}; rounds lost for five weeks"),
        ("R-04", 3, 3, "Contract fixed; contingency unspent"),
        ("R-05", 4, 3, "Migration slipped a month; claims backlog growing"),
        ("R-06", 3, 3, "Two posts filled, one vacancy"),
        ("R-07", 4, 4, "Gap of £2.1m in 2026-27 after the settlement"),
        ("R-08", 4, 3, "Site B title dispute unresolved"),
        ("R-09", 2, 5, "No incidents; training complete"),
        ("R-10", 2, 3, "Plans tested in an exercise in {m1}"),
        ("R-11", 2, 3, "One near miss, reported and closed"),
        ("R-12", 2, 3, "Developer forum well attended"),
    ],
    "later": [
        ("R-01", 4, 4, "Placements steady at the higher level"),
        ("R-02", 4, 5, "Phishing attempts continue; rehearsal booked"),
        ("R-03", 4, 4, "Contractor's accounts qualified by its auditors; second quarter worse"),
        ("R-04", 3, 3, "On budget"),
        ("R-05", 3, 3, "Backlog clearing with the new assessors"),
        ("R-06", 3, 4, "Senior planner resigned; appeals costs rising"),
        ("R-07", 4, 4, "Savings programme on track"),
        ("R-08", 3, 3, "Title dispute settled"),
        ("R-09", 2, 5, "No incidents"),
        ("R-10", 2, 3, "No change"),
        ("R-11", 2, 3, "No change"),
        ("R-12", 2, 4, "Anchor tenant withdrew"),
    ],
}
"""Each quarter's review of the register: the story quarter's and the later one's (risk,
likelihood, impact, note, its months as ``sample_words`` names them). R-03 rises two quarters
running; R-01 and R-02 stay escalated. The quarters before the story's: ``sample_words``."""

CORPORATE_REVIEWER = "priya"
"""Who reviews the corporate risks (they belong to no service)."""

HEADLINES = {
    "Homes and communities": "Re-let times rose after the heating programme and temporary "
    "accommodation is at a record; the council homes programme is at risk on Site B.",
    "Thriving economy": "Planning decisions are ahead of target and the masterplan consultation "
    "closed on time; benefit claims slowed during the system migration.",
    "Greener Wexcombe": "The contractor strike cut recycling to 41.5% and food waste collections "
    "are off track after the caddy supplier failed.",
}
"""The performance team's headline of each theme, written before sign-off."""

LATER_HEADLINES = {
    "Homes and communities": "Re-let times are {HOU-01} days as the voids backlog is worked through; "
    "temporary accommodation is steady at {HOU-02} households, still above the plan.",
    "Thriving economy": "New benefit claims take {REV-03} days while the new assessors build up; a senior "
    "planner's resignation leaves minor applications at {PLA-02}% decided in time.",
    "Greener Wexcombe": "Recycling is at {WAS-01}%, still well short of target since the strike, and food "
    "waste collections stay off track until the caddies are procured again.",
}
"""The headlines of the quarter after the story's, with that quarter's figures put in."""
YEAR_END_HEADLINES = {
    "Homes and communities": "The year ends with re-lets at {HOU-01} days as the voids contractor's "
    "performance fell; the new term contract from April carries re-let penalties.",
    "Thriving economy": "Benefit claims took {REV-03} days in the fourth quarter with the assessment team "
    "short; licensing caught up once its backlog was cleared in March.",
    "Greener Wexcombe": "Recycling ended the year at {WAS-01}% after the contractor lost two rounds; weekly "
    "food waste collections are planned for the new year.",
}
"""The headlines of the last full year's fourth quarter, with its figures put in."""


def headlines(
    texts: dict[str, str], figures: dict[str, list[tuple[str, float, str]]], period: Period | None = None
) -> dict[str, str]:
    """Each theme's headline of ``texts`` with the quarter's ``figures`` (by service) put in
    where it names a measure (``{WAS-01}``), as the measure's format shows them, and the months
    of ``period`` where it names them (``sample_words.months``)."""
    formats = {m.code: m.fmt for m in MEASURES}
    shown = {code: _round(value, formats[code]) for rows in figures.values() for code, value, _ in rows}
    if period is not None:
        shown |= sample_words.months(period)
    return {theme: text.format_map(shown) for theme, text in texts.items()}
