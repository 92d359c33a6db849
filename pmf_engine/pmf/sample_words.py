"""The demo's words that belong to a quarter: each red measure's narrative (which is its
exception report's reason too), the review of the risk register and the projects' updates of
the quarters before the story, and their headlines, written with the quarter's own months.

The sample's story was written for a first quarter (``sample.STORY``): its words named April,
May and June whatever quarter the demo made its story, and the quarter after it said the same.
Each text here names months as ``{m1}``, ``{m2}`` and ``{m3}``, the quarter's first, second and
third, and each quarter's place in the demo (before the story, the story, after it) has its own.
"""

from __future__ import annotations

import calendar

from pmf_engine.core.period import Period

STORY_NARRATIVES = {
    "HOU-01": "Voids backlog after the heating replacement programme of {m1} and {m2}.",
    "WAS-01": "Contractor strike in {m2} and {m3} stopped dry recycling rounds for five weeks.",
    "WAS-03": "Round changes in {m1}; missed collections fell back in {m3}.",
    "REV-03": "Vacancies in the benefits team since {m1}; two new assessors start next quarter.",
    "COM-05": "Licensing system upgrade took the service offline for a week in {m2}.",
    "PLA-02": "A long-term sickness absence in the minor applications team since {m1}.",
}
"""The story quarter's: what went wrong in it."""
LATER_NARRATIVES = {
    "HOU-01": "Voids backlog from the heating programme still being worked through; {m3}'s re-lets "
    "were close to target.",
    "WAS-01": "Tonnages still recovering after last quarter's strike; two rounds were re-crewed in {m1}.",
    "WAS-03": "Crews were still learning the new rounds in {m1}; missed collections fell in {m3}.",
    "REV-03": "The new assessors started in {m1} and are still in training; the backlog is clearing.",
    "COM-05": "The licensing backlog from last quarter's upgrade was still being cleared in {m1} and {m2}.",
    "PLA-02": "A senior planner resigned in {m2}; agency cover starts in {m3}.",
}
"""The quarters after the story's: its problems as they went on."""
EARLIER_NARRATIVES = {
    "HOU-01": "The voids contractor was behind on repairs through {m1} and {m2}.",
    "WAS-01": "The dry recycling contractor missed rounds again in {m2}.",
    "WAS-03": "Missed collections on the new rounds were still high in {m2}.",
    "REV-03": "The benefits team was two assessors short from {m1} to {m3}; the posts are advertised.",
    "COM-05": "Licensing decisions were late in {m2} while the old system was being replaced.",
    "PLA-02": "The minor applications team was one officer short in {m3}.",
}
"""The quarters before the story's: how its problems began."""
SHORT_OF_TARGET = (
    "Short of the target for {m1} to {m3}; the service's recovery plan is agreed with the portfolio holder."
)
"""The reason of a red measure the quarter's words say nothing of."""

EARLIER_REVIEWS = [
    ("R-01", 3, 4, "Placements rose in {m2}; the prevention fund is holding demand"),
    ("R-02", 4, 5, "Phishing campaign against councils in {m1}; backups tested"),
    ("R-03", 2, 4, "Contract meetings weekly since {m1}; no missed rounds"),
    ("R-04", 3, 3, "Prices fixed in the contract; contingency unspent"),
    ("R-05", 3, 3, "Migration plan agreed with the supplier in {m3}"),
    ("R-06", 3, 3, "One vacancy advertised in {m2}"),
    ("R-07", 4, 4, "Savings programme reported monthly"),
    ("R-08", 3, 3, "Land assembly board met in {m2}"),
    ("R-09", 2, 5, "No incidents; training up to date"),
    ("R-10", 2, 3, "Continuity plans checked in {m3}"),
    ("R-11", 2, 3, "No breaches reported"),
    ("R-12", 2, 3, "Developer forum met in {m1}"),
]
"""Each quarter's review of the register before the story's (risk, likelihood, impact, note):
no risk scored higher than the story's review of it, so what the story escalates is new there."""
EARLIER_PROJECTS = [
    ("P-01", "LEISURE", "leo", "on_track", ""),
    ("P-02", "WASTE", "wendy", "on_track", ""),
    ("P-03", "PLANNING", "pete", "on_track", ""),
    ("P-04", "HOUSING", "hannah", "on_track", ""),
]
"""The projects' updates of the quarters before the story's: each milestone is due in it or later."""
EARLIER_HEADLINES = {
    "Homes and communities": "Re-lets took {HOU-01} days to the end of {m3} as the voids contractor fell "
    "behind; {HOU-02} households were in temporary accommodation.",
    "Thriving economy": "New benefit claims took {REV-03} days to the end of {m3}; {PLA-01}% of major "
    "applications were decided in 13 weeks.",
    "Greener Wexcombe": "{WAS-01}% of household waste was recycled in {m1} to {m3}, with {WAS-03} missed "
    "bins per 100,000 collections on the new rounds.",
}
"""The headlines of the quarters of the year before the story's but its fourth, with each
quarter's figures and months put in (``sample.headlines``)."""


def months(period: Period) -> dict[str, str]:
    """The names of ``period``'s months, first to third, as ``{m1}``, ``{m2}`` and ``{m3}`` name them."""
    first = period.start.month
    return {f"m{i + 1}": calendar.month_name[(first - 1 + i) % 12 + 1] for i in range(3)}


def words(text: str, period: Period) -> str:
    """``text`` with ``period``'s months put in."""
    return text.format_map(months(period))


def narratives(period: Period, story: Period) -> dict[str, str]:
    """What the service says of each measure that goes red in ``period`` (and the exception
    report's reason), by the quarter's place beside the ``story`` quarter, in its months."""
    texts = STORY_NARRATIVES if period == story else EARLIER_NARRATIVES
    texts = LATER_NARRATIVES if period > story else texts
    return {code: words(text, period) for code, text in texts.items()}
