"""Setting up a council from one file (``pmf org init``), bulk uploads of people and services
(``pmf actor import``, ``pmf service import``), and the administration commands around them,
through the command line on a rehearsal database: all or nothing, every problem named by file,
line and field, every change audited. The README's "Set up your council" runs as written."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from pmf_engine.app.wiring import load_catalog
from pmf_engine.core.clock import LONDON, ManualClock, SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import AuditEntry, Store
from pmf_engine.interfaces.main import main
from tests.conftest import POLICIES, ROOT, WORKFLOWS, services

EXAMPLES = ROOT / "examples" / "council_setup"
WEXCOMBE = EXAMPLES / "wexcombe.yaml"
KINGSMERE = EXAMPLES / "kingsmere.yaml"
NOW = "2026-10-02 09:00"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'council.db'}"
    created = CliRunner().invoke(main, ["--db", url, "db", "upgrade", "--rehearsal"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    return url


@pytest.fixture
def pmf(db: str):  # type: ignore[no-untyped-def]
    """The CLI on the rehearsal database, acting at ``NOW`` unless told another time."""

    def run(*args: str, now: str = NOW) -> Result:
        options = ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES)]
        result = CliRunner().invoke(
            main, [*options, "--log-level", "warning", "--now", now, *args], catch_exceptions=False
        )
        assert "Traceback" not in result.output
        return result

    return run


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _audit_count(db: str) -> int:
    store = Store(db)
    try:
        with store.read() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    finally:
        store.dispose()


def _problems(result: Result) -> list[str]:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert all(line.startswith("invalid: ") for line in lines), lines
    return [line.removeprefix("invalid: ") for line in lines]


# -- one file -------------------------------------------------------------------------------


def test_org_init_sets_up_the_whole_council_in_one_command(pmf, db: str) -> None:  # type: ignore[no-untyped-def]
    """3 services, 9 people with their roles and 6 meetings from one file (it took 26
    commands); each change is audited as bootstrap, and the council can then run a cycle."""
    checked = _ok(pmf("org", "init", str(WEXCOMBE), "--check", "--bootstrap"))
    assert checked.strip() == (
        "organisation WDC can be set up: 3 service(s), 9 person(s) with 10 role(s), 6 meeting(s)"
    )
    assert _audit_count(db) == 0 and _ok(pmf("org", "list")) == ""
    done = _ok(pmf("org", "init", str(WEXCOMBE), "--bootstrap"))
    assert done.strip() == "organisation WDC set up: 3 service(s), 9 person(s) with 10 role(s), 6 meeting(s)"
    assert re.fullmatch(r"WDC +Wexcombe District Council +ENG +E07000999 +3 service\(s\), 9 person\(s\)\n",
                        _ok(pmf("org", "list")))  # fmt: skip
    listed = [line.split(maxsplit=1) for line in _ok(pmf("service", "list", "WDC")).splitlines()]
    assert listed == [["HOUSING", "Housing"], ["PLANNING", "Planning and Building Control"],
                      ["WASTE", "Waste and Recycling"]]  # fmt: skip
    people = _ok(pmf("actor", "list"))
    assert "head_of_service@WDC/PLANNING, service_manager@WDC/PLANNING" in people
    assert len(people.splitlines()) == 9
    assert len(_ok(pmf("calendar", "list", "--org", "WDC")).splitlines()) == 6
    events = _ok(pmf("audit", "export", "--format", "csv"))
    for event, count in (("organisation.added", 1), ("service.added", 3), ("actor.added", 9),
                         ("role.granted", 10), ("meeting.added", 6)):  # fmt: skip
        assert events.count(f",{event},") == count, event
    assert "bootstrap" in events
    assert "verified" in _ok(pmf("audit", "verify"))
    started = _ok(pmf("cycle", "start", "--org", "WDC", "--period", "2026-27-Q2", "--as", "priya"))
    assert "with 3 child instance(s)" in started
    # Again: the organisation is there, and nothing more is written.
    before = _audit_count(db)
    for check in ([], ["--check"]):
        (problem,) = _problems(pmf("org", "init", str(WEXCOMBE), *check, "--as", "ada"))
        assert problem.startswith(f"{WEXCOMBE}:7: [organisation.code] organisation 'WDC' already exists")
    assert _audit_count(db) == before


def test_a_bad_council_file_lists_every_problem_and_adds_nothing(pmf, db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Misspelt role, service and committee (each with the nearest name), a service role with
    no service, a bad e-mail, a duplicate: one line each with the line and YAML path."""
    text = WEXCOMBE.read_text()
    text = text.replace("roles: [cmt_member]", "roles: [cmt_membr]")
    text = text.replace('"service_manager:WASTE"', '"service_manager:WSTE"')
    text = text.replace("{body: leadership,", "{body: leadershp,")
    text = text.replace('{body: cabinet, starts: "2026-12-16', '{body: cabnet, starts: "2026-12-16')
    text = text.replace("email: sam@wexcombe.gov.uk", "email: sam-at-wexcombe")
    text = text.replace("{username: clara,", "{username: carl,")
    path = tmp_path / "council.yaml"
    path.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    problems = _problems(pmf("org", "init", str(path), "--bootstrap"))
    expected = [
        (line_of("Wes Walker"), "people.3.roles.0", "no service 'WSTE' (did you mean 'WASTE'?)"),
        (line_of("cmt_membr"), "people.5.roles.0", "unknown role (did you mean 'cmt_member'?)"),
        (line_of("Clara Cross"), "people.7.username", "'carl' is given twice"),
        (line_of("sam-at"), "people.8.email", "is not an e-mail address"),
        (line_of("leadershp"), "meetings.1", "did you mean 'leadership'?"),
        (line_of("cabnet"), "meetings.3", "did you mean 'cabinet'?"),
    ]
    assert len(problems) == len(expected), problems
    for problem, (line, field, message) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{path}:{line}: [{field}] "), problem
        assert message in problem, problem
    assert _audit_count(db) == 0
    assert _ok(pmf("org", "list")) == ""
    # A role for one service written without it, and a file in which nobody could manage people.
    path.write_text(WEXCOMBE.read_text().replace("roles: [administrator]", 'roles: ["service_manager"]'))
    problems = _problems(pmf("org", "init", str(path), "--bootstrap"))
    assert any("[people.0.roles.0] 'service_manager': held for one service" in p for p in problems)
    twice = WEXCOMBE.read_text() + '  - {body: cmt, starts: "2026-11-03 10:00", title: CMT again}\n'
    path.write_text(twice)
    (problem,) = _problems(pmf("org", "init", str(path), "--bootstrap"))
    assert problem == f"{path}:{len(twice.splitlines())}: [meetings.6] the same meeting is given twice " \
        "(its uid, or its committee and time)"  # fmt: skip
    assert any("[organisation] nobody in the file holds a role with people.manage" in p for p in problems)


def test_org_init_needs_organisation_manage_or_a_fresh_deployment(pmf) -> None:  # type: ignore[no-untyped-def]
    _ok(pmf("org", "init", str(WEXCOMBE), "--bootstrap"))
    refused = pmf("org", "init", str(KINGSMERE), "--bootstrap")
    assert refused.exit_code == 1 and "ada already hold 'organisation.manage'" in refused.stderr
    refused = pmf("org", "init", str(KINGSMERE), "--as", "priya")
    assert refused.exit_code == 1 and refused.stderr.startswith("NotPermitted:")
    assert "KBC set up" in _ok(pmf("org", "init", str(KINGSMERE), "--as", "ada"))


def _workbook(path: Path, source: Path, change: dict[tuple[str, int, str], str] | None = None) -> Path:
    """The council of a YAML file as a workbook: one sheet per part, roles joined by ';'."""
    data = yaml.safe_load(source.read_text())
    book = openpyxl.Workbook()
    book.remove(book.active)
    sheets = {
        "organisation": ("code", "name", "subdivision"),
        "services": ("code", "name"),
        "people": ("username", "name", "email", "roles"),
        "meetings": ("body", "starts", "title", "location"),
    }
    for name, columns in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append(list(columns))
        items = [data[name]] if name == "organisation" else data[name]
        for i, item in enumerate(items):
            row = [";".join(item[c]) if c == "roles" else item.get(c, "") for c in columns]
            if name == "meetings":  # a real date-and-time cell, as Excel keeps one
                row[1] = datetime.fromisoformat(row[1])
            for (sheet_name, index, column), value in (change or {}).items():
                if (sheet_name, index) == (name, i):
                    row[columns.index(column)] = value
            sheet.append(row)
    book.save(path)
    return path


def test_org_init_from_a_workbook(pmf, db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same council from an .xlsx workbook; a problem is named by row and SHEET!column."""
    bad = _workbook(tmp_path / "bad.xlsx", WEXCOMBE, {("people", 2, "roles"): "service_manager:HOUSNG"})
    (problem,) = _problems(pmf("org", "init", str(bad), "--bootstrap"))
    assert problem.startswith(f"{bad}:4: [people!roles] 'service_manager:HOUSNG': no service 'HOUSNG'")
    assert _audit_count(db) == 0
    good = _workbook(tmp_path / "council.xlsx", WEXCOMBE)
    done = _ok(pmf("org", "init", str(good), "--bootstrap"))
    assert "3 service(s), 9 person(s) with 10 role(s), 6 meeting(s)" in done
    assert "Tue 03 Nov 2026 10:00" in _ok(pmf("calendar", "list", "--org", "WDC"))


# -- bulk uploads -----------------------------------------------------------------------------


def test_bulk_upload_of_services_and_people(pmf, db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Services then people from CSV; the same files again change nothing; a file with a bad
    row is refused by row and column and adds nobody."""
    _ok(pmf("org", "init", str(WEXCOMBE), "--bootstrap"))
    assert _ok(pmf("service", "import", "WDC", str(EXAMPLES / "services.csv"), "--as", "ada")).strip() == (
        "2 service(s) added, 0 unchanged"
    )
    people = _ok(pmf("actor", "import", "WDC", str(EXAMPLES / "people.csv"), "--as", "ada")).strip()
    assert people == "3 person(s) added, 0 given more roles, 0 unchanged; 4 role(s) granted"
    assert "head_of_service@WDC/PARKS, service_manager@WDC/PARKS" in _ok(pmf("actor", "list"))
    before = _audit_count(db)
    again = _ok(pmf("actor", "import", "WDC", str(EXAMPLES / "people.csv"), "--as", "ada")).strip()
    assert again == "0 person(s) added, 0 given more roles, 3 unchanged; 0 role(s) granted"
    assert "0 service(s) added, 2 unchanged" in _ok(
        pmf("service", "import", "WDC", str(EXAMPLES / "services.csv"), "--as", "ada")
    )
    assert _audit_count(db) == before
    # An existing person given one more role, a new one, and a bad row: nothing is added.
    bad = tmp_path / "people.csv"
    bad.write_text(
        "username,name,email,roles\n"
        "lily,Lily Lane,,service_manager:LEISURE;head_of_service:LEISURE\n"
        "nora,Nora North,nora@wexcombe.gov.uk,performance_officer\n"
        "wes,Someone Else,,auditor\n"
        "omar,Omar Oak,,service_manager:LEISURES\n"
    )
    problems = _problems(pmf("actor", "import", "WDC", str(bad), "--as", "ada"))
    assert problems == [
        f"{bad}:5: [roles] 'service_manager:LEISURES': no service 'LEISURES' (did you mean 'LEISURE'?)"
    ]
    bad.write_text(bad.read_text().replace("LEISURES", "LEISURE"))
    problems = _problems(pmf("actor", "import", "WDC", str(bad), "--as", "ada"))
    assert problems == [f"{bad}:4: [name] 'wes' is taken by 'Wes Walker'"]
    assert _audit_count(db) == before
    bad.write_text(bad.read_text().replace("wes,Someone Else", "wes,Wes Walker"))
    done = _ok(pmf("actor", "import", "WDC", str(bad), "--as", "ada")).strip()
    assert done == "2 person(s) added, 2 given more roles, 0 unchanged; 4 role(s) granted"
    refused = pmf("actor", "import", "WDC", str(bad), "--as", "priya")
    assert refused.exit_code == 1 and refused.stderr.startswith("NotPermitted:")
    services = tmp_path / "services.csv"
    services.write_text("code,name,colour\nHOUSING,Homes\nnot a code,X\n")
    assert _problems(pmf("service", "import", "WDC", str(services), "--as", "ada")) == [
        f"{services}:1: [colour] unknown column",
        f"{services}:3: [code] 'not a code' must be letters, digits, '-' or '_' (up to 32), no '/' or spaces",
    ]
    services.write_text("code,name\nHOUSING,Homes\nLEISURE,Leisure and Culture\n")
    assert _problems(pmf("service", "import", "WDC", str(services), "--as", "ada")) == [
        f"{services}:2: [name] service 'HOUSING' exists already, called 'Housing'"
    ]


def test_bulk_upload_of_people_from_a_workbook(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _ok(pmf("org", "init", str(WEXCOMBE), "--bootstrap"))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["username", "name", "email", "roles"])
    sheet.append(["audrey", "Audrey Adams", "audrey@wexcombe.gov.uk", "auditor"])
    sheet.append(["bill", "=HYPERLINK(1)", "", "auditor"])
    path = tmp_path / "people.xlsx"
    book.save(path)
    (problem,) = _problems(pmf("actor", "import", "WDC", str(path), "--as", "ada"))
    assert problem.startswith(f"{path}:3: [Sheet!B3] formulas are not accepted"), problem
    sheet["B3"] = "Bill Brown"
    book.save(path)
    assert "2 person(s) added" in _ok(pmf("actor", "import", "WDC", str(path), "--as", "ada"))


# -- the administration commands ------------------------------------------------------------


def test_administration_through_the_cli(pmf) -> None:  # type: ignore[no-untyped-def]
    """revoke, deactivate with a handover, cancel and delete a meeting, cancel a cycle with a
    reason, a misspelt committee and a far-off period: as a performance team types them."""
    _ok(pmf("org", "init", str(WEXCOMBE), "--bootstrap"))
    _ok(pmf("actor", "add", "harry", "--name", "Harry Hill", "--as", "ada"))
    assert "hannah no longer holds" in _ok(
        pmf("actor", "revoke", "hannah", "service_manager:WDC:HOUSING", "--reason", "moved", "--as", "ada")
    )
    refused = pmf("actor", "revoke", "hannah", "service_manager:WDC:HOUSING", "--as", "ada")
    assert refused.exit_code == 1 and refused.stderr.startswith("NotFound:")
    _ok(pmf("actor", "grant", "hannah", "service_manager:WDC:HOUSING", "--as", "ada"))
    _ok(pmf("cycle", "start", "--org", "WDC", "--period", "2026-27-Q2", "--as", "priya"))
    out = _ok(pmf("actor", "deactivate", "hannah", "--handover", "harry", "--reason", "left", "--as", "ada"))
    assert out.startswith("hannah deactivated: 1 role(s) taken away\n  handed to harry: 1 role(s), ")
    assert "(deactivated)" in next(
        line for line in _ok(pmf("actor", "list")).splitlines() if "hannah" in line
    )
    refused = pmf("fire", "WDC/2026-27-Q2", "submit", "--service", "HOUSING", "--as", "hannah")
    assert refused.exit_code == 1 and "deactivated" in refused.stderr
    _ok(pmf("fire", "WDC/2026-27-Q2", "submit", "--service", "HOUSING", "--as", "harry"))
    refused = pmf("actor", "deactivate", "wes", "--as", "priya")
    assert refused.exit_code == 1 and refused.stderr.startswith("NotPermitted:")

    refused = pmf("calendar", "add", "--org", "WDC", "cabnet", "2026-12-16 18:00", "--as", "priya")
    assert refused.exit_code == 1
    assert "did you mean 'cabinet'?" in refused.stderr and len(refused.stderr.splitlines()) == 1
    meetings = _ok(pmf("calendar", "list", "--org", "WDC")).splitlines()
    first_cabinet = next(line.split()[0] for line in meetings if " cabinet " in line)
    refused = pmf("calendar", "cancel", "--org", "WDC", first_cabinet, "--as", "priya")
    assert refused.exit_code == 2  # --reason is required
    assert "meeting cancelled" in _ok(
        pmf("calendar", "cancel", "--org", "WDC", first_cabinet, "--reason", "no quorum", "--as", "priya")
    )
    uid = next(line.split()[-1] for line in meetings if " scrutiny " in line)
    assert "meeting deleted" in _ok(pmf("calendar", "delete", "--org", "WDC", uid, "--as", "priya"))
    assert len(_ok(pmf("calendar", "list", "--org", "WDC")).splitlines()) == 4

    refused = pmf("cycle", "start", "--org", "WDC", "--period", "2062-63-Q2", "--as", "priya")
    assert (
        refused.exit_code == 1
        and "more than a year from today" in refused.stderr
        and "--yes" in refused.stderr
    )
    assert "2062-63-Q2" not in _ok(pmf("cycle", "list"))
    _ok(pmf("cycle", "start", "--org", "WDC", "--period", "2027-28-Q2", "--as", "priya", "--yes"))
    _ok(pmf("cycle", "start", "--org", "WDC", "--period", "2027-28-Q1", "--as", "priya"))  # within a year

    refused = pmf("cycle", "cancel", "WDC/2027-28-Q2", "--reason", "typo", "--as", "priya")
    assert refused.exit_code == 1 and refused.stderr.startswith("NotPermitted:")
    out = _ok(pmf("cycle", "cancel", "WDC/2027-28-Q2", "--reason", "started by mistake", "--as", "ada"))
    assert (
        out.strip() == "WDC/2027-28-Q2 cancelled (it was at data_request); 3 open child instance(s) with it"
    )
    status = _ok(pmf("cycle", "status", "WDC/2027-28-Q2"))
    assert "stage: Cancelled (_cancelled)" in status and "closed: nothing more can happen" in status
    refused = pmf("fire", "WDC/2027-28-Q2", "close_data_request", "--as", "priya")
    assert refused.exit_code == 1 and "TransitionNotAllowed:" in refused.stderr
    assert "verified" in _ok(pmf("audit", "verify"))


# -- a council of 15 services and 60 people ---------------------------------------------------


def test_a_large_council_set_up_runs_its_first_quarter(pmf, db: str) -> None:  # type: ignore[no-untyped-def]
    """Kingsmere (15 services, 60 people, 10 meetings) is set up from its file; its first
    quarter starts with a return per service, every service submits, the performance officer
    accepts, the data request closes and CMT review's deadline hangs on the calendar."""
    done = _ok(pmf("org", "init", str(KINGSMERE), "--bootstrap"))
    assert (
        done.strip() == "organisation KBC set up: 15 service(s), 60 person(s) with 60 role(s), 10 meeting(s)"
    )
    _ok(pmf("cycle", "start", "--org", "KBC", "--period", "2026-27-Q2", "--as", "chloe.clarke"))
    data = yaml.safe_load(KINGSMERE.read_text())
    managers = {
        role.split(":")[1]: p["username"]
        for p in data["people"]
        for role in p["roles"]
        if role.startswith("service_manager:")
    }
    heads = {  # each signs off their service's return before it is accepted (quality.signing)
        role.split(":")[1]: p["username"]
        for p in data["people"]
        for role in p["roles"]
        if role.startswith("head_of_service:")
    }
    store = Store(db)
    try:
        clock = ManualClock(datetime(2026, 10, 5, 9, 0, tzinfo=LONDON))
        engine = Engine(store, load_catalog(WORKFLOWS, POLICIES), clock)
        cycle = "KBC/2026-27-Q2"
        assert len(engine.status(cycle).children) == 15
        for service, manager in sorted(managers.items()):
            engine.fire(f"{cycle}/{service}", "submit", manager)
            if service in heads:
                services(engine).sign_offs.sign_off(f"{cycle}/{service}", by=heads[service])
            engine.fire(f"{cycle}/{service}", "accept", "dev.davies")
        assert engine.fire(cycle, "close_data_request", "chloe.clarke").to_state == "service_review"
        assert engine.fire(cycle, "complete_service_review", "chloe.clarke").to_state == "cmt_review"
        deadline = engine.status(cycle).deadline
        assert deadline is not None and deadline.due_at is not None
        assert deadline.due_at.astimezone(LONDON).date().isoformat() == "2026-11-04"  # CMT 3 Nov + 1
    finally:
        store.dispose()
    assert SystemClock  # the live clock is never used here: every command acts at --now


# -- the README -------------------------------------------------------------------------------


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up your council", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    return block


def test_readme_set_up_your_council_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command of the README's "Set up your council" runs from the repository's examples,
    succeeding except where its comment says it is refused."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    variables: dict[str, str] = {}
    commands = 0
    said: dict[str, str] = {}
    for line in _readme_block().splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if all(re.fullmatch(r"\w+=.*", w) for w in words):
            variables.update(w.split("=", 1) for w in words)
            continue
        expanded = shlex.split(re.sub(r"\$(\w+)", lambda m: variables[m[1]], line), comments=True)
        assert expanded[0] == "pmf", line
        result = CliRunner().invoke(main, ["--log-level", "warning", *expanded[1:]], catch_exceptions=False)
        assert result.exit_code == (1 if "# refused" in line else 0), (line, result.output)
        said[" ".join(w for w in expanded[1:] if not w.startswith("--") and "sqlite" not in w)] = (
            result.output
        )
        commands += 1
    assert commands >= 20
    assert (
        "3 service(s), 9 person(s) with 10 role(s), 6 meeting(s)"
        in said["2026-10-02T09:00 org init examples/council_setup/wexcombe.yaml"]
    )
    assert "3 unchanged" in said["2026-10-02T09:00 actor import WDC examples/council_setup/people.csv ada"]
    assert "stage: Cancelled" in said["2026-10-02T09:00 cycle status WDC/2027-28-Q2"]
    status = said["2026-10-02T09:00 cycle status WDC/2026-27-Q2"]
    assert re.search(r"HOUSING +Submitted", status) and re.search(r"WASTE +Submitted", status), status
    assert "verified" in said["audit verify"]


# -- one transaction, on each backend -------------------------------------------------------


def test_a_failure_half_way_through_a_set_up_leaves_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refusing the last meeting (after the organisation, services, people and
    roles were written in the same transaction) leaves no trace of the council; the same file
    then sets it up whole."""
    framework = services(engine)
    onboarding = framework.onboarding
    with engine.store.read() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    calls = []
    real = framework.calendar.add_in

    def flaky(s, org, row, *, by):  # type: ignore[no-untyped-def]
        calls.append(row)
        if len(calls) == 6:
            raise OSError("disk full")
        return real(s, org, row, by=by)

    monkeypatch.setattr(framework.calendar, "add_in", flaky)
    with pytest.raises(OSError, match="disk full"):
        onboarding.set_up(WEXCOMBE, by="system")
    with engine.store.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
    assert [o.code for o, _, _ in engine.directory.organisations()] == ["TDC"]
    assert "ada" not in {p.username for p, _ in engine.directory.actors()}
    monkeypatch.setattr(framework.calendar, "add_in", real)
    done = onboarding.set_up(WEXCOMBE, by="system")
    assert (done.services, done.people, done.roles, done.meetings) == (3, 9, 10, 6)
    assert engine.directory.services("WDC")[0].code == "HOUSING"
