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
from dataclasses import dataclass
from datetime import date

from pmf_engine.core.period import Period
from pmf_engine.pmf import sample_quality

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


def measures_csv(first_year: int, last_year: int, reached: int) -> str:
    """The measures library: an annual target for each financial year from ``first_year`` to
    ``last_year`` (start years), spread by a profile, rising 3% a year to the sample's target in
    ``reached`` and kept there."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    years = list(range(first_year, last_year + 1))
    writer.writerow(
        ["code", "title", "theme", "priority", "service", "owner", "unit", "format", "polarity",
         "frequency", "data_source", "assurance", "aggregation", "profile",
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
             PROFILE if m.aggregation == "sum" else "", *sample_quality.DATA.get(m.code, ("",) * 5),
             *(_round(a, m.fmt) for a in annual)]
        )  # fmt: skip
    return out.getvalue()


def history_csv(before: Period) -> str:
    """The eight quarters before ``before``, drifting towards its figure."""
    rng = random.Random(2024)  # noqa: S311 - sample figures, not secrets
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "period", "value", "narrative"])
    quarters = [before]
    for _ in range(HISTORY):
        quarters.insert(0, quarters[0].previous())
    for m in MEASURES:
        quarterly = m.target / 4 if m.aggregation == "sum" else m.target
        for i, quarter in enumerate(quarters[:-1]):
            drift = (HISTORY - i) / HISTORY * 0.08
            worse = -1 if m.polarity == "higher" else 1
            value = quarterly * (1 + worse * drift + rng.uniform(-0.04, 0.04))
            if m.fmt == "percent":
                value = min(value, 100.0)
            writer.writerow([m.code, str(quarter), _round(value, m.fmt), ""])
    return out.getvalue()


def current_figures() -> dict[str, list[tuple[str, float, str]]]:
    """The story quarter's figures by service, with a narrative where one is needed."""
    figures: dict[str, list[tuple[str, float, str]]] = {}
    for m in MEASURES:
        figures.setdefault(m.service, []).append((m.code, m.now, NARRATIVES.get(m.code, ROUTINE_NARRATIVE)))
    return figures


def later_figures(period: Period) -> dict[str, list[tuple[str, float, str]]]:
    """A later quarter's figures by service: the story's, each moved a little (the same for the
    same quarter), with the story's narratives where one is still needed."""
    rng = random.Random(str(period))  # noqa: S311 - sample figures, not secrets
    figures: dict[str, list[tuple[str, float, str]]] = {}
    for m in MEASURES:
        value = m.now * (1 + rng.uniform(-0.03, 0.03))
        if m.fmt == "percent":
            value = min(value, 100.0)
        figures.setdefault(m.service, []).append(
            (m.code, float(_round(value, m.fmt)), NARRATIVES.get(m.code, ROUTINE_NARRATIVE))
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


def projects_csv(story: Period) -> str:
    """The four projects, their milestones moved from ``STORY`` to ``story`` by whole quarters."""
    months = 3 * ((story.start_year - STORY.start_year) * 4 + story.quarter - STORY.quarter)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(PROJECTS)):
        if row[0] != "project":
            for column in (7, 8):
                if row[column]:
                    row[column] = shift_months(date.fromisoformat(row[column]), months).isoformat()
        writer.writerow(row)
    return out.getvalue()


NARRATIVES = {
    "HOU-01": "Voids backlog after the spring heating replacement programme.",
    "WAS-01": "Contractor strike in May and June stopped dry recycling rounds for five weeks.",
    "WAS-03": "Round changes in April; missed collections fell back in June.",
    "REV-03": "Vacancies in the benefits team; two new assessors start in August.",
    "COM-05": "Licensing system upgrade took the service offline for a week.",
    "PLA-02": "A long-term sickness absence in the minor applications team.",
}

PROJECTS = "".join(
    line + "\n"
    for line in (
        "project,title,theme,priority,service,owner,milestone,due,completed",
        "P-01,Wexcombe leisure centre rebuild,Homes and communities,Regeneration,LEISURE,leo,"
        "Planning consent,2024-05-31,2024-05-20",
        "P-01,,,,,,Contractor appointed,2024-06-28,2024-06-25",
        "P-01,,,,,,Doors open,2026-03-31,",
        "P-02,Weekly food waste collections,Greener Wexcombe,Recycling,WASTE,wendy,"
        "Caddies procured,2024-06-14,",
        "P-02,,,,,,First collections,2024-10-01,",
        "P-03,Town centre regeneration masterplan,Thriving economy,Growth,PLANNING,pete,"
        "Consultation closed,2024-06-30,2024-06-30",
        "P-03,,,,,,Masterplan adopted,2024-12-31,",
        "P-04,200 council homes by 2027,Homes and communities,Housing supply,HOUSING,hannah,"
        "Site A on site,2024-06-30,2024-06-03",
        "P-04,,,,,,Site B contract signed,2024-11-30,",
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
