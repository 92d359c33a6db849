"""One style on the command line: every command that needs an organisation takes ``--org ORG``
(and a year, ``--year YEAR``), as ``cycle start``, ``calendar`` and ``targets`` always did.
The leading arguments the older commands took (``pmf risks list ORG``, ``pmf plans show ORG
YEAR SERVICE``) still work, so no council's script breaks, but the help shows only the options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pmf_engine.interfaces.main import main
from tests.conftest import POLICIES, WORKFLOWS
from tests.test_cli import _bootstrap

MOVED = {"organisation": "--org", "year": "--year"}
"""An argument of these names is given by this option."""


def _commands(
    group: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _leading(command: click.Command) -> list[str]:
    """The options for the organisation and year arguments ``command`` has (positionally)."""
    names = [p.name for p in command.params if isinstance(p, click.Argument)]
    metavars = [
        p.metavar for p in command.params if isinstance(p, click.Argument) and p.metavar == "ORGANISATION"
    ]
    return [option for name, option in MOVED.items() if name in names] + ["--org"] * len(metavars)


NEEDING_AN_ORGANISATION = [
    pytest.param(path, _leading(command), id=" ".join(path))
    for path, command in _commands(main)
    if _leading(command)
]


def test_the_commands_that_took_a_leading_organisation_are_all_found() -> None:
    found = {" ".join(p.values[0]) for p in NEEDING_AN_ORGANISATION}
    assert {
        "org area",
        "service list",
        "service add",
        "service import",
        "actor import",
        "measures import",
        "measures list",
        "measures export",
        "projects import",
        "projects list",
        "risks import",
        "risks list",
        "actuals import-history",
        "actions list",
        "plans start",
        "plans list",
        "plans show",
        "plans write",
        "plans action",
        "plans risk",
        "plans import",
    } <= found


@pytest.mark.parametrize(("path", "options"), NEEDING_AN_ORGANISATION)
def test_help_shows_the_options_not_the_arguments(path: tuple[str, ...], options: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    usage = result.output.split("\n\n")[0]
    assert "ORGANISATION" not in usage and " YEAR" not in usage.replace("--year YEAR", ""), usage
    for option in options:
        assert f"{option} {option[2:].upper()}" in usage, usage
        assert f"  {option} " in result.output, result.output


@pytest.fixture
def pmf(empty_url: str):  # type: ignore[no-untyped-def]
    """The CLI on a rehearsal database, on each backend."""
    db = empty_url

    def run(*args: str) -> Result:
        result = CliRunner().invoke(
            main,
            ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output
        return result

    assert run("db", "upgrade", "--rehearsal").exit_code == 0
    return run


def test_org_and_the_old_leading_argument_do_the_same(pmf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bootstrap(pmf, "WDC", "Wexcombe District Council")
    assert pmf("service", "add", "--org", "WDC", "HOUSING", "Housing", "--as", "admin").exit_code == 0
    assert pmf("service", "add", "WDC", "WASTE", "Waste", "--as", "admin").exit_code == 0
    services = tmp_path / "services.csv"
    services.write_text("code,name\nLEISURE,Leisure\n")
    assert pmf("service", "import", "--org", "WDC", str(services), "--as", "admin").exit_code == 0
    assert pmf("service", "list", "--org=WDC").stdout == pmf("service", "list", "WDC").stdout
    assert pmf("service", "list", "--org", "WDC").stdout.count("\n") == 3
    people = tmp_path / "people.csv"
    people.write_text("username,name,email,roles\nperf,Perf,,performance_officer\n")
    assert pmf("actor", "import", "--as", "admin", "--org", "WDC", str(people)).exit_code == 0
    assert pmf("org", "area", "--org", "WDC", "E07000033", "--as", "admin").stdout == (
        "organisation WDC: GSS code E07000033\n"
    )
    measures = tmp_path / "measures.csv"
    measures.write_text("code,title,polarity,format,service\nHOU-01,Homes let,higher,number,HOUSING\n")
    assert pmf("measures", "import", str(measures), "--org", "WDC", "--as", "perf").exit_code == 0
    assert pmf("measures", "list", "--org", "WDC").stdout == pmf("measures", "list", "WDC").stdout
    assert "HOU-01" in pmf("measures", "export", "--org", "WDC").stdout
    for group in ("risks", "projects", "actions", "plans"):
        listed = pmf(group, "list", "--org", "WDC")
        assert listed.exit_code == 0 and listed.stdout == pmf(group, "list", "WDC").stdout, group
    started = pmf("plans", "start", "--org", "WDC", "--year", "2025-26", "--as", "perf")
    assert started.exit_code == 0 and "3 service plan(s)" in started.stdout, started.output
    shown = pmf("plans", "show", "--org", "WDC", "--year", "2025-26", "HOUSING")
    assert shown.exit_code == 0 and shown.stdout == pmf("plans", "show", "WDC", "2025-26", "HOUSING").stdout
    assert shown.stdout == pmf("plans", "show", "HOUSING", "--year=2025-26", "--org", "WDC").stdout
    written = pmf(
        "plans",
        "write",
        "--org",
        "WDC",
        "--year",
        "2025-26",
        "HOUSING",
        "--self-evaluation",
        "Good",
        "--as",
        "perf",
    )
    assert written.exit_code == 0, written.output
    assert "Self-evaluation: Good" in pmf("plans", "show", "WDC", "2025-26", "HOUSING").stdout


def test_an_organisation_missing_or_given_twice_is_a_usage_error(pmf) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ("risks", "list"),
        ("plans", "start", "--year", "2025-26", "--as", "perf"),
        ("measures", "import", "--as", "perf"),
    ):
        result = pmf(*args)
        assert result.exit_code == 2 and "Missing option '--org'" in result.output, (args, result.output)
    twice = pmf("risks", "list", "WDC", "--org", "WDC")
    assert twice.exit_code == 2 and "give --org or the ORGANISATION argument, not both" in twice.output
    dangling = pmf("risks", "list", "--org")
    assert dangling.exit_code == 2 and "'--org' requires an argument" in dangling.output
