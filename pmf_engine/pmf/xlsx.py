"""Spreadsheets, safely both ways.

Reading what people upload: openpyxl parses through defusedxml (XML bombs and external entities
refused), and before that the zip is checked for size and compression ratio (zip bombs). A
sheet is parsed lazily as its rows are read, so ``sheet_rows`` turns a damaged sheet (truncated
XML, ``<v>NaN</v>``, a bad ``t="d"`` date, a shared string that is not there) into a
``DataFileError`` naming the file, the sheet and the row. ``cell_problems`` refuses formulas
(never evaluated or accepted), error values, numbers that are not finite and text with control
characters, cell by cell.

Writing what people will open: ``append_text_row`` writes every text as a text cell (never a
formula, whatever it starts with; formula-like text also gets Excel's quote prefix, so editing
the cell does not turn it into one).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl

from pmf_engine.core import values
from pmf_engine.core.errors import DataFileError, Problem

MAX_UNCOMPRESSED = 20 * 1024 * 1024
MAX_RATIO = 100


def check_archive(path: Path) -> None:
    """Refuse what is not a modest, honest zip before openpyxl inflates anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataFileError([Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]) from exc
    total = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if total > MAX_UNCOMPRESSED or total / packed > MAX_RATIO:
        raise DataFileError(
            [
                Problem(
                    str(path),
                    None,
                    "",
                    f"refused: {total:,} bytes uncompressed from {packed:,} (a zip bomb?)",
                )
            ]
        )


def load_workbook(path: Path) -> Any:
    """The workbook read-only, formulas as written (never evaluated); ``DataFileError`` if damaged.
    Call ``check_archive`` first."""
    try:
        return openpyxl.load_workbook(path, data_only=False, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise DataFileError([Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]) from exc


def sheet_rows(
    path: Path, sheet: Any, *, min_row: int = 1, max_col: int | None = None
) -> Iterator[tuple[int, Any]]:
    """The rows of ``sheet`` (a worksheet of ``load_workbook``) with their numbers from
    ``min_row``; a sheet that cannot be parsed raises ``DataFileError`` at the row it broke on."""
    rows = sheet.iter_rows(min_row=min_row, max_col=max_col)
    number = min_row
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # openpyxl's parser raises many kinds mid-sheet
            why = f"the sheet is damaged at or after row {number}: {type(exc).__name__}: {exc}"
            raise DataFileError([Problem(str(path), number, sheet.title, why)]) from exc
        yield number, cells
        number += 1


def cell_problems(path: Path, sheet: str, number: int, cells: Any) -> list[Problem]:
    """A problem for each cell of row ``number`` of ``sheet`` that is not plain data: a formula,
    an error value (``#VALUE!``), a number that is not finite or text with a control character."""
    problems = []
    for cell in cells:
        value, kind = getattr(cell, "value", None), getattr(cell, "data_type", None)
        if kind == "f" or (isinstance(value, str) and value.startswith("=")):
            why: str | None = "formulas are not accepted"
        elif kind == "e":
            why = f"{value!r} is an error value, not data"
        elif isinstance(value, float):
            why = values.number_problem(value)
        elif isinstance(value, str):
            why = values.text_problem(value)
        else:
            why = None
        if why is not None:
            problems.append(Problem(str(path), number, f"{sheet}!{cell.coordinate}", why))
    return problems


def save(book: Any, path: Path) -> None:
    """Write ``book`` to ``path`` whole: built in memory first, so a path that cannot be written
    (no such folder, a full disk) is one ``OSError`` naming it, with nothing half-written and
    no zip left open for the interpreter to complain about at exit."""
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())


def append_text_row(sheet: Any, row: Sequence[object]) -> None:
    """Append ``row`` to ``sheet`` with every text written as a text cell, never as a formula."""
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        mark_text(cell)


def mark_text(cell: Any) -> None:
    """Make ``cell`` a text cell if it holds text (openpyxl reads ``=...`` as a formula)."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if values.formula_like(cell.value):
            cell.quotePrefix = True


def cell_text(value: object) -> str:
    """A cell's value as the text a CSV file would hold: dates as ISO dates, whole numbers bare."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
