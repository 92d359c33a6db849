"""The CLI's one error handler: every command's errors (``serve`` included) become one line per
problem on stderr and the exit code of their class, never a traceback."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from pmf_engine.core import errors
from pmf_engine.core.errors import DataFileError, NotFound, PmfError, Problem
from pmf_engine.interfaces.cli.errors import EXIT_CODES, PmfGroup, exit_code
from pmf_engine.interfaces.main import main


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


def test_database_unreachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    result = CliRunner().invoke(
        main, ["--db", db, "org", "add", "KDC", "Kenton", "--bootstrap"], catch_exceptions=False
    )
    assert result.exit_code == 1 and result.stderr.startswith("database error: OperationalError:")
    assert "Traceback" not in result.output


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
