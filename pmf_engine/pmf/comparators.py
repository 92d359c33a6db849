"""Comparator values as one service: an organisation's GSS code, values imported from an LG
Inform export file (CSV or JSON) or stored from a fetch (``lginform``), and each measure's
position in its comparison groups.

An export file holds one comparison group. A CSV file has the columns ``area_code`` (a GSS
code), ``area_name``, ``metric``, ``period`` and ``value``, and may have ``published`` (an ISO
date) and ``comparison_group``; LG Inform's own headings are accepted for the first five
(``Area code``, ``Area``, ``Metric id``, ``Period``, ``Value``). A JSON file has the shape of LG
Inform's data call (``parse_data``, which reads ``lginform``'s answers too). An import is all or
nothing: every problem is listed with the file, its line (in a CSV file; a path such as
``rows.3.values.0.value`` in JSON) and the column, and the import is recorded in the audit log.
A later import of the same group, metric and period replaces that set of values, so a group's
membership is what the last one held. Other columns of an export are left unread.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pmf_engine.core import values
from pmf_engine.core.errors import DataFileError, InvalidInput, Problem
from pmf_engine.core.store import Organisation, find_organisation
from pmf_engine.pmf import tabular
from pmf_engine.pmf.comparison import (
    Comparator,
    ComparatorValue,
    OrganisationArea,
    Position,
    check_gss,
    position,
)
from pmf_engine.pmf.models import Measure
from pmf_engine.pmf.reporting import StoreService, audit_organisation

GROUP_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
DEFAULT_GROUP = "cipfa_nearest_neighbours"
CSV_COLUMNS = ("area_code", "area_name", "metric", "period", "value", "published", "comparison_group")
ALIASES = {
    "area code": "area_code",
    "gss code": "area_code",
    "area": "area_name",
    "area name": "area_name",
    "metric id": "metric",
    "metric type id": "metric",
    "published date": "published",
    "comparison group": "comparison_group",
}
"""LG Inform's headings (lower case) and the column each is."""
MAX_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024
"""The largest export file read (a year of every district's values for a few metrics is far less)."""


@dataclass(frozen=True, slots=True)
class ValueIn:
    """One comparator value read from a file or a response, checked."""

    group: str
    metric: str
    area_gss: str
    area_name: str
    period: str
    value: float | None
    published_on: str | None


@dataclass(frozen=True, slots=True)
class Stored:
    """What an import or a fetch stored."""

    values: int
    sets: int
    """Distinct (group, metric, period) sets, each replacing what was there."""


def check_group(value: str) -> str:
    """``value`` as a comparison group name (lower-case letters, digits, ``_``); ``InvalidInput`` if not."""
    if not GROUP_PATTERN.match(value):
        raise InvalidInput(
            "comparison group", value, "use lower-case letters, digits and _, like cipfa_nearest_neighbours"
        )
    return value


def check_date(value: str, field: str = "published") -> str:
    """``value`` as an ISO date; ``InvalidInput`` naming ``field`` if it is not one."""
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError as exc:
        raise InvalidInput(field, value, "is not a date like 2024-11-28") from exc


def period_order(period: str) -> tuple[int, str]:
    """A sort key putting a source's periods in time order: by the first four-digit year in the
    name, then by the name (``2023/24`` < ``Q1 2024/25`` < ``Q2 2024/25``)."""
    years = re.findall(r"\d{4}", period)
    return (int(years[0]) if years else 0, period)


def read_export(path: Path, group: str | None = None) -> list[ValueIn]:
    """The comparator values of an LG Inform export file (``.csv`` or ``.json``); every problem
    raised together in one ``DataFileError``. ``group`` names the comparison group of a file
    with no ``comparison_group`` column (default ``cipfa_nearest_neighbours``)."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    if size > MAX_FILE_BYTES:
        raise DataFileError([Problem(str(path), None, "", f"the file is over {MAX_FILE_BYTES:,} bytes")])
    if suffix == ".json":
        return _read_json(path, group)
    if suffix != ".csv":
        raise DataFileError(
            [Problem(str(path), None, "", "use a .csv or .json file exported from LG Inform")]
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    # other columns of LG Inform's export (the metric's name, its unit, notes) are left unread
    table = tabular.parse_csv(_normalised_header(text), str(path), CSV_COLUMNS[:5])
    found: list[ValueIn] = []
    for row in table.rows:
        if len(found) >= MAX_ROWS:
            table.problem(row.line, "", f"more than {MAX_ROWS:,} values in one file")
            break
        before = len(table.problems)
        checked = {
            column: _checked(table, row, column, check)
            for column, check in (
                ("area_code", check_gss),
                ("area_name", _required("an area name")),
                ("metric", _metric),
                ("period", _required("a period")),
                ("published", check_date),
                ("comparison_group", check_group),
            )
        }
        number: float | None = None
        try:
            number = tabular.number(row.get("value"))
        except ValueError as exc:
            table.problem(row.line, "value", f"{row.get('value')[:40]!r}: {exc}")
        if len(table.problems) == before:
            found.append(
                ValueIn(
                    checked["comparison_group"] or group or DEFAULT_GROUP,
                    checked["metric"],
                    checked["area_code"],
                    checked["area_name"],
                    checked["period"],
                    number,
                    checked["published"] or None,
                )
            )
    _no_repeats(table, found)
    return table.done(found)


def _normalised_header(text: str) -> str:
    first, newline, rest = text.partition("\n")
    header = next(csv.reader([first.rstrip("\r")]), [])
    names = [ALIASES.get(h.strip().lower(), h.strip().lower().replace(" ", "_")) for h in header]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(names)
    return out.getvalue() + newline + rest


def _checked(table: tabular.Table, row: tabular.Row, column: str, check: Callable[[str], str]) -> str:
    """The cell of ``column`` checked (``""`` when empty and optional, or after noting its problem)."""
    text = row.get(column)
    if not text and column in ("published", "comparison_group"):
        return ""
    try:
        return check(text)
    except InvalidInput as exc:
        table.problem(row.line, column, f"{text[:40]!r} {exc.why}")
    except ValueError as exc:
        table.problem(row.line, column, str(exc) if not text else f"{text[:40]!r}: {exc}")
    return ""


def _required(what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not text:
            raise ValueError(f"give {what}")
        return tabular.not_a_formula(text)

    return check


def _metric(text: str) -> str:
    if not re.match(r"^[A-Za-z0-9_.-]{1,32}$", text):
        raise ValueError("a metric identifier is up to 32 letters, digits, _ . or -, like 2142")
    return text


def _no_repeats(table: tabular.Table, found: Sequence[ValueIn]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for value in found:
        key = (value.group, value.metric, value.period, value.area_gss)
        if key in seen:
            table.problem(
                None,
                "area_code",
                f"{value.area_gss} has two values for metric {value.metric} in {value.period}",
            )
        seen.add(key)


def _read_json(path: Path, group: str | None) -> list[ValueIn]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataFileError([Problem(str(path), None, "", f"not a readable JSON file: {exc}")]) from exc
    return parse_data(document, str(path), group or DEFAULT_GROUP)


def parse_data(
    document: object, file: str, group: str, *, source_published: str | None = None
) -> list[ValueIn]:
    """The values of an LG Inform data response (or a JSON export of one): ``columns``, one
    per metric and period (``metricType.identifier``, ``period.label``, optional
    ``published``), and ``rows``, one per area (``area.identifier`` a GSS code, ``area.label``)
    with ``values`` in the order of the columns (``value`` a number, or ``null`` where nothing
    is published). Every problem is raised together, named by its path (``rows.3.values.0``)."""
    problems: list[Problem] = []

    def problem(where: str, message: str) -> None:
        problems.append(Problem(file, None, where, message))

    if not isinstance(document, Mapping):
        raise DataFileError([Problem(file, None, "", "expected an object with columns and rows")])
    columns: list[tuple[str, str, str | None]] = []
    raw_columns = document.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        problem("columns", "expected a list of the metric and period of each value column")
        raw_columns = []
    for i, column in enumerate(raw_columns):
        metric = _path(column, "metricType", "identifier")
        period = _path(column, "period", "label")
        published = _path(column, "published") or source_published
        try:
            metric_text = _metric(str(metric)) if isinstance(metric, (str, int)) else _metric("")
            period_text = _required("a period")(str(period) if isinstance(period, str) else "")
            published_text = check_date(str(published)) if published else None
        except InvalidInput as exc:
            problem(f"columns.{i}.published", f"{exc.value!r} {exc.why}")
            continue
        except ValueError as exc:
            problem(f"columns.{i}", str(exc))
            continue
        columns.append((metric_text, period_text, published_text))
    rows = document.get("rows")
    if not isinstance(rows, list):
        problem("rows", "expected a list of areas with their values")
        rows = []
    if len(rows) * max(len(columns), 1) > MAX_ROWS:
        problem("rows", f"more than {MAX_ROWS:,} values in one file")
        rows = []
    found: list[ValueIn] = []
    for r, row in enumerate(rows):
        gss, name = _path(row, "area", "identifier"), _path(row, "area", "label")
        cells = _path(row, "values")
        try:
            area = check_gss(str(gss) if isinstance(gss, str) else "", f"rows.{r}.area.identifier")
            area_name = _required("an area name")(name if isinstance(name, str) else "")
        except ValueError as exc:
            problem(f"rows.{r}.area", str(exc))
            continue
        if not isinstance(cells, list) or len(cells) != len(columns):
            problem(f"rows.{r}.values", f"expected {len(columns)} value(s), one for each column")
            continue
        for c, cell in enumerate(cells):
            raw = cell.get("value") if isinstance(cell, Mapping) else None
            try:
                number = None if raw is None else values.parse_number(str(raw))
            except ValueError as exc:
                problem(f"rows.{r}.values.{c}.value", f"{str(raw)[:40]!r}: {exc}")
                continue
            metric, period, published = columns[c]
            found.append(ValueIn(group, metric, area, area_name, period, number, published))
    if problems:
        raise DataFileError(problems)
    table = tabular.Table(file, (), [])
    _no_repeats(table, found)
    return table.done(found)


def _path(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


class Comparators(StoreService):
    """An organisation's area, its comparator values and its measures' positions."""

    # -- the organisation's area ------------------------------------------------------------

    def set_area(self, organisation: str, gss_code: str, *, by: str) -> str:
        """Set ``organisation``'s GSS code (checked; audited); return it as stored."""
        code = check_gss(gss_code)
        with self.store.write() as s:
            set_area_in(s, find_organisation(s, organisation), code, by=by, at=self.clock.now())
        return code

    def area(self, organisation: str) -> str | None:
        """``organisation``'s GSS code, if it has one."""
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            return s.scalar(
                select(OrganisationArea.gss_code).where(OrganisationArea.organisation_id == org.id)
            )

    def areas(self) -> dict[str, str]:
        """Every organisation's GSS code by organisation code (those with one)."""
        with self.store.read() as s:
            rows = s.execute(
                select(Organisation.code, OrganisationArea.gss_code).join(
                    OrganisationArea, OrganisationArea.organisation_id == Organisation.id
                )
            )
            return {str(code): str(gss) for code, gss in rows}

    # -- values ------------------------------------------------------------------------------

    def import_file(self, organisation: str, path: Path, *, by: str, group: str | None = None) -> Stored:
        """Store the values of the LG Inform export ``path`` (all or nothing; audited)."""
        if group is not None:
            check_group(group)
        found = read_export(path, group)
        return self.store_values(organisation, found, source=f"LG Inform export {path.name}", by=by)

    def store_values(self, organisation: str, found: Sequence[ValueIn], *, source: str, by: str) -> Stored:
        """Store ``found`` for ``organisation`` in one transaction, each (group, metric, period)
        set replacing the one there; recorded in the audit log as ``comparators.stored``."""
        now = self.clock.now()
        sets = sorted({(v.group, v.metric, v.period) for v in found})
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            for group, metric, period in sets:
                s.execute(
                    delete(ComparatorValue).where(
                        ComparatorValue.organisation_id == org.id,
                        ComparatorValue.comparison_group == group,
                        ComparatorValue.metric == metric,
                        ComparatorValue.period == period,
                    )
                )
            s.flush()
            s.add_all(
                ComparatorValue(
                    organisation_id=org.id,
                    comparison_group=v.group,
                    metric=v.metric,
                    area_gss=v.area_gss,
                    area_name=v.area_name,
                    period=v.period,
                    value=v.value,
                    source=source[:200],
                    published_on=v.published_on,
                    retrieved_at=now,
                    retrieved_by=by,
                )
                for v in found
            )
            data = {
                "source": source[:200],
                "values": len(found),
                "sets": [f"{g}/{m}/{p}" for g, m, p in sets][:50],
            }
            audit_organisation(s, organisation, "comparators.stored", by, data, now)
        return Stored(len(found), len(sets))

    def metrics(self, organisation: str) -> dict[str, str]:
        """The comparator metric of each of ``organisation``'s measures that has one, by measure code."""
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            rows = s.execute(
                select(Measure.code, Measure.comparator_metric).where(
                    Measure.organisation_id == org.id, Measure.comparator_metric.is_not(None)
                )
            )
            return {str(code): str(metric) for code, metric in rows}

    # -- positions ---------------------------------------------------------------------------

    def positions(self, organisation: str) -> dict[str, list[Position]]:
        """Each measure's position in every comparison group holding values of its metric
        (the latest period of each), by measure code; measures without a metric are left out."""
        with self.store.read() as s:
            return positions_in(s, find_organisation(s, organisation).id)


def set_area_in(s: Session, org: Organisation, gss_code: str, *, by: str, at: datetime) -> None:
    """Set ``org``'s GSS code in the transaction ``s``, with its audit entry."""
    code = check_gss(gss_code)
    there = s.get(OrganisationArea, org.id)
    previous = there.gss_code if there is not None else None
    if there is None:
        s.add(OrganisationArea(organisation_id=org.id, gss_code=code, set_at=at, set_by=by))
    else:
        there.gss_code, there.set_at, there.set_by = code, at, by
    s.flush()
    audit_organisation(s, org.code, "organisation.area_set", by, {"gss_code": code, "previous": previous}, at)


def positions_in(s: Session, organisation_id: int) -> dict[str, list[Position]]:
    """``Comparators.positions`` inside a transaction (the report builds its content in one)."""
    own = s.scalar(
        select(OrganisationArea.gss_code).where(OrganisationArea.organisation_id == organisation_id)
    )
    measures = list(
        s.execute(
            select(Measure.code, Measure.comparator_metric, Measure.polarity).where(
                Measure.organisation_id == organisation_id, Measure.comparator_metric.is_not(None)
            )
        )
    )
    if not measures:
        return {}
    rows = list(
        s.scalars(
            select(ComparatorValue).where(
                ComparatorValue.organisation_id == organisation_id,
                ComparatorValue.metric.in_({str(m) for _, m, _ in measures}),
            )
        )
    )
    found: dict[str, list[Position]] = {}
    for code, metric, polarity in measures:
        found[str(code)] = [
            position(group, str(metric), period, comparators, own, str(polarity))
            for group, period, comparators in _latest_sets(r for r in rows if r.metric == metric)
        ]
    return {code: positions for code, positions in found.items() if positions}


def _latest_sets(rows: Iterable[ComparatorValue]) -> list[tuple[str, str, list[Comparator]]]:
    """(group, its latest period, that period's values) for each group among ``rows``."""
    by_group: dict[str, dict[str, list[Comparator]]] = {}
    for r in rows:
        dated = r.published_on or r.retrieved_at.date().isoformat()
        by_group.setdefault(r.comparison_group, {}).setdefault(r.period, []).append(
            Comparator(r.area_gss, r.area_name, r.value, r.source, dated)
        )
    sets = []
    for group in sorted(by_group):
        period = max(by_group[group], key=period_order)
        sets.append((group, period, by_group[group][period]))
    return sets
