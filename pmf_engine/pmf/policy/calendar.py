"""``framework.yaml``'s ``calendar`` (the committees) and the models of ``moderngov.yaml``
(each organisation's ModernGov site; the file is read by ``pmf.moderngov.policy``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from pmf_engine.core.definition import Name
from pmf_engine.pmf.policy._base import Hint, _Policy
from pmf_engine.pmf.siteurl import SiteUrl


class CalendarPolicy(_Policy):
    """The committees: each body's name (as deadline rules and meetings give it) and the words
    that mark an .ics event's summary as its meeting (first match wins, in file order)."""

    bodies: dict[Name, tuple[Hint, ...]]

    def guess(self, summary: str) -> str:
        """The body whose hint ``summary`` contains, or ``""``."""
        words = summary.lower()
        return next((body for body, hints in self.bodies.items() if any(h in words for h in hints)), "")


_Word = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=80)]


def committee_key(value: object) -> str:
    """A committee's key as the mapping is matched: its id (digits), or its title in lower
    case with runs of spaces made one."""
    return re.sub(r"\s+", " ", str(value)).strip().lower()


class ModernGovSite(_Policy):
    """One organisation's ModernGov site (``moderngov.yaml``, read by ``pmf.moderngov.policy``)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # an address's password is not repeated

    base_url: SiteUrl
    """The site's address, e.g. ``https://democracy.example.gov.uk`` (the web service is
    ``{base_url}/mgWebService.asmx``): HTTPS, or plain HTTP to this machine; no credentials."""
    committees: dict[str, Name] = Field(min_length=1)
    """A ModernGov committee id (``134``) or title (``Cabinet``), to the calendar body it is."""
    report_item: tuple[_Word, ...] = ()
    """Words of which one marks an agenda item's title as the performance report item; none:
    agenda items are not fetched."""
    days_back: int = Field(default=31, ge=0, le=366)
    """How far back each sync looks (a meeting moved into the past is still seen)."""
    days_ahead: int = Field(default=400, ge=1, le=800)
    """How far ahead each sync looks."""
    agenda_days_ahead: int = Field(default=60, ge=0, le=400)
    """How far ahead the agendas of coming meetings are read for the report item."""
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    """How long one request may take before the sync gives up (and changes nothing)."""
    daily_at: int = Field(default=6, ge=0, le=23)
    """The hour (London time) from which the worker syncs once a day."""

    @field_validator("committees", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {committee_key(k): v for k, v in value.items()}
        return value

    def body_of(self, committee_id: int, title: str) -> str | None:
        """The body a committee maps to, by id first and then by title; ``None`` if unmapped."""
        return self.committees.get(str(committee_id)) or self.committees.get(committee_key(title))


class ModernGovPolicy(_Policy):
    """The whole ``moderngov.yaml``."""

    organisations: dict[str, ModernGovSite] = {}

    def site(self, organisation: str) -> ModernGovSite | None:
        """The site of ``organisation`` (its code), if it has one."""
        return self.organisations.get(organisation)


NO_MODERNGOV = ModernGovPolicy()
"""No ModernGov sites: what a deployment without ``moderngov.yaml`` has."""
