"""Reading spreadsheets people upload, safely: openpyxl parses through defusedxml (XML bombs and
external entities refused), and before that the zip is checked for size and compression ratio
(zip bombs). Formulas are never evaluated or accepted."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl

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


def first_sheet_as_csv(path: Path) -> str:
    """The first sheet's values as CSV text (row N of the sheet is line N), so one reader serves
    CSV and Excel files alike. A formula anywhere refuses the whole file, naming its cells."""
    check_archive(path)
    try:
        book = openpyxl.load_workbook(path, data_only=False, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise DataFileError([Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]) from exc
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    problems: list[Problem] = []
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            values = []
            for cell in cells:
                value = cell.value
                if getattr(cell, "data_type", None) == "f" or (
                    isinstance(value, str) and value.startswith("=")
                ):
                    problems.append(
                        Problem(
                            str(path), number, f"{sheet.title}!{cell.coordinate}", "formulas are not accepted"
                        )
                    )
                values.append(_text(value))
            writer.writerow(values)
    finally:
        book.close()
    if problems:
        raise DataFileError(problems)
    return out.getvalue()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
