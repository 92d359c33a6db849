"""Comparing a council with similar ones: its GSS area code, the comparator values of other
areas (by metric, area and period, each with its source and date), and a measure's position
in its comparison group (rank, quartile, median, how many), which follows the measure's
polarity: with ``higher`` the largest value ranks first, with ``lower`` the smallest.

A GSS code (Government Statistical Service) names a local authority area in the ONS's
geography: a letter for the nation (E England, W Wales, S Scotland, N Northern Ireland) and
eight digits, like ``E07000033`` (Bolsover). The values here are what ``comparators`` imports
from an LG Inform export file or fetches through ``lginform``; this module holds the tables
and the arithmetic, which takes values and returns values.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.store import Base, UTCDateTime

GSS_PATTERN = re.compile(r"^[EWSN]\d{8}$")
GSS_EXAMPLE = "E07000033"


def check_gss(value: str, field: str = "GSS code") -> str:
    """``value`` as a GSS code (upper case, trimmed); ``InvalidInput`` naming ``field`` if it
    is not one: a letter E, W, S or N and eight digits."""
    code = value.strip().upper()
    if not GSS_PATTERN.match(code):
        raise InvalidInput(
            field,
            value,
            f"is not a GSS code: a letter E, W, S or N and eight digits, like {GSS_EXAMPLE}",
        )
    return code


_ACRONYMS = {"cipfa": "CIPFA", "ons": "ONS", "lga": "LGA", "nn": "NN"}


def group_label(name: str) -> str:
    """A comparison group's name as pages show it: ``cipfa_nearest_neighbours`` reads
    "CIPFA nearest neighbours"."""
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


class OrganisationArea(Base):
    """The area an organisation serves, by GSS code: what comparators are looked up by."""

    __tablename__ = "organisation_areas"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    gss_code: Mapped[str] = mapped_column(String(9))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(64))


class ComparatorValue(Base):
    """One published value of a metric for an area and period, in one of an organisation's
    comparison groups (a re-import of the same group, metric, period and area replaces it)."""

    __tablename__ = "comparator_values"
    __table_args__ = (
        UniqueConstraint("organisation_id", "comparison_group", "metric", "period", "area_gss"),
        Index("ix_comparator_values_metric", "organisation_id", "metric"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    comparison_group: Mapped[str] = mapped_column(String(64))
    """The group the area is in, e.g. ``cipfa_nearest_neighbours`` or ``statistical_neighbours``."""
    metric: Mapped[str] = mapped_column(String(32))
    """The source's metric identifier (LG Inform's metric type id)."""
    area_gss: Mapped[str] = mapped_column(String(9))
    area_name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(32))
    """The source's period, as it names it (``2023/24``, ``Q1 2024/25``)."""
    value: Mapped[float | None] = mapped_column()
    """``None`` where the source publishes no value (suppressed, or not collected)."""
    source: Mapped[str] = mapped_column(String(200))
    """Where the value came from: ``LG Inform`` (fetched) or ``LG Inform export FILE``."""
    published_on: Mapped[str | None] = mapped_column(String(10))
    """The ISO date the source published the value, where it says."""
    retrieved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retrieved_by: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True, slots=True)
class Comparator:
    """One area's value, as positions and pages show it."""

    area_gss: str
    area_name: str
    value: float | None
    source: str
    dated: str
    """The ISO date of the value: when it was published, else when it was retrieved."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where an organisation stands in a comparison group for one metric and period."""

    group: str
    metric: str
    period: str
    n: int
    """How many areas of the group have a value (the organisation's own among them, if it has one)."""
    median: float | None
    rank: int | None
    """1 is the best-performing area; ``None`` when the organisation's own area has no value."""
    quartile: int | None
    """1 the best quarter of the group, 4 the worst."""
    own: Comparator | None
    areas: tuple[Comparator, ...]
    """Every area of the group, best first (those without a value last)."""

    @property
    def sources(self) -> str:
        """The sources and dates of the values, each once: ``LG Inform, 2024-11-20``."""
        seen: list[str] = []
        for area in self.areas:
            text = f"{area.source}, {area.dated}"
            if text not in seen:
                seen.append(text)
        return "; ".join(seen)


def position(
    group: str,
    metric: str,
    period: str,
    values: Sequence[Comparator],
    own_gss: str | None,
    polarity: str,
) -> Position:
    """The position of the area ``own_gss`` among ``values`` (one group, metric and period):
    ranked best first by ``polarity`` (``higher`` or ``lower`` is better), ties sharing the
    better rank (1, 2, 2, 4); the quartile of a rank r of n is ceil(4r/n)."""
    known = [v for v in values if v.value is not None]
    best_first = sorted(known, key=lambda v: -(v.value or 0.0) if polarity == "higher" else (v.value or 0.0))
    missing = sorted((v for v in values if v.value is None), key=lambda v: v.area_name)
    n = len(best_first)
    own = next((v for v in values if v.area_gss == own_gss), None)
    rank = quartile = None
    if own is not None and own.value is not None:
        better = sum(
            1
            for v in best_first
            if (v.value is not None)
            and (v.value > own.value if polarity == "higher" else v.value < own.value)
        )
        rank = better + 1
        quartile = min(4, max(1, math.ceil(4 * rank / n)))
    median = statistics.median(v.value for v in best_first if v.value is not None) if n else None
    return Position(group, metric, period, n, median, rank, quartile, own, (*best_first, *missing))
