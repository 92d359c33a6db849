"""How a figure that may still change is marked for its readers: which quality flags are marked
(estimated and provisional), the words of the mark beside the figure ("Provisional figure") and
of the note that explains it. The quarterly and annual reports, the public pages, the dashboard
and the open-data feed's column description take their words from here, so a reader meets the
same mark, in text and never by colour alone, wherever the figure appears."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pmf_engine.pmf.models import QualityFlag

MARKED: tuple[QualityFlag, ...] = ("estimated", "provisional")
"""The flags a reader is told about, the least sure first: an estimate rests on no full count,
a provisional figure on a count not yet validated."""

EXPLANATION = "They may change when the service validates them."
"""Why a marked figure is marked: the note's last sentence."""


def is_marked(flag: str | None) -> bool:
    """Whether a figure with quality ``flag`` is marked (estimated or provisional)."""
    return flag in MARKED


def mark(flag: str | None) -> str:
    """The words beside a marked figure: ``Provisional figure``, ``Estimated figure``; ``""``
    for a validated figure or one whose flag was not stated."""
    return f"{flag.capitalize()} figure" if flag is not None and is_marked(flag) else ""


def least_sure(flags: Iterable[str | None]) -> str:
    """The mark a figure built from figures of ``flags`` carries (a year's outturn from its
    quarters): ``estimated`` if any is, else ``provisional`` if any is, else ``""``."""
    held = set(flags)
    return next((flag for flag in MARKED if flag in held), "")


def note(figures: Sequence[str]) -> str:
    """The note explaining the marks of ``figures`` (each named as the page names it):
    ``2 figures marked provisional or estimated: HOU-01, WAS-01. They may change when the
    service validates them.``"""
    counted = f"{len(figures)} figure{'' if len(figures) == 1 else 's'}"
    return f"{counted} marked provisional or estimated: {', '.join(figures)}. {EXPLANATION}"
