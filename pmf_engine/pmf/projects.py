"""Projects of the Council Plan delivery programme, tracked beside the measures.

A project has milestones (title, due date, completed on) and, each quarter, a status its
service reports with a narrative: on track, at risk, off track or complete. An off-track project
needs an exception report before Leadership Team sign-off, as a red measure does (the statuses
that need one are ``exception_reports`` in ``policies/framework.yaml``).

Projects come from CSV, one row per milestone (formula-like text refused, as in the measures
library); the project's own columns may be left blank on its second and later rows but must not
contradict the first::

    project,title,theme,priority,service,owner,milestone,due,completed
    P-01,New leisure centre,Homes,Regeneration,HOUSING,sm_housing,Planning consent,2024-06-30,2024-06-12
    P-01,,,,,,Contractor appointed,2024-09-30,

Two optional columns make the delivery plan: ``measures``, the codes of the measures the project
is meant to move (separated by ``;``; a file with the column sets each project's links to what it
gives), and ``key`` (yes or no), a key project of its theme, named in the theme's headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.errors import DataFileError, InvalidInput, NotFound, NotNow, PermissionDenied, Problem
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem
from pmf_engine.core.store import Instance, find_organisation
from pmf_engine.pmf import tabular
from pmf_engine.pmf.models import PROJECT_STATES, ExceptionReport, Measure, Milestone, Project, ProjectUpdate
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.reporting import (
    StoreService,
    audit_cycle,
    audit_organisation,
    by_code,
    closed_return,
    cycle_of,
    frozen_at,
    frozen_stage_of,
    may_report,
    service_ids,
    upsert,
    with_service_codes,
)
from pmf_engine.pmf.risk_models import ProjectMeasure

STATES = PROJECT_STATES
PROJECT_COLUMNS = ("project", "title", "theme", "priority", "service", "owner", "measures", "key")
MILESTONE_COLUMNS = ("milestone", "due", "completed")


class MilestoneIn(BaseModel):
    """A milestone of a projects file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    due: date
    completed_on: date | None = None

    @field_validator("title")
    @classmethod
    def _not_a_formula(cls, value: str) -> str:
        return tabular.not_a_formula(value)


class ProjectIn(BaseModel):
    """A project of a projects file with its milestones, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    title: str = Field(min_length=1, max_length=300)
    theme: str = ""
    priority: str = ""
    service: str = ""
    owner: str = ""
    milestones: list[MilestoneIn] = []
    measures: tuple[str, ...] | None = None
    """The measures it moves (``None``: the file has no ``measures`` column: links unchanged)."""
    key: bool = False

    @field_validator("title", "theme", "priority", "owner")
    @classmethod
    def _not_a_formula(cls, value: str) -> str:
        return tabular.not_a_formula(value)

    @field_validator("measures", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(code.strip() for code in value.split(";") if code.strip())
        return value


@dataclass(frozen=True)
class MilestoneStatus:
    """A project's milestone as the quarter's report shows it."""

    title: str
    due: str
    completed_on: str | None
    overdue: bool
    """Due by the end of the quarter and not completed."""


@dataclass(frozen=True)
class ProjectStatus:
    """A project in a cycle: its reported status, narrative, milestones and exception report."""

    code: str
    title: str
    theme: str
    service: str | None
    owner: str
    status: str
    """A reported ``ProjectState``, or ``missing`` when the service has not reported."""
    narrative: str
    milestones: list[MilestoneStatus]
    exception_report: bool
    measures: list[str] = field(default_factory=list)
    """The codes of the measures it is meant to move (the delivery plan)."""
    key: bool = False
    """A key project of its theme."""


def read_projects(path: Path) -> list[ProjectIn]:
    """Projects with their milestones from CSV; every problem listed with its line and column."""
    table = tabular.read_table(
        path, ("project", "title"), known=lambda name: name in PROJECT_COLUMNS + MILESTONE_COLUMNS
    )
    projects: dict[str, dict[str, object]] = {}
    first_line: dict[str, int] = {}
    for row in table.rows:
        code = row.get("project")
        if not code:
            table.problem(row.line, "project", "missing project code")
            continue
        fields = {k: row.get(k) for k in PROJECT_COLUMNS[1:] if row.get(k)}
        if code not in projects:
            linked = {"measures": ""} if "measures" in table.header else {}
            projects[code] = {"code": code, **linked, **fields, "milestones": []}
            first_line[code] = row.line
        else:
            for k, v in fields.items():
                if projects[code].get(k, v) != v:
                    table.problem(row.line, k, f"{v!r} contradicts line {first_line[code]}")
        if row.get("milestone"):
            milestone = {"title": row.get("milestone"), "due": row.get("due")}
            if row.get("completed"):
                milestone["completed_on"] = row.get("completed")
            try:
                parsed = MilestoneIn.model_validate(milestone)
            except ValidationError as exc:
                table.invalid(row.line, exc, _column)
                continue
            milestones = projects[code]["milestones"]
            assert isinstance(milestones, list)
            milestones.append(parsed)
    result: list[ProjectIn] = []
    for code, values in projects.items():
        try:
            result.append(ProjectIn.model_validate(values))
        except ValidationError as exc:
            table.invalid(first_line[code], exc, _column)
    return table.done(result)


def _column(loc: Sequence[int | str]) -> str:
    name = str(loc[0]) if loc else ""
    return {"code": "project", "title": "title", "completed_on": "completed", "due": "due"}.get(name, name)


class Projects(StoreService):
    """An organisation's projects: imported with their milestones, and updated each quarter."""

    def import_projects(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or update projects and their milestones (matched by title); (added, updated)."""
        rows = read_projects(path)
        added = updated = 0
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            services = service_ids(org, path, (r.service for r in rows))
            measures = dict(
                s.execute(select(Measure.code, Measure.id).where(Measure.organisation_id == org.id)).all()
            )
            unknown = [
                Problem(
                    str(path), None, "measures", f"project {r.code}: unknown measure(s): {', '.join(missing)}"
                )
                for r in rows
                if (missing := [c for c in r.measures or () if c not in measures])
            ]
            if unknown:
                raise DataFileError(unknown)
            for row in rows:
                fields = row.model_dump(include={"title", "theme", "priority", "owner"})
                fields["key_project"] = row.key
                fields["service_id"] = services.get(row.service) if row.service else None
                project, new = upsert(s, Project, org.id, row.code, fields)
                if new:
                    s.flush()  # the milestones need its id
                    added += 1
                else:
                    updated += 1
                if row.measures is not None:
                    for link in s.scalars(
                        select(ProjectMeasure).where(ProjectMeasure.project_id == project.id)
                    ):
                        s.delete(link)
                    s.flush()
                    s.add_all(
                        ProjectMeasure(project_id=project.id, measure_id=measures[c]) for c in row.measures
                    )
                existing = {
                    m.title: m for m in s.scalars(select(Milestone).where(Milestone.project_id == project.id))
                }
                for m in row.milestones:
                    done = m.completed_on.isoformat() if m.completed_on else None
                    if m.title in existing:
                        existing[m.title].due, existing[m.title].completed_on = m.due.isoformat(), done
                    else:
                        s.add(
                            Milestone(
                                project_id=project.id, title=m.title, due=m.due.isoformat(), completed_on=done
                            )
                        )
            data = {"file": path.name, "added": added, "updated": updated}
            audit_organisation(s, organisation, "projects.imported", by, data, self.clock.now())
        return added, updated

    def update(self, cycle: str, code: str, status: str, *, narrative: str = "", by: str) -> None:
        """Record a project's status for the cycle's quarter (history kept; the newest counts),
        as a role that reports its service's figures, while the service's return is open
        (``reporting.open_states``) and the report is not frozen: the rule of a measure's actual."""
        with self.store.write() as s:
            self.update_in(s, cycle, code, status, narrative=narrative, by=by)

    def update_in(
        self, s: Session, cycle: str, code: str, status: str, *, narrative: str = "", by: str
    ) -> None:
        """``update`` inside the caller's transaction."""
        narrative = checks.check_text("narrative", narrative) or ""
        if status not in STATES:
            raise InvalidInput("status", status, f"not a project status: use one of {', '.join(STATES)}")
        if status in self.policies.framework.returns.narrative_projects and not narrative.strip():
            raise InvalidInput(
                "narrative", None, f"project {code}: a project {status.replace('_', ' ')} needs a narrative"
            )
        too_long = text_problem(f"the narrative of {code}", narrative, MAX_NARRATIVE)
        if too_long is not None:
            raise InvalidInput("narrative", code, too_long)
        inst, project = self._cycle_project(s, cycle, code)
        if not may_report(s, self.reporting, by, inst.organisation_id, project.service_id):
            raise PermissionDenied(cycle, "update_project", "-", by, f"{by!r} may not report {code}")
        if frozen_at(s, inst.id) is not None:
            raise NotNow(f"the {cycle} report was frozen at {frozen_stage_of(s, inst, self.versions)}")
        closed = closed_return(s, self.reporting, inst, project.service_id)
        if closed is not None:
            raise NotNow(f"{closed}: project {code}'s status can change only while it is open")
        now = self.clock.now()
        s.add(
            ProjectUpdate(
                project_id=project.id,
                period=inst.period,
                status=status,
                narrative=narrative,
                reported_by=by,
                reported_at=now,
            )
        )
        data = {"project": code, "period": inst.period, "status": status, "narrative": narrative}
        audit_cycle(s, inst, "project.updated", by, data, now)

    def projects(self, organisation: str) -> list[tuple[Project, str | None, list[Milestone]]]:
        """The organisation's projects by code, each with its service's code and milestones."""
        with self.store.read() as s:
            found = with_service_codes(s, Project, find_organisation(s, organisation).id)
            milestones = _milestones(s, [p.id for p, _ in found])
            return [(p, svc, milestones.get(p.id, [])) for p, svc in found]

    def status(self, cycle: str) -> list[ProjectStatus]:
        """Every project of the cycle's organisation with its status for the cycle's quarter."""
        with self.store.read() as s:
            return project_status(s, cycle_of(s, cycle))

    def _cycle_project(self, s: Session, cycle: str, code: str) -> tuple[Instance, Project]:
        inst = cycle_of(s, cycle)
        project = by_code(s, Project, inst.organisation_id, code)
        if project is None:
            raise NotFound("project", code)
        return inst, project


def project_status(s: Session, inst: Instance) -> list[ProjectStatus]:
    """Every project of the cycle's organisation with its status for the cycle's quarter."""
    end = quarter_of(inst).end.isoformat()
    found = with_service_codes(s, Project, inst.organisation_id)
    ids = [p.id for p, _ in found]
    latest: dict[int, ProjectUpdate] = {}
    if ids:
        for row in s.scalars(
            select(ProjectUpdate)
            .where(ProjectUpdate.project_id.in_(ids), ProjectUpdate.period == inst.period)
            .order_by(ProjectUpdate.id)
        ):
            latest[row.project_id] = row
    reported = set(
        s.scalars(
            select(ExceptionReport.project_id).where(
                ExceptionReport.instance_id == inst.id, ExceptionReport.project_id.is_not(None)
            )
        )
    )
    milestones = _milestones(s, ids)
    linked: dict[int, list[str]] = {}
    if ids:
        for project_id, code in s.execute(
            select(ProjectMeasure.project_id, Measure.code)
            .join(Measure, Measure.id == ProjectMeasure.measure_id)
            .where(ProjectMeasure.project_id.in_(ids))
            .order_by(Measure.code)
        ):
            linked.setdefault(project_id, []).append(code)
    result = []
    for project, service in found:
        update = latest.get(project.id)
        result.append(
            ProjectStatus(
                code=project.code,
                title=project.title,
                theme=project.theme,
                service=service,
                owner=project.owner,
                status=update.status if update else "missing",
                narrative=update.narrative if update else "",
                milestones=[
                    MilestoneStatus(m.title, m.due, m.completed_on, m.completed_on is None and m.due <= end)
                    for m in milestones.get(project.id, [])
                ],
                exception_report=project.id in reported,
                measures=linked.get(project.id, []),
                key=project.key_project,
            )
        )
    return result


def _milestones(s: Session, project_ids: Sequence[int]) -> dict[int, list[Milestone]]:
    found: dict[int, list[Milestone]] = {}
    if project_ids:
        for m in s.scalars(
            select(Milestone).where(Milestone.project_id.in_(list(project_ids))).order_by(Milestone.due)
        ):
            found.setdefault(m.project_id, []).append(m)
    return found
