"""The example frameworks in ``examples/`` are complete: each validates, loads, and runs a whole
period end to end through the ``pmf`` command line on a fresh SQLite database, with none of the
shipped workflow names (``examples/README.md`` gives the same commands)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pmf_engine.app.wiring import load_catalog
from pmf_engine.interfaces.main import main
from pmf_engine.pmf.framework import load_policies
from tests.conftest import ROOT, WORKFLOWS

EXAMPLES = ROOT / "examples"
DISTRICT = EXAMPLES / "committee_district"
PLANNING = EXAMPLES / "business_planning"
SHIPPED_WORKFLOWS = {path.stem for path in WORKFLOWS.glob("*.yaml")}

Pmf = Callable[..., Result]


def _runner(example: Path, db: Path) -> Pmf:
    """``pmf`` against the example's own folders and a rehearsal database of its own."""
    created = CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "db", "upgrade", "--rehearsal"])
    assert created.exit_code == 0, created.output

    def run(*args: str, now: str | None = None) -> Result:
        options = ["--db", f"sqlite:///{db}", "--workflows", str(example / "workflows")]
        options += ["--policies", str(example / "policies"), "--log-level", "warning"]
        options += ["--now", now] if now else []
        result = CliRunner().invoke(main, [*options, *args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return run


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(result: Result, kind: str) -> str:
    """The one-line refusal of a command that must fail with ``kind``."""
    assert result.exit_code == 1, result.output
    assert kind in result.stderr, result.stderr
    return result.stderr


def _stage(pmf: Pmf, key: str, now: str | None = None) -> str:
    """The ``(state)`` line of ``pmf cycle status``."""
    status = _ok(pmf("cycle", "status", key, now=now))
    return next(line for line in status.splitlines() if line.strip().startswith("stage:"))


def _returns(pmf: Pmf, key: str) -> dict[str, str]:
    """Each service's child state label, as ``pmf cycle status`` lists its children (under
    their workflow's name; one-off children such as actions, keyed ``FM-1``, left out)."""
    lines = _ok(pmf("cycle", "status", key)).splitlines()
    children = [line.split(maxsplit=1) for line in lines if line.startswith("    ") and line.strip()]
    return {name: rest for name, rest in children if not re.fullmatch(r"[A-Z]+-\d+", name)}


def _people(pmf: Pmf, people: dict[str, list[str]]) -> None:
    """Add each person with their roles, written ``role@ORG[@SERVICE]``."""
    for user, roles in people.items():
        args = [a for role in roles for a in ("--role", role.replace("@", ":"))]
        _ok(pmf("actor", "add", user, "--name", user.replace("_", " ").title(), *args, "--as", "admin"))


@pytest.mark.parametrize("example", [DISTRICT, PLANNING], ids=lambda p: p.name)
def test_example_validates_and_loads(example: Path, tmp_path: Path) -> None:
    """``pmf workflow validate`` passes on its folders; the catalog and the framework policies
    load, and none of its workflows is one of the shipped ones."""
    pmf = _runner(example, tmp_path / "x.db")
    workflows = sorted((example / "workflows").glob("*.yaml"))
    result = pmf("workflow", "validate", str(example / "workflows"), str(example / "policies"))
    assert _ok(result).count(": valid") == len(workflows) + 4, result.stdout
    catalog = load_catalog(example / "workflows", example / "policies")
    assert set(catalog.workflows) == {p.stem for p in workflows}
    assert not set(catalog.workflows) & SHIPPED_WORKFLOWS
    load_policies(example / "policies").check(catalog)
    for path in [*workflows, *(example / "policies").glob("*.yaml")]:
        assert path.read_text().startswith("#"), f"{path} has no header comment"


def test_committee_district_quarter_end_to_end(tmp_path: Path) -> None:
    """Heads of Service report and submit their own service's return, one is queried and
    resubmitted; the Leadership Team's approval is refused until the amber and red measures and
    the at-risk project have exception reports; the Finance and Management Committee's meetings
    drive the deadlines (adjourning moves it to the next meeting); an action is raised and
    completed; the quarter is reported and its frozen report and audit chain verify."""
    pmf = _runner(DISTRICT, tmp_path / "district.db")
    data = DISTRICT / "data"
    _ok(pmf("org", "add", "MDC", "Midvale District Council", "--bootstrap"))
    _ok(pmf("actor", "add", "admin", "--name", "Alex Admin", "--role", "system_admin:MDC", "--bootstrap"))
    for code, name in (("REVENUES", "Revenues"), ("ENVIRONMENT", "Environment"), ("PLANNING", "Planning")):
        _ok(pmf("service", "add", "MDC", code, name, "--as", "admin"))
    _people(
        pmf,
        {
            "perf": ["performance_lead@MDC"],
            "hos_revenues": ["head_of_service@MDC@REVENUES"],
            "hos_environment": ["head_of_service@MDC@ENVIRONMENT"],
            "hos_planning": ["head_of_service@MDC@PLANNING"],
            "chief_exec": ["leadership_team@MDC"],
            "clerk": ["committee_clerk@MDC"],
        },
    )
    assert "3 added" in _ok(
        pmf("calendar", "import", "--org", "MDC", str(data / "meetings.yaml"), "--as", "admin")
    )
    assert "4 measure(s) added" in _ok(
        pmf("measures", "import", "MDC", str(data / "measures.csv"), "--as", "perf")
    )
    assert "2 project(s) added" in _ok(
        pmf("projects", "import", "MDC", str(data / "projects.csv"), "--as", "perf")
    )

    q = "MDC/2025-26-Q1"
    started = _ok(
        pmf(
            "cycle", "start", "--org", "MDC", "--period", "2025-26-Q1", "--as", "perf", now="2025-07-01 09:00"
        )
    )
    assert f"started {q} in collecting with 3 child instance(s)" in started
    status = _ok(pmf("cycle", "status", q, now="2025-07-01 09:05"))
    assert "due Mon 21 Jul 2025 17:00  [period_end + 15 working days]" in status
    assert set(_returns(pmf, q)) == {"REVENUES", "ENVIRONMENT", "PLANNING"}

    now = "2025-07-08 10:00"
    wrong = pmf("actuals", "record", q, "PLN-01", "55", "--as", "hos_revenues", now=now)
    assert "may not report PLN-01" in _refused(wrong, "PermissionDenied")
    for code, value, who in (
        ("REV-01", "28.5", "hos_revenues"),
        ("REV-02", "18", "hos_revenues"),
        ("ENV-01", "49.2", "hos_environment"),
        ("PLN-01", "55", "hos_planning"),
    ):
        _ok(pmf("actuals", "record", q, code, value, "--narrative", "as reported", "--as", who, now=now))
    _ok(
        pmf(
            "projects",
            "update",
            q,
            "P-01",
            "at_risk",
            "--narrative",
            "Tender over budget",
            "--as",
            "hos_planning",
            now=now,
        )
    )
    _ok(pmf("projects", "update", q, "P-02", "on_track", "--as", "hos_environment", now=now))
    for service, who in (
        ("REVENUES", "hos_revenues"),
        ("ENVIRONMENT", "hos_environment"),
        ("PLANNING", "hos_planning"),
    ):
        _ok(pmf("fire", q, "submit_return", "--service", service, "--as", who, now=now))
    _refused(pmf("fire", q, "close_collection", "--as", "perf", now=now), "children_settled")
    no_reason = pmf("fire", q, "query", "--service", "REVENUES", "--as", "perf", now=now)
    assert "a reason is required" in _refused(no_reason, "GuardFailed")
    _ok(pmf("fire", q, "query", "--service", "REVENUES", "--as", "perf", "--reason", "REV-02?", now=now))
    assert _returns(pmf, q)["REVENUES"].startswith("Queried by the performance team")
    _ok(pmf("actuals", "record", q, "REV-02", "19", "--as", "hos_revenues", now=now))
    _ok(pmf("fire", q, "submit_return", "--service", "REVENUES", "--as", "hos_revenues", now=now))
    for service in ("REVENUES", "ENVIRONMENT", "PLANNING"):
        _ok(pmf("fire", q, "agree", "--service", service, "--as", "perf", now=now))
    late = pmf("actuals", "record", q, "REV-02", "17", "--as", "hos_revenues", now=now)
    assert "the REVENUES return is Agreed" in _refused(late, "NotNow")
    assert "collecting -> compiling" in _ok(pmf("fire", q, "close_collection", "--as", "perf", now=now))
    _ok(pmf("fire", q, "submit_to_leadership", "--as", "perf", now=now))
    status = _ok(pmf("cycle", "status", q, now=now))
    # The committee meets Thu 4 Sep; 10 working days before skips the August bank holiday.
    assert "due Wed 20 Aug 2025 17:00  [finance_management - 10 working days]" in status

    rag = _ok(pmf("measures", "status", q))
    assert {line.split()[0]: line.split()[4] for line in rag.splitlines()} == {
        "ENV-01": "GREEN",
        "PLN-01": "RED",
        "REV-01": "AMBER",
        "REV-02": "GREEN",
    }
    refused = _refused(pmf("fire", q, "approve_report", "--as", "chief_exec", now=now), "GuardFailed")
    assert "red or amber measures or at risk or off track projects without an exception report" in refused
    assert "REV-01" in refused and "PLN-01" in refused and "project P-01" in refused
    for code, who, extra in (
        ("REV-01", "hos_revenues", []),
        ("PLN-01", "hos_planning", []),
        ("P-01", "hos_planning", ["--project"]),
    ):
        _ok(
            pmf(
                "exceptions",
                "add",
                q,
                code,
                *extra,
                "--reason",
                "Why",
                "--action",
                "What",
                "--owner",
                who,
                "--recovery",
                "2025-12-31",
                "--as",
                who,
                now=now,
            )
        )
    approved = _ok(pmf("fire", q, "approve_report", "--as", "chief_exec", now=now))
    assert "leadership_approval -> committee" in approved
    status = _ok(pmf("cycle", "status", q, now=now))
    assert (
        "(committee)" in status
        and "due Mon 08 Sep 2025 17:00  [finance_management + 2 working days]" in status
    )
    assert "frozen report intact" in _ok(pmf("report", q, "--verify"))

    after = "2025-09-04 21:00"  # the evening of the committee
    added = _ok(
        pmf(
            "actions",
            "add",
            q,
            "Report on council tax recovery",
            "--to",
            "hos_revenues",
            "--due",
            "2025-10-31",
            "--link",
            "REV-01",
            "--as",
            "clerk",
            now=after,
        )
    )
    assert f"{q}/FM-1" in added
    adjourned = _ok(pmf("fire", q, "adjourn", "--reason", "Agenda overran", "--as", "clerk", now=after))
    assert "committee -> committee" in adjourned
    assert "due Mon 20 Oct 2025 17:00" in _ok(pmf("cycle", "status", q, now=after))  # 16 Oct + 2
    _ok(pmf("actions", "close", f"{q}/FM-1", "--note", "Report circulated", "--as", "clerk", now=after))
    assert "COMPLETED" in _ok(pmf("actions", "list", "MDC"))

    meeting = "2025-10-16 21:00"
    wrong = pmf(
        "fire", q, "record_resolution", "--as", "chief_exec", "--data", "minute_reference=FM/1", now=meeting
    )
    assert "needs one of committee_clerk" in _refused(wrong, "PermissionDenied")
    missing = pmf("fire", q, "record_resolution", "--as", "clerk", now=meeting)
    assert "minute_reference" in _refused(missing, "GuardFailed")
    _ok(
        pmf(
            "fire",
            q,
            "record_resolution",
            "--as",
            "clerk",
            "--data",
            "minute_reference=FM/25/41",
            now=meeting,
        )
    )
    status = _ok(pmf("cycle", "status", q, now=meeting))
    assert "stage: Reported to committee (reported)" in status and "closed: nothing more can happen" in status
    assert "verified" in _ok(pmf("audit", "verify"))


def test_business_planning_round_beside_the_q4_cycle(tmp_path: Path) -> None:
    """The Q4 2025-26 monitoring cycle and the 2025-26 planning round of one council run side by
    side under their own keys: a plan returned as not SMART and resubmitted, the round's join
    waiting for every plan, Q4's extra outturn stage, CMT referring one plan back (only that
    service's is reopened), and both completing independently."""
    pmf = _runner(PLANNING, tmp_path / "planning.db")
    data = PLANNING / "data"
    _ok(pmf("org", "add", "SBC", "Southbay Borough Council", "--bootstrap"))
    _ok(pmf("actor", "add", "admin", "--name", "Alex Admin", "--role", "administrator:SBC", "--bootstrap"))
    for code, name in (("HOUSING", "Housing"), ("LEISURE", "Leisure")):
        _ok(pmf("service", "add", "SBC", code, name, "--as", "admin"))
    _people(
        pmf,
        {
            "perf": ["performance_officer@SBC"],
            "hos_housing": ["head_of_service@SBC@HOUSING"],
            "hos_leisure": ["head_of_service@SBC@LEISURE"],
            "cmt": ["cmt_member@SBC"],
            "clerk": ["cabinet_clerk@SBC"],
        },
    )
    _ok(pmf("calendar", "import", "--org", "SBC", str(data / "meetings.yaml"), "--as", "admin"))
    _ok(pmf("measures", "import", "SBC", str(data / "measures.csv"), "--as", "perf"))

    q4, rnd = "SBC/2025-26-Q4", "SBC/planning-2025-26"
    now = "2026-04-01 09:00"
    assert "with 2 child instance(s)" in _ok(
        pmf("cycle", "start", "--org", "SBC", "--period", "2025-26-Q4", "--as", "perf", now=now)
    )
    started = _ok(pmf("cycle", "start", "--org", "SBC", "--period", "2025-26", "--as", "perf", now=now))
    assert f"started {rnd} in service_planning" in started
    listed = _ok(pmf("cycle", "list", "--org", "SBC")).splitlines()
    assert [line.split()[0] for line in listed] == [q4, rnd]
    assert "quarterly_monitoring@" in listed[0] and "business_planning_round@" in listed[1]
    plans = _returns(pmf, rnd)
    assert set(plans) == {"HOUSING", "LEISURE"}
    assert all(state.startswith("Self-evaluation") for state in plans.values())

    # The planning round moves on while the quarter is still collecting figures.
    for service, who in (("HOUSING", "hos_housing"), ("LEISURE", "hos_leisure")):
        _ok(pmf("fire", rnd, "submit_self_evaluation", "--service", service, "--as", who, now=now))
        _ok(pmf("fire", rnd, "submit_plan", "--service", service, "--as", who, now=now))
    no_reason = pmf("fire", rnd, "return_not_smart", "--service", "LEISURE", "--as", "perf", now=now)
    assert "a reason is required" in _refused(no_reason, "GuardFailed")
    returned = pmf(
        "fire",
        rnd,
        "return_not_smart",
        "--service",
        "LEISURE",
        "--as",
        "perf",
        "--reason",
        "Action 3 has no target or date",
        now=now,
    )
    assert "plan_review -> action_planning" in _ok(returned)
    _ok(pmf("fire", rnd, "agree_plan", "--service", "HOUSING", "--as", "perf", now=now))
    waiting = _refused(pmf("fire", rnd, "submit_plans_to_cmt", "--as", "perf", now=now), "children_settled")
    assert "LEISURE (Drafting the SMART action plan)" in waiting
    no_figures = pmf("actuals", "record", rnd, "HOU-01", "30", "--as", "hos_housing", now=now)
    assert "covers 2025-26, not a quarter" in _refused(no_figures, "InvalidInput")
    _ok(pmf("fire", rnd, "submit_plan", "--service", "LEISURE", "--as", "hos_leisure", now=now))
    checker = pmf("fire", rnd, "agree_plan", "--service", "LEISURE", "--as", "hos_leisure", now=now)
    _refused(checker, "PermissionDenied")
    _ok(pmf("fire", rnd, "agree_plan", "--service", "LEISURE", "--as", "perf", now=now))
    _ok(pmf("fire", rnd, "submit_plans_to_cmt", "--as", "perf", now=now))
    assert "(cmt_agreement)" in _stage(pmf, rnd)
    assert "(data_collection)" in _stage(pmf, q4)
    assert all(state.startswith("Requested") for state in _returns(pmf, q4).values())

    # The quarter: figures, a return sent back and corrected, Q4's outturn stage.
    now = "2026-04-08 09:00"
    _ok(
        pmf(
            "actuals",
            "record",
            q4,
            "HOU-01",
            "31",
            "--narrative",
            "Voids backlog",
            "--as",
            "hos_housing",
            now=now,
        )
    )
    _ok(pmf("actuals", "record", q4, "LEI-01", "125000", "--as", "hos_leisure", now=now))
    for service, who in (("HOUSING", "hos_housing"), ("LEISURE", "hos_leisure")):
        _ok(pmf("fire", q4, "submit", "--service", service, "--as", who, now=now))
    _ok(
        pmf(
            "fire",
            q4,
            "return_for_correction",
            "--service",
            "LEISURE",
            "--as",
            "perf",
            "--reason",
            "Visits include staff",
            now=now,
        )
    )
    _ok(pmf("actuals", "record", q4, "LEI-01", "118000", "--as", "hos_leisure", now=now))
    _ok(pmf("fire", q4, "submit", "--service", "LEISURE", "--as", "hos_leisure", now=now))
    for service in ("HOUSING", "LEISURE"):
        _ok(pmf("fire", q4, "accept", "--service", service, "--as", "perf", now=now))
    for trigger in ("close_data_collection", "complete_review"):
        _ok(pmf("fire", q4, trigger, "--as", "perf", now=now))
    cmt_day = "2026-05-12 11:00"
    assert "HOU-01" in _refused(pmf("fire", q4, "endorse", "--as", "cmt", now=cmt_day), "GuardFailed")
    _ok(
        pmf(
            "exceptions",
            "add",
            q4,
            "HOU-01",
            "--reason",
            "Voids backlog",
            "--action",
            "Extra contractor",
            "--owner",
            "hos_housing",
            "--recovery",
            "2026-09-30",
            "--as",
            "hos_housing",
            now=cmt_day,
        )
    )
    assert "cmt_review -> outturn_review" in _ok(pmf("fire", q4, "endorse", "--as", "cmt", now=cmt_day))
    added = _ok(
        pmf(
            "actions",
            "add",
            q4,
            "Voids recovery plan to CMT",
            "--to",
            "hos_housing",
            "--due",
            "2026-06-30",
            "--link",
            "HOU-01",
            "--as",
            "cmt",
            now=cmt_day,
        )
    )
    assert f"{q4}/CA-1" in added

    # CMT refers the Leisure plan back: only it is reopened, and the round waits for it again.
    referred = pmf(
        "fire",
        rnd,
        "refer_plans_back",
        "--as",
        "cmt",
        "--reason",
        "No savings in the plan",
        "--data",
        "services=LEISURE",
        now=cmt_day,
    )
    assert "cmt_agreement -> revising" in _ok(referred)
    plans = _returns(pmf, rnd)
    assert plans["HOUSING"].startswith("Plan agreed") and plans["LEISURE"].startswith("Drafting")
    assert "(revising)" in _stage(pmf, rnd) and "(outturn_review)" in _stage(pmf, q4)
    _refused(pmf("fire", rnd, "resubmit_plans_to_cmt", "--as", "perf", now=cmt_day), "children_settled")
    _ok(pmf("fire", rnd, "submit_plan", "--service", "LEISURE", "--as", "hos_leisure", now=cmt_day))
    _ok(pmf("fire", rnd, "agree_plan", "--service", "LEISURE", "--as", "perf", now=cmt_day))
    _ok(pmf("fire", rnd, "resubmit_plans_to_cmt", "--as", "perf", now=cmt_day))
    june = "2026-06-09 11:00"
    assert "cmt_agreement -> closed" in _ok(pmf("fire", rnd, "agree_business_plans", "--as", "cmt", now=june))
    status = _ok(pmf("cycle", "status", rnd, now=june))
    assert "stage: Business plans agreed (closed)" in status and "closed: nothing more can happen" in status
    assert "(outturn_review)" in _stage(pmf, q4, now=june)  # the quarter has not moved with it

    _ok(pmf("fire", q4, "complete_outturn", "--as", "perf", now=june))
    _ok(pmf("actions", "close", f"{q4}/CA-1", "--note", "Plan presented", "--as", "cmt", now=june))
    _ok(
        pmf(
            "fire",
            q4,
            "note_report",
            "--as",
            "clerk",
            "--data",
            "minute_reference=CAB/26/7",
            now="2026-06-24 20:00",
        )
    )
    assert "stage: Closed (closed)" in _stage(pmf, q4)
    assert "verified" in _ok(pmf("audit", "verify"))


def _readme_commands(block: str) -> list[tuple[list[str], bool]]:
    """Each ``pmf`` command of a README shell block, variables expanded, and whether its
    comment says it is refused."""
    variables: dict[str, str] = {}
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if all(re.fullmatch(r"\w+=.*", w.rstrip(";")) for w in words):
            variables.update(w.rstrip(";").split("=", 1) for w in words)
            continue
        expanded = shlex.split(re.sub(r"\$(\w+)", lambda m: variables[m[1]], line), comments=True)
        assert expanded[0] == "pmf", line
        commands.append((expanded[1:], "# refused" in line))
    return commands


README_RUNS = [
    pytest.param(
        0, DISTRICT, "district.db", {"MDC/2025-26-Q1": "Reported to committee"}, id="committee_district"
    ),
    pytest.param(
        1,
        PLANNING,
        "planning.db",
        {"SBC/2025-26-Q4": "Closed", "SBC/planning-2025-26": "Business plans agreed"},
        id="business_planning",
    ),
]


@pytest.mark.parametrize(("index", "example", "db", "ends"), README_RUNS)
def test_readme_commands_run(
    index: int, example: Path, db: str, ends: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands ``examples/README.md`` gives for the example run as written: each
    succeeds except those it marks as refused, and each cycle ends where the README says."""
    block = re.findall(r"```sh\n(.*?)```", (EXAMPLES / "README.md").read_text(), re.S)[index]
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    commands = _readme_commands(block)
    assert len(commands) > 30
    for args, refused in commands:
        result = CliRunner().invoke(main, ["--log-level", "warning", *args], catch_exceptions=False)
        assert result.exit_code == (1 if refused else 0), (args, result.output)
    pmf = _runner(example, tmp_path / db)
    assert {line.split()[0] for line in _ok(pmf("cycle", "list")).splitlines()} == set(ends)
    for key, label in ends.items():
        assert f"stage: {label} (" in _stage(pmf, key)
