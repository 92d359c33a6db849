"""One reader for every tabular import: a CSV file, or the first sheet of an Excel workbook, as
rows of text cells keyed by column, each with its line number.

A row's line is the line of the file it starts on (for a workbook, the sheet's row number), so
a problem names the place a person looks at. Blank lines are skipped. The header must hold the
required columns, or nothing else is read. Problems found in the rows are collected on the
``Table`` and raised together by ``Table.done``: a file with any problem imports nothing, and
every bad cell is listed with its row and column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from pmf_engine.core import values
from pmf_engine.core.errors import DataFileError, Problem
from pmf_engine.pmf import xlsx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: the line it starts on and its cells by column (``""`` for a short row)."""

    line: int
    cells: Mapping[str, str]

    def get(self, column: str) -> str:
        """The cell of ``column`` with surrounding white space stripped; ``""`` without one."""
        return self.cells.get(column, "").strip()


@dataclass
class Table:
    """A file's header and rows, and the problems found in it so far."""

    file: str
    header: tuple[str, ...]
    rows: list[Row]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int | None, column: str, message: str) -> None:
        """Note a problem at ``line`` (``None``: the file as a whole) in ``column``."""
        self.problems.append(Problem(self.file, line, column, message))

    def invalid(
        self, line: int, error: ValidationError, column: Callable[[Sequence[int | str]], str] | None = None
    ) -> None:
        """Note each error of a model's validation at ``line``, in the column ``column`` names
        for the error's location (by default the location joined with dots)."""
        for e in error.errors():
            name = column(e["loc"]) if column else ".".join(map(str, e["loc"]))
            self.problem(line, name, e["msg"])

    def done(self, result: T) -> T:
        """``result`` if no problem was noted; ``DataFileError`` listing every one otherwise."""
        if self.problems:
            raise DataFileError(self.problems)
        return result


def number(cell: str) -> float | None:
    """A cell's number (``None`` when empty); ``ValueError`` saying so when it is not a finite
    one (``nan``, ``inf`` and ``1e400`` are refused: see ``pmf_engine.core.values``)."""
    return values.parse_number(cell) if cell.strip() else None


def not_a_formula(value: str) -> str:
    """``value``, if a spreadsheet would not read it as a formula; ``ValueError`` otherwise (a
    pydantic validator of the text columns of a library: measures, projects)."""
    if values.formula_like(value):
        raise ValueError(
            f"text starting {value[:1]!r} is read as a formula by spreadsheets: "
            "reword it so it does not start with = + - or @"
        )
    return value


def read_table(
    path: Path,
    required: Collection[str],
    *,
    known: Callable[[str], bool] | None = None,
    excel: bool = False,
) -> Table:
    """The table in ``path``: CSV (UTF-8, with or without a byte-order mark) or, with ``excel``,
    the first sheet of an ``.xlsx`` workbook (any formula refuses the file). A header without
    every ``required`` column raises at once; a column ``known`` does not accept is a problem."""
    if excel and path.suffix.lower() == ".xlsx":
        return _table(str(path), _sheet_rows(path), required, known)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    return parse_csv(text, str(path), required, known=known)


def parse_csv(
    text: str, file: str, required: Collection[str], *, known: Callable[[str], bool] | None = None
) -> Table:
    """The table in CSV ``text`` read from ``file``; as ``read_table``."""
    return _table(file, _csv_rows(text, file), required, known)


def _table(
    file: str,
    lines: Iterator[tuple[int, list[str]]],
    required: Collection[str],
    known: Callable[[str], bool] | None,
) -> Table:
    at, header = next(lines, (1, []))
    missing = set(required) - set(header)
    if missing:
        raise DataFileError([Problem(file, at, "header", f"missing column(s): {', '.join(sorted(missing))}")])
    table = Table(file, tuple(header), [])
    if known is not None:
        for name in header:
            if not known(name):
                table.problem(at, name, "unknown column")
    for line, texts in lines:
        cells = dict(zip(header, texts, strict=False))
        cells.update((name, "") for name in header[len(texts) :])
        for name, cell in cells.items():
            why = values.text_problem(cell)
            if why is not None:
                table.problem(line, name, why)
                cells[name] = ""  # so no check below reports the same cell again
        table.rows.append(Row(line, cells))
    return table


def _csv_rows(text: str, file: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for values in reader:
            if values:
                yield start, values
            start = reader.line_num + 1
    except csv.Error as exc:
        problem = Problem(file, reader.line_num or None, "", f"not a readable CSV file: {exc}")
        raise DataFileError([problem]) from exc


def _sheet_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    xlsx.check_archive(path)
    book = xlsx.load_workbook(path)
    rows: list[tuple[int, list[str]]] = []
    problems: list[Problem] = []
    try:
        sheet = book.worksheets[0]
        for line, cells in xlsx.sheet_rows(path, sheet):
            problems += xlsx.cell_problems(path, sheet.title, line, cells)
            if cells:
                rows.append((line, [xlsx.cell_text(cell.value) for cell in cells]))
    finally:
        book.close()
    if problems:
        raise DataFileError(problems)
    return iter(rows)


def read_sheets(path: Path, sheets: Mapping[str, Collection[str]]) -> dict[str, Table]:
    """The tables of an ``.xlsx`` workbook's sheets named in ``sheets`` (each with its required
    columns; a sheet that is not there is an empty table). Problems are named ``SHEET!column``;
    a date and time keeps its time (a meeting's start), a date alone is an ISO date."""
    xlsx.check_archive(path)
    book = xlsx.load_workbook(path)
    found: dict[str, list[tuple[int, list[str]]]] = {name: [] for name in sheets}
    problems: list[Problem] = []
    try:
        for sheet in book.worksheets:
            name = sheet.title.strip().lower()
            if name not in found:
                continue
            for line, cells in xlsx.sheet_rows(path, sheet):
                problems += xlsx.cell_problems(path, sheet.title, line, cells)
                texts = [_cell_text(cell.value) for cell in cells]
                if any(texts):
                    found[name].append((line, texts))
    finally:
        book.close()
    if problems:
        raise DataFileError(problems)
    tables = {}
    for name, required in sheets.items():
        rows = found[name]
        if not rows:
            tables[name] = Table(str(path), tuple(required), [])
            continue
        try:
            table = _table(str(path), iter(rows), required, None)
        except DataFileError as exc:
            raise DataFileError(
                [Problem(p.file, p.line, f"{name}!{p.field}", p.message) for p in exc.problems]
            ) from exc
        header = {column: f"{name}!{column}" for column in table.header}
        table.problems[:] = [
            Problem(p.file, p.line, header.get(p.field, p.field), p.message) for p in table.problems
        ]
        tables[name] = table
    return tables


def _cell_text(value: object) -> str:
    if isinstance(value, datetime) and (value.hour, value.minute) != (0, 0):
        return value.isoformat(sep=" ", timespec="minutes")
    return xlsx.cell_text(value)
