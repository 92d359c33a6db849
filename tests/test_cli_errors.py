"""The CLI's one error handler: every command's errors (``serve`` included) become one line per
problem on stderr and the exit code of their class, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from pmf_engine.core import errors
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, NotFound, PmfError, Problem
from pmf_engine.interfaces.cli.errors import EXIT_CODES, PmfGroup, exit_code
from pmf_engine.interfaces.main import main
from pmf_engine.pmf import xlsx
from tests.conftest import CYCLE, ORG, services


def test_every_error_class_has_exit_code_1() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, PmfError)]
    assert len(classes) > 10 and PmfError in EXIT_CODES
    for cls in classes:
        assert exit_code(cls.__new__(cls)) == 1, cls


@pytest.mark.parametrize(
    ("error", "lines"),
    [
        (NotFound("cycle", "X/1"), ["NotFound: no cycle 'X/1'"]),
        (
            DataFileError([Problem("a.csv", 2, "value", "bad"), Problem("a.csv", 3, "", "worse")]),
            ["invalid: a.csv:2: [value] bad", "invalid: a.csv:3: worse"],
        ),
        (
            OperationalError("SELECT 1", {}, Exception("gone\nmore")),
            ["database error: OperationalError: (builtins.Exception) gone"],
        ),
    ],
)
def test_a_command_raises_and_the_group_reports(error: Exception, lines: list[str]) -> None:
    @click.group(cls=PmfGroup)
    def root() -> None:
        """A root like ``pmf``."""

    @root.group()
    def sub() -> None:
        """A group under it."""

    @sub.command()
    def boom() -> None:
        """Raise."""
        raise error

    result = CliRunner().invoke(root, ["sub", "boom"])
    assert result.exit_code == 1 and result.stderr.splitlines() == lines
    assert result.stdout == "" and isinstance(result.exception, SystemExit)


def test_a_bug_is_not_swallowed() -> None:
    @click.group(cls=PmfGroup)
    def root() -> None:
        """A root like ``pmf``."""

    @root.command()
    def bug() -> None:
        """Raise something that is not ours."""
        raise KeyError("x")

    result = CliRunner().invoke(root, ["bug"])
    assert isinstance(result.exception, KeyError)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_database_unreachable(tmp_path: Path, backend: str) -> None:
    """A SQLite file in a folder that is not there, or a PostgreSQL server that is not
    listening: one line naming the database error, no traceback."""
    with socket.socket() as sock:  # a port nothing listens on: bound, never listened
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        db = (
            f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
            if backend == "sqlite"
            else f"postgresql+psycopg://pmf@127.0.0.1:{port}/pmf?connect_timeout=5"
        )
        result = CliRunner().invoke(
            main, ["--db", db, "org", "add", "KDC", "Kenton", "--bootstrap"], catch_exceptions=False
        )
    assert result.exit_code == 1 and result.stderr.startswith("database error: OperationalError:")
    assert "Traceback" not in result.output


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """``pmf cycle status ... | head -6`` printed ``BrokenPipeError: [Errno 32] Broken pipe``:
    a reader that stops reading is no error to report (click's own handling, exit 1)."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line is written
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "pmf"), "workflow", "show", "quarterly_cycle"],
            stdout=write,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env={**os.environ, "PMF_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")


def test_serve_is_under_the_handler() -> None:
    assert isinstance(main, PmfGroup) and "serve" in main.commands


def test_an_unsupported_database_url_is_one_line_without_its_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A MySQL URL (no driver installed) once ended in a traceback that showed the whole URL."""
    result = CliRunner().invoke(main, ["--db", "mysql://u:secret@db.internal/pmf", "cycle", "list"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.strip().splitlines() == [
        "InvalidInput: database URL scheme 'mysql': "
        "pmf-engine runs on sqlite:///FILE or postgresql://USER@HOST/DB"
    ]
    assert "secret" not in result.output + result.stderr


def test_without_db_a_missing_database_is_named_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#14.9: a command run without ``--db`` where no database exists says so instead of
    silently creating an empty ``pmf.db``; a command that sets one up may create it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMF_DATABASE_URL", raising=False)
    runner = CliRunner()
    listed = runner.invoke(main, ["cycle", "list"])
    assert listed.exit_code == 1 and "no database './pmf.db'" in listed.stderr
    assert not (tmp_path / "pmf.db").exists()
    assert runner.invoke(main, ["org", "add", "TST", "Test", "--bootstrap"]).exit_code == 0
    assert (tmp_path / "pmf.db").exists() and runner.invoke(main, ["cycle", "list"]).exit_code == 0


def test_an_unwritable_output_path_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """#14.9: ``-o /nonexistent/q1.csv``."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(main, ["--db", db, "audit", "export", "-o", "/nonexistent/dir/a.csv"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().startswith("cannot use /nonexistent/dir/a.csv")


OUTPUT_COMMANDS = {
    "report quarterly --format html": ["report", CYCLE, "--format", "html"],
    "report quarterly --format pdf": ["report", CYCLE, "--format", "pdf"],
    "report quarterly --format xlsx": ["report", CYCLE, "--format", "xlsx"],
    "report annual": ["report", "annual", "--org", ORG, "--year", "2024-25"],
    "returns template": ["returns", "template", CYCLE, "HOUSING"],
    "measures export (csv)": ["measures", "export", ORG],
    "measures export (xlsx)": ["measures", "export", ORG],
    "calendar export": ["calendar", "export", CYCLE],
    "audit export": ["audit", "export"],
    "quality summary": ["quality", "summary", CYCLE],
}
"""Every command that takes ``-o``, as it is run here (the xlsx export by the file's suffix)."""


def _with_output(command: click.Command, path: str = "") -> Iterator[str]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _with_output(sub, f"{path} {name}".strip())
    elif any(p.name == "output" for p in command.params):
        yield path


def test_every_output_command_is_in_the_matrix() -> None:
    """A new command with ``-o`` must join ``OUTPUT_COMMANDS``."""
    assert set(_with_output(main)) == {name.split(" (")[0].split(" --")[0] for name in OUTPUT_COMMANDS}


@pytest.fixture
def council_db(engine: Engine, store_url: str) -> str:
    """The seeded council with its measures and a started cycle (on each backend)."""
    services(engine).performance.import_measures(
        ORG, Path(__file__).parent / "fixtures" / "measures" / "measures.csv", by="perf"
    )
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return store_url


@pytest.mark.parametrize("name", sorted(OUTPUT_COMMANDS))
@pytest.mark.parametrize("where", ["/nonexistent/dir/out", "/dev/full"])
def test_every_unwritable_output_is_one_line_naming_it(council_db: str, name: str, where: str) -> None:
    """#14.9: ``pmf report ... -o /nonexistent/q1.pdf`` and every other ``-o``: exit 1, one line
    naming the file (a full disk too, whose error names no file of its own)."""
    if where == "/dev/full" and not Path(where).exists():
        pytest.skip("no /dev/full here")
    target = where + (".xlsx" if "xlsx" in name and where != "/dev/full" else "")
    if name == "measures export (xlsx)" and where == "/dev/full":
        pytest.skip("the export picks Excel by the file's suffix; /dev/full has none")
    result = CliRunner().invoke(main, ["--db", council_db, *OUTPUT_COMMANDS[name], "-o", target])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [result.stderr.strip()], "one line"
    assert result.stderr.startswith(f"cannot use {target}: ")


def test_a_workbook_to_a_full_disk_leaves_no_open_zip_behind(tmp_path: Path) -> None:
    """openpyxl writing straight to the path left a zip for the interpreter to close at exit,
    which printed a second traceback ("Exception ignored in ZipFile.__del__")."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with pytest.raises(OSError, match="No space left"):
        xlsx.save(openpyxl.Workbook(), Path("/dev/full"))
    assert not list(tmp_path.iterdir())
