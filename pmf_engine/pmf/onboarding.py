"""Setting up a council from one file, and bulk uploads of its people and services.

``set_up`` reads a council file (YAML, or an ``.xlsx`` workbook with one sheet per part) and
adds, in one transaction, the organisation, its services, its people with their roles and its
committee meetings, each change audited as if made one by one. ``import_people`` and
``import_services`` add (or, for people already there, grant the roles they lack) from a CSV
file or the first sheet of a workbook. All three are all or nothing: every problem is listed
with the file, its line (a workbook's row) and the field (a YAML path such as
``people.3.roles.0``, a column, or ``SHEET!column``), and a file with any problem changes
nothing. A council file looks like this::

    organisation: {code: WDC, name: Wexcombe District Council, subdivision: ENG, gss_code: E07000033}
    services:
      - {code: HOUSING, name: Housing}
    people:
      - {username: ada, name: Ada Admin, email: ada@wexcombe.gov.uk, roles: [administrator]}
      - {username: hannah, name: Hannah Hughes, roles: ["service_manager:HOUSING"]}
    meetings:
      - {body: cabinet, starts: "2026-09-16 18:00", title: Cabinet}

The ``gss_code`` (optional) is the area's GSS code, which comparators with similar councils are
looked up by (``pmf_engine.pmf.comparison``). A role is ``ROLE`` (organisation-wide) or
``ROLE:SERVICE``; in a CSV cell or a workbook, a person's roles are separated by ``;``. A
committee must be one of ``calendar.bodies`` of ``framework.yaml``; a misspelt role, service or
committee is refused with the nearest name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.definition import RolesPolicy
from pmf_engine.core.directory import RESERVED_NAMES, Directory, Grant, check_code, find_actor
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, DefinitionError, InvalidInput, Problem
from pmf_engine.core.registry import PEOPLE_MANAGE
from pmf_engine.core.store import Actor, Organisation, find_organisation
from pmf_engine.core.workdays import SUBDIVISIONS
from pmf_engine.core.yamlload import Document, load_yaml
from pmf_engine.pmf import tabular
from pmf_engine.pmf.comparators import set_area_in
from pmf_engine.pmf.comparison import check_gss
from pmf_engine.pmf.meetings import CommitteeCalendar, MeetingRow, meeting_row

log = structlog.get_logger("pmf_engine.onboarding")

PEOPLE_COLUMNS = ("username", "name", "email", "roles")
SERVICE_COLUMNS = ("code", "name")
MEETING_COLUMNS = ("body", "starts", "title", "location", "uid")
SHEETS: dict[str, tuple[str, ...]] = {
    "organisation": ("code", "name"),
    "services": SERVICE_COLUMNS[:2],
    "people": ("username", "name"),
    "meetings": ("body", "starts"),
}
"""The sheets of a council workbook, each with the columns it must have."""
_ROLES_SPLIT = re.compile(r"[;\n]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "services": SERVICE_COLUMNS,
    "people": PEOPLE_COLUMNS,
    "meetings": MEETING_COLUMNS,
}
MAX_ROWS = 5_000
"""The most people, services or meetings one file may hold."""


@dataclass(frozen=True, slots=True)
class Record:
    """One row or mapping of a file: its values, and where each field of it is (its line and
    the name a problem gives it)."""

    values: Mapping[str, Any]
    locate: Callable[[str], tuple[int | None, str]]

    def text(self, name: str) -> str:
        """The field's value as stripped text (``""`` when it is missing)."""
        value = self.values.get(name)
        return "" if value is None else str(value).strip()


@dataclass(frozen=True, slots=True)
class PersonIn:
    """A person to add (or, in an import, one already there to give more roles)."""

    username: str
    name: str
    email: str | None
    grants: tuple[tuple[str, str | None], ...]
    """(role, service or ``None``) in the organisation."""
    record: Record


@dataclass(frozen=True, slots=True)
class ServiceIn:
    """A service to add."""

    code: str
    name: str
    record: Record


@dataclass(frozen=True)
class CouncilIn:
    """A council file, read and checked on its own (not yet against the database)."""

    file: str
    code: str
    name: str
    subdivision: str
    organisation: Record
    services: list[ServiceIn]
    people: list[PersonIn]
    meetings: list[MeetingRow]
    gss_code: str | None = None


@dataclass(frozen=True)
class SetUp:
    """What a set-up or an import did."""

    organisation: str
    services: int = 0
    people: int = 0
    people_updated: int = 0
    roles: int = 0
    meetings: int = 0
    unchanged: int = 0


@dataclass
class _Problems:
    """The problems found so far in one file."""

    file: str
    found: list[Problem] = field(default_factory=list)

    def at(self, record: Record, name: str, message: str) -> None:
        line, where = record.locate(name)
        self.found.append(Problem(self.file, line, where, message))

    def raise_any(self) -> None:
        if self.found:
            raise DataFileError(self.found)


class Onboarding:
    """Councils set up from a file, and bulk uploads of people and services, over one engine."""

    def __init__(self, engine: Engine, calendar: CommitteeCalendar) -> None:
        self.engine = engine
        self.store = engine.store
        self.directory: Directory = engine.directory
        self.roles: RolesPolicy = engine.catalog.roles
        self.calendar = calendar

    # -- a whole council ---------------------------------------------------------------------

    def read_council(self, path: Path) -> CouncilIn:
        """The council in ``path`` (``.yaml``/``.yml`` or ``.xlsx``), checked on its own;
        ``DataFileError`` listing every problem."""
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            parts = _yaml_parts(path)
        elif suffix == ".xlsx":
            parts = _sheet_parts(path)
        else:
            raise DataFileError([Problem(str(path), None, "", "use a .yaml file or an .xlsx workbook")])
        org_record, service_records, people_records, meeting_records = parts
        problems = _Problems(str(path))
        code, name = org_record.text("code"), org_record.text("name")
        subdivision = org_record.text("subdivision").upper() or "ENG"
        _check_field(problems, org_record, "code", code, lambda v: check_code("organisation code", v))
        if not name:
            problems.at(org_record, "name", "the organisation needs a name")
        if subdivision not in SUBDIVISIONS:
            problems.at(org_record, "subdivision", f"must be one of {', '.join(SUBDIVISIONS)}")
        gss_code = org_record.text("gss_code") or None
        if gss_code is not None:
            try:
                gss_code = check_gss(gss_code)
            except InvalidInput as exc:
                problems.at(org_record, "gss_code", f"{gss_code[:40]!r} {exc.why}")
        services = self._services(problems, service_records)
        people = self._people(problems, people_records, {s.code for s in services})
        managers = set(self.roles.roles_permitted(PEOPLE_MANAGE))
        if not any(role in managers for person in people for role, _ in person.grants):
            problems.at(
                org_record,
                "",
                f"nobody in the file holds a role with {PEOPLE_MANAGE} ({', '.join(sorted(managers))}): "
                "the council could not look after its own people",
            )
        meetings: list[MeetingRow] = []
        seen: set[object] = set()
        for record in _bounded(problems, meeting_records, "meetings"):
            line, where = record.locate("")
            row = meeting_row(record.values, str(path), line, where, problems.found, self.calendar.policy)
            if row is None:
                continue
            same = row.uid or (row.body, row.starts_at)  # a meeting's uid is made from these
            if same in seen:
                problems.at(
                    record, "", "the same meeting is given twice (its uid, or its committee and time)"
                )
                continue
            seen.add(same)
            meetings.append(row)
        problems.raise_any()
        return CouncilIn(str(path), code, name, subdivision, org_record, services, people, meetings, gss_code)

    def set_up(self, path: Path, *, by: str, check_only: bool = False) -> SetUp:
        """Add the council of ``path``: all of it in one transaction, or nothing. With
        ``check_only``, every check is made (the database's too) and nothing is written."""
        council = self.read_council(path)
        if check_only:
            with self.store.read() as s:
                self._check_against(s, council)
            return _planned(council)
        with self.store.write() as s:
            self._check_against(s, council)
            org = self.directory.organisation_in(
                s, council.code, council.name, subdivision=council.subdivision, by=by
            )
            if council.gss_code is not None:
                set_area_in(s, org, council.gss_code, by=by, at=self.engine.clock.now())
            for service in council.services:
                self.directory.service_in(s, org, service.code, service.name, by=by)
            roles = 0
            for person in council.people:
                actor = self.directory.actor_in(s, person.username, person.name, email=person.email, by=by)
                for role, service_code in person.grants:
                    roles += self.directory.grant_in(s, actor, Grant(role, council.code, service_code), by)
            for meeting in council.meetings:
                self.calendar.add_in(s, org, meeting, by=by)
        done = replace(_planned(council), roles=roles)
        log.info("organisation.set_up", organisation=council.code, actor=by, file=path.name)
        return done

    @staticmethod
    def _check_against(s: Session, council: CouncilIn) -> None:
        """``DataFileError`` if the organisation, or one of the people, is there already."""
        problems = _Problems(council.file)
        if s.scalar(select(Organisation.id).where(Organisation.code == council.code)) is not None:
            problems.at(
                council.organisation,
                "code",
                f"organisation {council.code!r} already exists: add to it with pmf service import "
                "and pmf actor import",
            )
            problems.raise_any()
        taken = _existing(s, [p.username for p in council.people])
        for person in council.people:
            if person.username in taken:
                problems.at(
                    person.record,
                    "username",
                    f"actor {person.username!r} already exists: leave them out and grant their "
                    "roles afterwards (pmf actor grant)",
                )
        problems.raise_any()

    # -- bulk uploads into an organisation ------------------------------------------------------

    def import_services(self, organisation: str, path: Path, *, by: str) -> SetUp:
        """Add the services of a CSV file or workbook (``code``, ``name``) to ``organisation``;
        one already there with the same name is left as it is."""
        table = tabular.read_table(path, SERVICE_COLUMNS, known=SERVICE_COLUMNS.__contains__, excel=True)
        problems = _Problems(table.file, list(table.problems))
        services = self._services(problems, _table_records(table))
        problems.raise_any()
        added = unchanged = 0
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            existing = {svc.code: svc for svc in org.services}
            for service in services:
                there = existing.get(service.code)
                if there is not None and there.name != service.name:
                    problems.at(
                        service.record,
                        "name",
                        f"service {service.code!r} exists already, called {there.name!r}",
                    )
            problems.raise_any()
            for service in services:
                if service.code in existing:
                    unchanged += 1
                else:
                    self.directory.service_in(s, org, service.code, service.name, by=by)
                    added += 1
        log.info("services.imported", organisation=organisation, actor=by, added=added)
        return SetUp(organisation, services=added, unchanged=unchanged)

    def import_people(self, organisation: str, path: Path, *, by: str) -> SetUp:
        """Add the people of a CSV file or workbook (``username``, ``name``, ``email``, ``roles``)
        with their roles in ``organisation``. Someone already there (the same username and
        name) is given the roles of the row they lack; the same username with another name is
        a problem of its row (two people, one username)."""
        table = tabular.read_table(path, SHEETS["people"], known=PEOPLE_COLUMNS.__contains__, excel=True)
        problems = _Problems(table.file, list(table.problems))
        with self.store.read() as s:
            codes = {svc.code for svc in find_organisation(s, organisation).services}
        people = self._people(problems, _table_records(table), codes)
        problems.raise_any()
        added = updated = unchanged = roles = 0
        with self.store.write() as s:
            find_organisation(s, organisation)
            taken = _existing(s, [p.username for p in people])
            for person in people:
                there = taken.get(person.username)
                if there is not None and there != person.name:
                    problems.at(person.record, "name", f"{person.username!r} is taken by {there!r}")
            problems.raise_any()
            for person in people:
                if person.username in taken:
                    actor = find_actor(s, person.username)
                else:
                    actor = self.directory.actor_in(
                        s, person.username, person.name, email=person.email, by=by
                    )
                    added += 1
                given = sum(
                    self.directory.grant_in(s, actor, Grant(role, organisation, svc), by)
                    for role, svc in person.grants
                )
                roles += given
                if person.username in taken:
                    updated += given > 0
                    unchanged += given == 0
        log.info("people.imported", organisation=organisation, actor=by, added=added, updated=updated)
        return SetUp(organisation, people=added, people_updated=updated, roles=roles, unchanged=unchanged)

    # -- checks shared by the file and the uploads ----------------------------------------------

    def _services(self, problems: _Problems, records: Sequence[Record]) -> list[ServiceIn]:
        found: list[ServiceIn] = []
        seen: set[str] = set()
        for record in _bounded(problems, records, "services"):
            code, name = record.text("code"), record.text("name")
            if not _check_field(problems, record, "code", code, lambda v: check_code("service code", v)):
                continue
            if code in seen:
                problems.at(record, "code", f"service {code!r} is given twice")
                continue
            seen.add(code)
            if not name:
                problems.at(record, "name", f"service {code!r} needs a name")
                continue
            found.append(ServiceIn(code, name, record))
        return found

    def _people(self, problems: _Problems, records: Sequence[Record], services: set[str]) -> list[PersonIn]:
        found: list[PersonIn] = []
        seen: set[str] = set()
        for record in _bounded(problems, records, "people"):
            username, name, email = record.text("username"), record.text("name"), record.text("email")
            ok = _check_field(problems, record, "username", username, _check_username)
            if ok and username in seen:
                problems.at(record, "username", f"{username!r} is given twice")
                ok = False
            seen.add(username)
            if not name:
                problems.at(record, "name", "a person needs a name")
                ok = False
            if email and not _EMAIL.match(email):
                problems.at(record, "email", f"{email[:80]!r} is not an e-mail address")
                ok = False
            grants = self._grants(problems, record, services)
            if ok and grants is not None:
                found.append(PersonIn(username, name, email or None, grants, record))
        return found

    def _grants(
        self, problems: _Problems, record: Record, services: set[str]
    ) -> tuple[tuple[str, str | None], ...] | None:
        """The roles of a person's record, or ``None`` after noting what is wrong with them."""
        raw = record.values.get("roles")
        if raw is None or raw == "":
            items: list[tuple[str, str]] = []
        elif isinstance(raw, list):
            items = [(f"roles.{i}", str(item).strip()) for i, item in enumerate(raw)]
        elif isinstance(raw, str):
            items = [("roles", part.strip()) for part in _ROLES_SPLIT.split(raw) if part.strip()]
        else:
            problems.at(
                record, "roles", "list the roles, e.g. [performance_officer, service_manager:HOUSING]"
            )
            return None
        grants: list[tuple[str, str | None]] = []
        ok = True
        for where, text in items:
            role, _, service = text.partition(":")
            role, service = role.strip(), service.strip()
            why = self._role_problem(role, service or None, services)
            if why is not None:
                problems.at(record, where, f"{text!r}: {why}")
                ok = False
            elif (role, service or None) not in grants:
                grants.append((role, service or None))
        return tuple(grants) if ok else None

    def _role_problem(self, role: str, service: str | None, services: set[str]) -> str | None:
        known = self.roles.roles
        if role not in known:
            return f"unknown role{_did_you_mean(role, known)}; the roles are {', '.join(known)}"
        try:
            self.directory.check_role(role, service)
        except InvalidInput as exc:
            return exc.why + (" (write ROLE:SERVICE)" if known[role].scope == "service" else "")
        if service is not None and service not in services:
            return f"no service {service!r}{_did_you_mean(service, services)}"
        return None


def _planned(council: CouncilIn) -> SetUp:
    """What setting up ``council`` adds (each role granted once: the file names it once)."""
    return SetUp(
        council.code,
        services=len(council.services),
        people=len(council.people),
        roles=sum(len(p.grants) for p in council.people),
        meetings=len(council.meetings),
    )


def _check_username(value: str) -> None:
    check_code("username", value, pattern=re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"))
    if value in RESERVED_NAMES:
        raise InvalidInput("username", value, "is reserved for the engine's own work")


def _check_field(
    problems: _Problems, record: Record, name: str, value: str, check: Callable[[str], None]
) -> bool:
    if not value:
        problems.at(record, name, f"{name} is missing")
        return False
    try:
        check(value)
    except InvalidInput as exc:
        problems.at(record, name, f"{value[:40]!r} {exc.why}")
        return False
    return True


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _bounded(problems: _Problems, records: Sequence[Record], what: str) -> Sequence[Record]:
    if len(records) > MAX_ROWS:
        problems.found.append(Problem(problems.file, None, what, f"more than {MAX_ROWS:,} {what}"))
        return records[:MAX_ROWS]
    return records


def _existing(s: Session, usernames: Sequence[str]) -> dict[str, str]:
    """Name by username of those of ``usernames`` that are actors already."""
    if not usernames:
        return {}
    return {
        str(u): str(n)
        for u, n in s.execute(select(Actor.username, Actor.name).where(Actor.username.in_(list(usernames))))
    }


# -- reading the parts of a council file -----------------------------------------------------

_Parts = tuple[Record, list[Record], list[Record], list[Record]]


def _yaml_parts(path: Path) -> _Parts:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    try:
        doc = load_yaml(text, str(path))
    except DefinitionError as exc:  # the YAML reader's own error; here the file is data
        raise DataFileError(exc.problems) from exc
    if not isinstance(doc.data, dict):
        raise DataFileError([doc.problem((), "expected organisation, services, people and meetings")])
    problems = [
        doc.problem((str(key),), f"unknown part {key!r}; a council file has {', '.join(SHEETS)}")
        for key in doc.data
        if key not in SHEETS
    ]
    organisation = doc.data.get("organisation")
    if not isinstance(organisation, dict):
        problems.append(doc.problem(("organisation",), "give the organisation's code and name"))
        organisation = {}
    lists: dict[str, list[Record]] = {}
    for part in ("services", "people", "meetings"):
        items = doc.data.get(part) or []
        if not isinstance(items, list):
            problems.append(doc.problem((part,), f"{part} is a list"))
            items = []
        lists[part] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                problems.append(doc.problem((part, i), "each entry is a mapping of field: value"))
                continue
            columns = _COLUMNS[part]
            problems += [
                doc.problem((part, i, str(k)), f"unknown field {k!r}; use {', '.join(columns)}")
                for k in item
                if k not in columns
            ]
            lists[part].append(Record(item, _yaml_locator(doc, (part, i))))
    for k in organisation:
        if k not in ("code", "name", "subdivision", "gss_code"):
            problems.append(doc.problem(("organisation", str(k)), f"unknown field {k!r}"))
    if problems:
        raise DataFileError(problems)
    org = Record(organisation, _yaml_locator(doc, ("organisation",)))
    return org, lists["services"], lists["people"], lists["meetings"]


def _yaml_locator(doc: Document, base: tuple[str | int, ...]) -> Callable[[str], tuple[int | None, str]]:
    def locate(name: str) -> tuple[int | None, str]:
        path = (*base, *(int(p) if p.isdigit() else p for p in name.split("."))) if name else base
        return doc.line_of(path), ".".join(str(p) for p in path)

    return locate


def _sheet_parts(path: Path) -> _Parts:
    tables = tabular.read_sheets(path, SHEETS)
    problems = [p for table in tables.values() for p in table.problems]
    organisation = tables["organisation"].rows
    if len(organisation) != 1:
        problems.append(
            Problem(
                str(path),
                None,
                "organisation",
                "the organisation sheet has one row: code, name, subdivision, gss_code",
            )
        )
    if problems:
        raise DataFileError(problems)
    records = {name: _table_records(table, sheet=name) for name, table in tables.items()}
    return records["organisation"][0], records["services"], records["people"], records["meetings"]


def _table_records(table: tabular.Table, sheet: str | None = None) -> list[Record]:
    prefix = f"{sheet}!" if sheet else ""

    def locator(line: int) -> Callable[[str], tuple[int | None, str]]:
        return lambda name: (line, prefix + (name.split(".")[0] if name else f"row {line}"))

    return [
        Record({k: v for k, v in row.cells.items() if v.strip()}, locator(row.line)) for row in table.rows
    ]


def is_council_file(name: str) -> bool:
    """Whether a file of this name can be a council file (by its extension)."""
    return Path(name).suffix.lower() in (".yaml", ".yml", ".xlsx")
