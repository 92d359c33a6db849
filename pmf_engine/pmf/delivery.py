"""The delivery plan: a headline per Council Plan theme, placed before the projects.

A theme's headline is the performance team's narrative for the quarter (written in the cycle,
history kept, the newest counting, audited), beside its measures' RAG counts and its key
projects (those the projects file marks ``key``; every project of the theme when none is) with
their status and the measures each is meant to move. It is part of the committee report, so it
is frozen with it at Leadership Team sign-off; the dashboard's theme view reads it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.errors import InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem
from pmf_engine.core.store import Instance, roles_held
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.projects import ProjectStatus
from pmf_engine.pmf.rag import Status
from pmf_engine.pmf.reporting import StoreService, audit_cycle, cycle_of, frozen_at, frozen_stage_of
from pmf_engine.pmf.risk_models import ThemeHeadline
from pmf_engine.pmf.status import MeasureStatus

OTHER = "Other"
"""The theme of a measure or project that names none."""


@dataclass(frozen=True)
class KeyProject:
    """A key project as its theme's headline names it."""

    code: str
    title: str
    status: str
    measures: list[str]


@dataclass(frozen=True)
class Headline:
    """A theme's headline: the narrative, its measures' RAG counts and its key projects."""

    theme: str
    narrative: str
    written_by: str
    counts: dict[str, int]
    key_projects: list[KeyProject]

    @property
    def measures(self) -> int:
        """How many measures the theme has."""
        return sum(self.counts.values())


def headlines_in(
    s: Session, inst: Instance, measures: list[MeasureStatus], projects: list[ProjectStatus]
) -> list[Headline]:
    """Every theme of the cycle's measures and projects, by name, with its headline."""
    written: dict[str, ThemeHeadline] = {}
    for headline in s.scalars(
        select(ThemeHeadline).where(ThemeHeadline.instance_id == inst.id).order_by(ThemeHeadline.id)
    ):
        written[headline.theme] = headline
    themes = sorted({m.theme or OTHER for m in measures} | {p.theme or OTHER for p in projects})
    found = []
    for theme in themes:
        counts = dict.fromkeys(get_args(Status), 0)
        for m in measures:
            if (m.theme or OTHER) == theme:
                counts[m.rag.status] += 1
        mine = [p for p in projects if (p.theme or OTHER) == theme]
        key = [p for p in mine if p.key] or mine
        row = written.get(theme)
        found.append(
            Headline(
                theme,
                row.narrative if row else "",
                row.written_by if row else "",
                counts,
                [KeyProject(p.code, p.title, p.status, list(p.measures)) for p in key],
            )
        )
    return found


class Delivery(StoreService):
    """The headlines of a cycle's themes, written by an organisation-wide reporting role."""

    def may_write_headline(self, cycle: str, by: str) -> bool:
        """Whether ``by`` may write the cycle's theme headlines now (a page offers its form only
        then): an organisation-wide reporting role, before the report is frozen."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            held = roles_held(s, by, inst.organisation_id)
            may = any((role, None) in held for role in self.reporting.any_service)
            return may and frozen_at(s, inst.id) is None

    def write_headline(self, cycle: str, theme: str, narrative: str, *, by: str) -> None:
        """Set the headline of ``theme`` for the cycle's report (history kept), until the
        report is frozen; ``theme`` must be a theme of one of the organisation's measures or
        projects."""
        text = (checks.check_text("narrative", narrative) or "").strip()
        if not text:
            raise InvalidInput("narrative", None, f"the headline of {theme} needs a narrative")
        too_long = text_problem(f"the headline of {theme}", text, MAX_NARRATIVE)
        if too_long is not None:
            raise InvalidInput("narrative", theme, too_long)
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            held = roles_held(s, by, inst.organisation_id)
            if not any((role, None) in held for role in self.reporting.any_service):
                raise PermissionDenied(
                    cycle, "write_headline", "-", by, f"{by!r} may not write theme headlines"
                )
            if frozen_at(s, inst.id) is not None:
                raise NotNow(f"the {cycle} report was frozen at {frozen_stage_of(s, inst, self.versions)}")
            themes = {
                t or OTHER
                for t in s.scalars(
                    select(Measure.theme).where(Measure.organisation_id == inst.organisation_id)
                )
            }
            themes |= {
                t or OTHER
                for t in s.scalars(
                    select(Project.theme).where(Project.organisation_id == inst.organisation_id)
                )
            }
            if theme not in themes:
                raise NotFound("theme", theme, f"known: {', '.join(sorted(themes)) or 'none'}")
            now = self.clock.now()
            s.add(
                ThemeHeadline(instance_id=inst.id, theme=theme, narrative=text, written_by=by, written_at=now)
            )
            audit_cycle(s, inst, "theme.headline", by, {"theme": theme, "narrative": text}, now)
