"""The ``pmf`` command line as a performance officer uses it: exit codes 0, 1 and 2, one line
per problem, and never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store
from pmf_engine.interfaces.main import main
from tests.conftest import POLICIES, WORKFLOWS, seed

INVALID = Path(__file__).parent / "fixtures" / "invalid"
FILES_ONLY = pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
"""For a test of commands that read only files (validate, help, usage): one backend is enough;
every test whose commands use the database runs on SQLite and PostgreSQL."""


@pytest.fixture
def cli_db(empty_url: str) -> str:
    """The database the CLI runs on: a file that is not there yet (SQLite) or an empty database
    of the session's PostgreSQL server, as a council's first ``pmf db upgrade`` finds it."""
    return empty_url


@pytest.fixture
def pmf(cli_db: str):  # type: ignore[no-untyped-def]
    """The CLI on a rehearsal database (these tests act at the times of a 2024 quarter), on
    each backend."""
    db = cli_db
    created = CliRunner().invoke(main, ["--db", db, "db", "upgrade", "--rehearsal"], catch_exceptions=False)
    assert created.exit_code == 0 and "a rehearsal database" in created.output, created.output

    def run(*args: str) -> Result:
        result = CliRunner().invoke(
            main,
            ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output
        return result

    return run


def _bootstrap(pmf, code: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """A fresh database's set-up: the organisation, then its first administrator, ``admin``."""
    assert pmf("org", "add", code, name, "--bootstrap").exit_code == 0
    added = pmf("actor", "add", "admin", "--name", "Admin", "--role", f"administrator:{code}", "--bootstrap")
    assert added.exit_code == 0, added.stderr


@FILES_ONLY
def test_validate_shipped_workflows(pmf) -> None:  # type: ignore[no-untyped-def]
    result = pmf("workflow", "validate", str(WORKFLOWS))
    assert result.exit_code == 0
    assert result.stdout.count(": valid") == len(list(WORKFLOWS.glob("*.yaml")))


SHIPPED_FILES = len(list(WORKFLOWS.glob("*.yaml"))) + len(list(POLICIES.glob("*.yaml")))
"""Every workflow and policy file shipped: each one is validated and reported valid."""


@FILES_ONLY
def test_validate_without_paths_checks_the_configured_folders(pmf) -> None:  # type: ignore[no-untyped-def]
    """What a user of the installed wheel (no workflows/ folder of their own) can run."""
    result = pmf("workflow", "validate")
    assert result.exit_code == 0 and result.stdout.count(": valid") == SHIPPED_FILES, result.stdout


@FILES_ONLY
def test_validate_policies_too(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = pmf("workflow", "validate", str(WORKFLOWS), str(POLICIES))
    assert result.exit_code == 0 and result.stdout.count(": valid") == SHIPPED_FILES
    bad = tmp_path / "rag.yaml"
    bad.write_text("tolerance: {kind: percentage, value: 5}\n")
    refused = pmf("workflow", "validate", str(WORKFLOWS), str(bad))
    assert refused.exit_code == 1 and refused.stdout.startswith(f"{bad}:1: [tolerance.kind]")


@FILES_ONLY
def test_validate_framework_policy(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "framework.yaml"
    bad.write_text(
        (POLICIES / "framework.yaml").read_text().replace("close_trigger: close", "close_trigger: shut")
    )
    refused = pmf("workflow", "validate", str(WORKFLOWS), str(bad))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "close_trigger: shut" in text)
    assert refused.exit_code == 1
    assert refused.stdout.startswith(
        f"{bad}:{line}: [actions.close_trigger] 'scrutiny_action' has no trigger 'shut'"
    )


@FILES_ONLY
def test_validate_invalid_files_one_line_each(pmf) -> None:  # type: ignore[no-untyped-def]
    files = sorted(INVALID.glob("*.yaml"))
    result = pmf("workflow", "validate", *map(str, files))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert {line.split(":")[0] for line in lines} == {str(f) for f in files}
    assert all(line.split(":")[1].isdigit() for line in lines), lines


@FILES_ONLY
def test_validate_missing_file(pmf) -> None:  # type: ignore[no-untyped-def]
    result = pmf("workflow", "validate", "nope.yaml")
    assert result.exit_code == 1 and "cannot read file" in result.stdout


@FILES_ONLY
def test_usage_errors_exit_2(pmf) -> None:  # type: ignore[no-untyped-def]
    assert pmf("fire").exit_code == 2
    assert pmf("actor", "add", "x", "--name", "X", "--role", "nonsense").exit_code == 2
    assert pmf("cycle", "start", "--org", "X", "--period", "Q1", "--as", "y").exit_code != 0


@FILES_ONLY
def test_help_on_every_command(pmf) -> None:  # type: ignore[no-untyped-def]
    def walk(group, path):  # type: ignore[no-untyped-def]
        yield path
        for name, command in getattr(group, "commands", {}).items():
            yield from walk(command, [*path, name])

    for path in walk(main, []):
        result = pmf(*path, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout, path


def test_a_quarter_through_the_cli(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert pmf("db", "upgrade").exit_code == 0
    _bootstrap(pmf, "KDC", "Kenton District Council")
    for code in ("HOUSING", "WASTE"):
        assert pmf("service", "add", "KDC", code, code.title(), "--as", "admin").exit_code == 0
    people = {
        "po": ["performance_officer:KDC"],
        "smh": ["service_manager:KDC:HOUSING"],
        "smw": ["service_manager:KDC:WASTE"],
        "hos": ["head_of_service:KDC:HOUSING", "head_of_service:KDC:WASTE"],  # signs returns off
    }
    for user, roles in people.items():
        args = [a for r in roles for a in ("--role", r)]
        assert pmf("actor", "add", user, "--name", user.upper(), *args, "--as", "admin").exit_code == 0
    assert "service_manager@KDC/HOUSING" in pmf("actor", "list").stdout
    assert pmf("cycle", "start", "--org", "KDC", "--period", "2024-25-Q2", "--as", "po").exit_code == 0

    status = pmf("cycle", "status", "KDC/2024-25-Q2").stdout
    assert "stage: Data request" in status and "submit [service_manager]" in status

    refused = pmf("fire", "KDC/2024-25-Q2", "submit", "--service", "WASTE", "--as", "smh")
    assert refused.exit_code == 1 and "PermissionDenied" in refused.stderr and "scope" in refused.stderr
    for service, who in (("HOUSING", "smh"), ("WASTE", "smw")):
        assert pmf("fire", "KDC/2024-25-Q2", "submit", "--service", service, "--as", who).exit_code == 0
        assert pmf("quality", "sign-off", f"KDC/2024-25-Q2/{service}", "--as", "hos").exit_code == 0
        assert pmf("fire", "KDC/2024-25-Q2", "accept", "--service", service, "--as", "po").exit_code == 0
    moved = pmf("fire", "KDC/2024-25-Q2", "close_data_request", "--as", "po")
    assert moved.exit_code == 0 and "data_request -> service_review" in moved.stdout
    stale = pmf("fire", "KDC/2024-25-Q2", "complete_service_review", "--as", "po", "--expect-version", "1")
    assert stale.exit_code == 1 and "ConcurrencyConflict" in stale.stderr

    assert "verified" in pmf("audit", "verify").stdout
    mark = tmp_path / "head.json"
    assert pmf("audit", "checkpoint", str(mark)).exit_code == 0
    assert json.loads(mark.read_text())["chains"]["KDC"]["chain_seq"] > 5
    assert "matches checkpoint" in pmf("audit", "verify", "--checkpoint", str(mark)).stdout
    trail = pmf("audit", "trail", "KDC/2024-25-Q2").stdout
    assert "refused" in trail and "close_data_request" in trail
    export = tmp_path / "audit.csv"
    assert pmf("audit", "export", "--format", "csv", "--output", str(export)).exit_code == 0
    assert export.read_text().startswith("seq,chain,chain_seq,at")
    assert pmf("audit", "export", "--format", "jsonl").stdout.count("\n") > 10
    assert "quarterly_cycle@" in pmf("cycle", "list").stdout


def test_workflow_list_show_and_diagram(pmf) -> None:  # type: ignore[no-untyped-def]
    listing = pmf("workflow", "list").stdout
    assert "quarterly_cycle@" in listing and "service_return@" in listing
    assert listing.splitlines()[-1].startswith("* the version the workflow files hold now")
    shown = pmf("workflow", "show", "quarterly_cycle").stdout
    assert "return_to_cmt" in shown and "reason required" in shown
    assert (
        "cmt_review --> leadership_signoff: endorse" in pmf("workflow", "diagram", "quarterly_cycle").stdout
    )
    missing = pmf("workflow", "show", "nope")
    assert missing.exit_code == 1 and "NotFound" in missing.stderr


def test_unknown_cycle_and_broken_audit_exit_1(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert pmf("cycle", "status", "NOPE/2024-25-Q1").exit_code == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = pmf("audit", "verify", "--checkpoint", str(bad))
    assert result.exit_code == 1 and "cannot read checkpoint" in result.stderr


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)  # the demo makes its own --db-file
def test_demo_runs_a_whole_quarter(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = pmf("--now", "2024-11-04 12:00", "demo", "--db-file", str(tmp_path / "demo.db"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cycle WDC/2024-25-Q2 is Cabinet approval" in out, "the quarter that ended last, open"
    for stage in (
        "submit",
        "return_for_correction",
        "close_data_request",
        "endorse",
        "sign_off",
        "defer",
        "approve",
        "conclude",
    ):
        assert stage in out
    assert out.count("REFUSED") >= 3
    assert "is Closed" in out and "audit log verified" in out
    assert "40 measures in 3 themes, 160 actuals of 4 earlier quarters imported as history, 4 Council" in out
    assert "Quarter 2023-24-Q4: the last full year's fourth quarter" in out, "run as a cycle, not imported"
    assert "Quarter 2023-24-Q1: a quiet quarter of the last full year" in out, "the year's quarters too"
    assert "annual report 2023-24: " in out and "frozen: sha256" in out
    assert "exception report         project P-02" in out and "frozen at sign-off: sha256" in out
    assert "-> hannah: Reminder: Scrutiny action for WDC/2024-25-Q1/SA-1" in out
    html = (tmp_path / "demo-report.html").read_text()
    assert "Report on the voids recovery plan" in html and "Weekly food waste collections" in html


def test_calendar_tick_and_outbox_through_the_cli(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bootstrap(pmf, "KDC", "Kenton District Council")
    assert pmf("service", "add", "KDC", "HOUSING", "Housing", "--as", "admin").exit_code == 0
    assert (
        pmf(
            "actor",
            "add",
            "po",
            "--name",
            "PO",
            "--email",
            "po@kdc.example",
            "--role",
            "performance_officer:KDC",
            "--as",
            "admin",
        ).exit_code
        == 0
    )
    assert (
        pmf(
            "actor", "add", "smh", "--name", "SMH", "--role", "service_manager:KDC:HOUSING", "--as", "admin"
        ).exit_code
        == 0
    )
    fixtures = Path(__file__).parent / "fixtures" / "calendar"
    imported = pmf("calendar", "import", "--org", "KDC", str(fixtures / "committees.yaml"), "--as", "po")
    assert imported.exit_code == 0 and imported.stdout.startswith("5 added")
    bad = pmf("calendar", "import", "--org", "KDC", str(fixtures / "bad.csv"), "--as", "po")
    assert bad.exit_code == 1 and bad.stderr.count("invalid:") == 2
    added = pmf("calendar", "add", "--org", "KDC", "cmt", "2024-10-22 10:00", "--title", "CMT", "--as", "po")
    assert added.exit_code == 0 and "Tue 22 Oct 2024 10:00" in added.stdout
    assert pmf("calendar", "add", "--org", "KDC", "cmt", "whenever", "--as", "po").exit_code == 2
    assert "tdc-cab-2024-08" in pmf("calendar", "list", "--org", "KDC").stdout

    started = pmf(
        "--now", "2024-07-01 09:00", "cycle", "start", "--org", "KDC", "--period", "2024-25-Q1", "--as", "po"
    )
    assert started.exit_code == 0
    status = pmf("--now", "2024-07-01 10:00", "cycle", "status", "KDC/2024-25-Q1").stdout
    assert "due Fri 12 Jul 2024 17:00" in status and "next reminder (step 1) at Fri 05 Jul 08:00" in status

    ticked = pmf("tick", "--at", "2024-07-17 09:00")
    # two reminders and two escalations each for the cycle and its one return, folded per person
    assert ticked.exit_code == 0 and "fired 8 step(s) into 2 message(s)" in ticked.stdout, ticked.stdout
    late = pmf("--now", "2024-07-17 10:00", "cycle", "status", "KDC/2024-25-Q1").stdout
    assert "LATE" in late and "escalation step" in late
    rehearsed = pmf("audit", "trail", "KDC/2024-25-Q1").stdout.splitlines()
    assert "Z*" in rehearsed[0] and rehearsed[-1].startswith("* the time the entry counts as"), "* explained"
    listing = pmf("outbox", "list").stdout
    assert "sent" in listing and "po" in listing
    assert "0 message(s) queued again" in pmf("outbox", "retry", "--all", "--as", "admin").stdout
    assert pmf("outbox", "retry", "--all", "--as", "po").exit_code == 1, "an administrator's task"
    assert pmf("outbox", "retry", "--as", "admin").exit_code == 2

    ics = tmp_path / "deadlines.ics"
    assert pmf("calendar", "export", "KDC/2024-25-Q1", "-o", str(ics)).exit_code == 0
    assert ics.read_text().count("BEGIN:VEVENT") == 2
    cab = pmf("calendar", "move", "--org", "KDC", "tdc-cab-2024-08", "2024-08-21 18:00", "--as", "po")
    assert cab.exit_code == 0 and "0 deadline(s) recomputed" in cab.stdout


def test_measures_actuals_and_exceptions_through_the_cli(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bootstrap(pmf, "TDC", "Test District Council")
    for code in ("HOUSING", "PLANNING", "WASTE"):
        assert pmf("service", "add", "TDC", code, code.title(), "--as", "admin").exit_code == 0
    assert (
        pmf(
            "actor", "add", "perf", "--name", "P", "--role", "performance_officer:TDC", "--as", "admin"
        ).exit_code
        == 0
    )
    fixtures = Path(__file__).parent / "fixtures" / "measures"
    assert (
        "4 measure(s) added"
        in pmf("measures", "import", "TDC", str(fixtures / "measures.csv"), "--as", "perf").stdout
    )
    bad = pmf("measures", "import", "TDC", str(fixtures / "bad.csv"), "--as", "perf")
    assert bad.exit_code == 1 and bad.stderr.count("invalid:") >= 4
    assert "HOU-01" in pmf("measures", "list", "TDC").stdout
    out = tmp_path / "library.csv"
    assert pmf("measures", "export", "TDC", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("code,title,theme")
    assert (
        pmf(
            "--now",
            "2024-07-01 09:00",
            "cycle",
            "start",
            "--org",
            "TDC",
            "--period",
            "2024-25-Q1",
            "--as",
            "perf",
        ).exit_code
        == 0
    )
    assert pmf("actuals", "record", "TDC/2024-25-Q1", "WAS-01", "40", "--as", "perf").exit_code == 0
    assert pmf("actuals", "record", "TDC/2024-25-Q1", "WAS-01", "forty", "--as", "perf").exit_code == 2
    status = pmf("measures", "status", "TDC/2024-25-Q1").stdout
    assert "RED" in status and "misses target 52 by more than 5%" in status
    was = next(line.split() for line in status.splitlines() if line.startswith("WAS-01"))
    assert was[:6] == ["WAS-01", "40", "/", "52", "RED", "-/-"], "no quarter before it: nothing to compare"
    added = pmf(
        "exceptions",
        "add",
        "TDC/2024-25-Q1",
        "WAS-01",
        "--reason",
        "Strike",
        "--action",
        "Catch-up",
        "--owner",
        "perf",
        "--recovery",
        "2024-12-31",
        "--as",
        "perf",
    )
    assert added.exit_code == 0
    assert "Strike -> Catch-up" in pmf("exceptions", "list", "TDC/2024-25-Q1").stdout
    template = tmp_path / "planning.xlsx"
    assert (
        "1 measure(s) and project(s) for PLANNING"
        in pmf("returns", "template", "TDC/2024-25-Q1", "PLANNING", "-o", str(template)).stdout
    )
    imported = pmf("returns", "import", "TDC/2024-25-Q1", "PLANNING", str(template), "--as", "perf")
    assert imported.exit_code == 0 and "0 actual(s) recorded" in imported.stdout  # left empty
    html = tmp_path / "report.html"
    built = pmf("report", "TDC/2024-25-Q1", "--format", "html", "-o", str(html))
    assert built.exit_code == 0 and "4 measure(s), 0 project(s), 1 exception report(s)" in built.stdout
    assert "<h1>Quarterly performance report</h1>" in html.read_text()
    assert pmf("report", "TDC/2024-25-Q1", "--format", "xlsx", "-o", str(tmp_path / "r.xlsx")).exit_code == 0
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"nope")
    refused = pmf("returns", "import", "TDC/2024-25-Q1", "PLANNING", str(bad), "--as", "perf")
    assert refused.exit_code == 1 and "not a readable .xlsx" in refused.stderr


def test_projects_actions_restatements_through_the_cli(
    pmf, cli_db: str, tmp_path: Path, catalog: Catalog
) -> None:  # type: ignore[no-untyped-def]
    store = Store(cli_db)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)  # the test council: its people and roles, and a head of service to sign returns off
    engine.directory.add_actor("hos", "Head of Services")
    for service in ("HOUSING", "PLANNING", "WASTE"):
        engine.directory.grant("hos", "head_of_service", "TDC", service=service)
    store.dispose()
    fixtures = Path(__file__).parent / "fixtures"
    assert (
        pmf(
            "measures", "import", "TDC", str(fixtures / "measures" / "measures.csv"), "--as", "perf"
        ).exit_code
        == 0
    )
    history = tmp_path / "history.csv"
    history.write_text("code,period,value\nWAS-01,2023-24-Q4,49\nWAS-01,2023-24-Q3,fifty\n")
    refused = pmf("actuals", "import-history", "TDC", str(history), "--as", "perf")
    assert (
        refused.exit_code == 1
        and "history.csv:3: [value]" in refused.stderr
        and "'fifty' is not a number" in refused.stderr
    )
    history.write_text("code,period,value\nWAS-01,2023-24-Q4,49\n")
    assert (
        "1 historical actual(s)"
        in pmf("actuals", "import-history", "TDC", str(history), "--as", "perf").stdout
    )
    assert (
        pmf(
            "projects", "import", "TDC", str(fixtures / "projects" / "projects.csv"), "--as", "perf"
        ).exit_code
        == 0
    )
    assert "Contractor appointed" in pmf("projects", "list", "TDC").stdout
    cycle = "TDC/2024-25-Q1"
    assert pmf("cycle", "start", "--org", "TDC", "--period", "2024-25-Q1", "--as", "perf").exit_code == 0
    updated = pmf(
        "projects", "update", cycle, "P-01", "at_risk", "--narrative", "Tender late", "--as", "sm_housing"
    )
    assert updated.exit_code == 0
    assert "AT_RISK" in pmf("projects", "status", cycle).stdout
    forecast = pmf("actuals", "record", cycle, "WAS-01", "53", "--forecast", "55", "--as", "sm_waste")
    assert forecast.exit_code == 0
    empty = pmf("fire", f"{cycle}/HOUSING", "submit", "--as", "sm_housing")
    assert empty.exit_code == 1 and "HOU-01 has no figure and no reason why it is missing" in empty.stderr
    for code, who in (("HOU-01", "sm_housing"), ("PLA-01", "sm_planning")):
        missing = pmf("actuals", "record", cycle, code, "missing", "--missing-reason", "System migration",
                      "--as", who)  # fmt: skip
        assert missing.exit_code == 0, missing.output
    for service in ("HOUSING", "PLANNING", "WASTE"):
        pmf("fire", f"{cycle}/{service}", "submit", "--as", f"sm_{service.lower()}")
        pmf("quality", "sign-off", f"{cycle}/{service}", "--as", "hos")
        pmf("fire", f"{cycle}/{service}", "accept", "--as", "perf")
    path = [("close_data_request", "perf"), ("complete_service_review", "perf"), ("endorse", "cmt")]
    for trigger, who in [*path, ("sign_off", "lead")]:
        assert pmf("fire", cycle, trigger, "--as", who).exit_code == 0, trigger
    assert "frozen report intact" in pmf("report", cycle, "--verify").stdout
    restated = pmf(
        "actuals", "restate", cycle, "WAS-01", "50", "--reason", "Tonnage corrected", "--as", "perf"
    )
    assert restated.exit_code == 0
    pdf = tmp_path / "r.pdf"
    assert "frozen" in pmf("report", cycle, "--format", "pdf", "-o", str(pdf)).stdout
    assert pdf.read_bytes().startswith(b"%PDF")
    pmf("fire", cycle, "approve", "--as", "clerk", "--data", "minute_reference=CAB/1")
    early = pmf(
        "actions", "add", cycle, "Explain", "--to", "sm_waste", "--due", "2024-07-01", "--as", "scrutiny"
    )
    assert early.exit_code == 1 and "in the past" in early.stderr
    added = pmf("actions", "add", cycle, "Explain recycling", "--to", "sm_waste", "--due", "2030-01-31",
                "--link", "WAS-01", "--as", "scrutiny")  # fmt: skip
    assert added.exit_code == 0 and f"{cycle}/SA-1" in added.stdout
    assert "OPEN" in pmf("actions", "list", "TDC", "--state", "open").stdout
    closed = pmf("actions", "close", f"{cycle}/SA-1", "--note", "Briefing given", "--as", "scrutiny")
    assert closed.exit_code == 0
    listed = pmf("actions", "list", "TDC").stdout
    assert "CLOSED" in listed and "Briefing given" in listed


def test_actor_add_with_a_bad_role_creates_nobody(pmf) -> None:  # type: ignore[no-untyped-def]
    _bootstrap(pmf, "KDC", "Kenton District Council")
    assert pmf("service", "add", "KDC", "HOUSING", "Housing", "--as", "admin").exit_code == 0
    for role in ("bad:KDC", "service_manager:KDC", "performance_officer:KDC:HOUSING"):
        refused = pmf("actor", "add", "newbie", "--name", "New", "--role", "performance_officer:KDC",
                      "--role", role, "--as", "admin")  # fmt: skip
        assert refused.exit_code == 1 and refused.stderr.startswith("InvalidInput: role"), refused.stderr
        assert len(refused.stderr.splitlines()) == 1 and "added" not in refused.stdout
        assert "newbie" not in pmf("actor", "list").stdout, role
    for grant in ("performance_officer:KCD", "service_manager:KDC:HOUSNG"):  # typo'd organisation, service
        refused = pmf("actor", "add", "newbie", "--name", "New", "--role", grant, "--as", "admin")
        assert refused.exit_code == 1 and refused.stderr.startswith("NotFound:"), refused.stderr
        assert "newbie" not in pmf("actor", "list").stdout, grant
    again = pmf(
        "actor", "add", "newbie", "--name", "New", "--role", "service_manager:KDC:HOUSING", "--as", "admin"
    )
    assert again.exit_code == 0 and "actor newbie added with 1 role(s)" in again.stdout, again.stderr
    assert "service_manager@KDC/HOUSING" in pmf("actor", "list").stdout


def test_library_import_list_export_and_actuals_import(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bootstrap(pmf, "TDC", "Test District Council")
    for code in ("HOUSING", "PLANNING", "WASTE"):
        assert pmf("service", "add", "TDC", code, code.title(), "--as", "admin").exit_code == 0
    assert (
        pmf(
            "actor", "add", "perf", "--name", "P", "--role", "performance_officer:TDC", "--as", "admin"
        ).exit_code
        == 0
    )
    fixtures = Path(__file__).parent / "fixtures"
    assert (
        pmf(
            "measures", "import", "TDC", str(fixtures / "measures" / "measures.csv"), "--as", "perf"
        ).exit_code
        == 0
    )
    csv = pmf("measures", "export", "TDC")
    assert csv.exit_code == 0 and csv.stdout.startswith("code,title,theme") and "written" not in csv.stdout
    xlsx = tmp_path / "library.xlsx"
    written = pmf("measures", "export", "TDC", "-o", str(xlsx))
    assert written.stdout == f"4 measure(s) written to {xlsx}\n" and xlsx.read_bytes().startswith(b"PK")
    again = pmf("measures", "import", "TDC", str(xlsx), "--as", "perf")
    assert again.exit_code == 0 and again.stdout == "0 measure(s) added, 4 updated\n"
    assert (
        pmf("projects", "import", "TDC", str(fixtures / "projects" / "bad.csv"), "--as", "perf").exit_code
        == 1
    )
    assert pmf("projects", "list", "TDC").stdout == ""
    assert "export" not in pmf("projects", "--help").stdout
    started = pmf("--now", "2024-07-01 09:00", "cycle", "start", "--org", "TDC", "--period", "2024-25-Q1",
                  "--as", "perf")  # fmt: skip
    assert started.exit_code == 0
    actuals = tmp_path / "actuals.csv"
    actuals.write_text("code,value,narrative\nWAS-01,40,Strike\nHOU-01,27,\n")
    assert pmf("actuals", "import", "TDC/2024-25-Q1", str(actuals)).exit_code == 2  # --as is required
    recorded = pmf("actuals", "import", "TDC/2024-25-Q1", str(actuals), "--as", "perf")
    assert recorded.exit_code == 0 and recorded.stdout == "2 actual(s) recorded for TDC/2024-25-Q1\n"
    assert "RED" in pmf("measures", "status", "TDC/2024-25-Q1").stdout
