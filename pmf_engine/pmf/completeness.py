"""Whether a service's return is complete enough to submit (the guard ``return_complete``).

A return may be submitted when every measure of its service that is due this quarter (all but
annual measures, which are due in Q4) has a figure or the reason it is missing, every measure
whose RAG is one of ``returns.narrative_rag`` in ``policies/framework.yaml`` (red) has a
narrative, and every project whose status is one of ``returns.narrative_projects`` (off track,
at risk) has one. The RAG is the one the page and the report show (``status.decide``: the
policy's rule and basis). A service with no measures and no projects has nothing to report and
may submit.

The guard runs inside ``Engine.fire``, on its hot path: ``return_problems`` reads everything in
one query (the service's measures with their actuals of the periods the RAG reads, and its
projects with this quarter's updates, through the indexes on ``service_id``, ``(measure_id,
period)`` and ``(project_id, period)``), compiled once and sent to the driver as the engine's
own hot-path statements are (``core.raw``), then decides in Python.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import String, and_, bindparam, literal_column, null, select, type_coerce, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.sqltypes import NULLTYPE

from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.period import Period
from pmf_engine.core.raw import Statement
from pmf_engine.core.store import Instance
from pmf_engine.core.tx import Tx
from pmf_engine.pmf.models import Actual, Measure, Project, ProjectUpdate
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.rag import Polarity
from pmf_engine.pmf.status import decide, periods_wanted
from pmf_engine.pmf.targets import targets_of


def due_in(frequency: str, period: Period) -> bool:
    """Whether a measure reported ``frequency`` owes a figure for ``period``: an annual one in
    Q4 only, a quarterly or monthly one every quarter."""
    return frequency != "annual" or period.quarter == 4


@lru_cache(maxsize=256)
def _earliest_wanted(quarter: Period) -> str:
    """The earliest period the RAG of ``quarter`` reads (asked on every submit: computed once)."""
    return min(periods_wanted(quarter))


def return_reads(key: str) -> tuple[Statement, dict[str, Any]] | None:
    """The guard's one read, for the return ``key`` (``ORG/PERIOD/SERVICE``), declared so that
    ``Engine.fire`` sends it with its first round trip (``Registry.guard(reads=)``): the same
    rows ``return_problems`` reads, the service found by the instance's key."""
    parts = InstanceKey.parse(key)
    try:
        quarter = Period.parse(parts.period)
    except ValueError:
        return None
    if parts.child is None:
        return None
    return _RETURN_ROWS_BY_KEY, {"key": key, "period": str(quarter), "since": _earliest_wanted(quarter)}


def return_problems(
    s: Session | Tx,
    service_id: int,
    period: str,
    policies: FrameworkPolicies,
    rows: list[Any] | None = None,
) -> list[str]:
    """What stops the return of ``service_id`` for ``period`` from being submitted, one phrase
    per measure or project (empty when it may be submitted). One query, unless ``rows`` (what
    ``return_reads`` read with the fire's first round trip) are given."""
    try:
        quarter = Period.parse(period)
    except ValueError:
        return []  # a yearly or ad hoc round has no quarterly figures to owe
    rules = policies.framework.returns
    measures: dict[int, dict[str, Any]] = {}
    latest: dict[tuple[int, str], _Row] = {}
    projects: dict[int, _Row] = {}
    # The periods the RAG reads (the year to date, the last quarter, the same quarter last year)
    # all lie from the same quarter last year to this one: one range, in the index's order.
    since = _earliest_wanted(quarter)
    found = (
        rows
        if rows is not None
        else Tx.of(s).raw.rows(_RETURN_ROWS, {"service_id": service_id, "period": period, "since": since})
    )
    for row in map(_Row._make, found):
        if row.kind == "measure":
            if row.item not in measures:  # its columns repeat on each of its actuals: read once
                measures[row.item] = {
                    "code": row.code,
                    "polarity": row.polarity,
                    "frequency": row.frequency,
                    "aggregation": row.aggregation,
                    **{
                        name: _json(getattr(row, name))
                        for name in ("targets", "annual_targets", "profile", "agreed_targets")
                    },
                }
            if row.row is not None and row.period is not None:
                key = (row.item, row.period)
                if key not in latest or (latest[key].row or 0) < row.row:
                    latest[key] = row  # the newest submission counts
        elif row.item not in projects or (row.row is not None and (projects[row.item].row or 0) < row.row):
            projects[row.item] = row
    problems: list[str] = []
    for item, m in sorted(measures.items(), key=lambda kv: str(kv[1]["code"])):
        now = latest.get((item, period))
        if due_in(m["frequency"], quarter) and (
            now is None or (now.value is None and not (now.missing_reason or "").strip())
        ):
            problems.append(f"{m['code']} has no figure and no reason why it is missing")
            continue
        if now is not None and (now.narrative or "").strip():
            continue  # explained: whatever its RAG, it needs nothing more
        values = {p: r.value for (i, p), r in latest.items() if i == item}
        polarity: Polarity = "higher" if m["polarity"] == "higher" else "lower"
        targets = targets_of(
            m["aggregation"], m["targets"], m["annual_targets"], m["profile"], m["agreed_targets"]
        )
        forecast = now.forecast if now is not None else None
        status = decide(m["code"], polarity, targets, quarter, values, forecast, policies.rag)[2].status
        if status in rules.narrative_rag:
            problems.append(f"{m['code']} is {status} and has no narrative")
    for p in sorted(projects.values(), key=lambda r: str(r.code)):
        if p.status in rules.narrative_projects and not (p.narrative or "").strip():
            problems.append(f"project {p.code} is {str(p.status).replace('_', ' ')} and has no narrative")
    return problems


def _json(value: Any) -> Any:
    """A JSON column read as text (SQLite) or already decoded (PostgreSQL's driver)."""
    return json.loads(value) if isinstance(value, str) else value


def _return_rows(service: Any = None) -> Any:
    """The service's measures (each with its actuals of ``periods``) and projects (each with its
    updates of ``period``), one row per pair, in one statement; built once, with parameters
    (building it per call cost more than running it)."""
    measures = (
        select(
            literal_column("'measure'", String).label("kind"),
            Measure.id.label("item"),
            Measure.code.label("code"),
            Measure.polarity.label("polarity"),
            Measure.frequency.label("frequency"),
            Measure.aggregation.label("aggregation"),
            type_coerce(Measure.targets, String).label("targets"),
            type_coerce(Measure.annual_targets, String).label("annual_targets"),
            type_coerce(Measure.profile, String).label("profile"),
            type_coerce(Measure.agreed_targets, String).label("agreed_targets"),
            Actual.id.label("row"),
            Actual.period.label("period"),
            # The driver's floats as they come: core.raw looks up no column type of a PG float.
            type_coerce(Actual.value, NULLTYPE).label("value"),
            type_coerce(Actual.forecast, NULLTYPE).label("forecast"),
            Actual.missing_reason.label("missing_reason"),
            Actual.narrative.label("narrative"),
            null().label("status"),
        )
        .select_from(Measure)
        .outerjoin(
            Actual,
            and_(
                Actual.measure_id == Measure.id,
                Actual.period.between(bindparam("since"), bindparam("period")),
            ),
        )
        .where(Measure.service_id == (bindparam("service_id") if service is None else service))
    )
    projects = (
        select(
            literal_column("'project'", String),
            Project.id,
            Project.code,
            null(),
            null(),
            null(),
            null(),
            null(),
            null(),
            null(),
            ProjectUpdate.id,
            ProjectUpdate.period,
            null(),
            null(),
            null(),
            ProjectUpdate.narrative,
            ProjectUpdate.status,
        )
        .select_from(Project)
        .outerjoin(
            ProjectUpdate,
            and_(ProjectUpdate.project_id == Project.id, ProjectUpdate.period == bindparam("period")),
        )
        .where(Project.service_id == (bindparam("service_id") if service is None else service))
    )
    return union_all(measures, projects)


_RETURN_ROWS = Statement(_return_rows())
_RETURN_ROWS_BY_KEY = Statement(
    _return_rows(select(Instance.service_id).where(Instance.key == bindparam("key")).scalar_subquery())
)


class _Row(NamedTuple):
    """A row of ``_RETURN_ROWS``: a measure and one of its actuals, or a project and one update."""

    kind: str
    item: int
    code: str
    polarity: str | None
    frequency: str | None
    aggregation: str | None
    targets: Any
    annual_targets: Any
    profile: Any
    agreed_targets: Any
    row: int | None
    period: str | None
    value: float | None
    forecast: float | None
    missing_reason: str | None
    narrative: str | None
    status: str | None
