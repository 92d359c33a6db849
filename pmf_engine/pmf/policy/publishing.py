"""``framework.yaml``'s ``dashboard`` and ``open_data``: what the dashboard holds a cycle to, and
when a cycle's figures are public."""

from __future__ import annotations

from pmf_engine.core.definition import Name
from pmf_engine.pmf.policy._base import _Policy


class DashboardPolicy(_Policy):
    """What the dashboard holds the cycle to: per cycle workflow, the working days after the
    quarter's end by which each stage should be reached (``{quarterly_cycle: {cabinet: 40}}``)."""

    timeliness: dict[Name, dict[Name, int]] = {}


class OpenDataPolicy(_Policy):
    """When a cycle's figures are approved for publication on the public open-data feed: per
    cycle workflow, the states (reached only after the approving decision, e.g. Cabinet's) in
    which they are (``{quarterly_cycle: [scrutiny, closed]}``). None listed: nothing is public."""

    published_in: dict[Name, tuple[Name, ...]] = {}
    history_published: bool = False
    """Whether quarters loaded as history (figures with no cycle, so no approval on record)
    count as published in the public annual report; off: they are withheld, as the public
    feed leaves them out."""
