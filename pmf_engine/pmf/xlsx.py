"""Opening spreadsheets people upload, safely: openpyxl parses through defusedxml (XML bombs and
external entities refused), and before that the zip is checked for size and compression ratio
(zip bombs). Formulas are never evaluated or accepted."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

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


def load_workbook(path: Path) -> Any:
    """The workbook read-only, formulas as written (never evaluated); ``DataFileError`` if damaged.
    Call ``check_archive`` first."""
    try:
        return openpyxl.load_workbook(path, data_only=False, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise DataFileError([Problem(str(path), None, "", f"not a readable .xlsx file: {exc}")]) from exc


def formulas(path: Path, sheet: str, number: int, cells: Any) -> list[Problem]:
    """A problem for each cell of row ``number`` of ``sheet`` that holds a formula."""
    return [
        Problem(str(path), number, f"{sheet}!{cell.coordinate}", "formulas are not accepted")
        for cell in cells
        if getattr(cell, "data_type", None) == "f"
        or (isinstance(cell.value, str) and cell.value.startswith("="))
    ]


def cell_text(value: object) -> str:
    """A cell's value as the text a CSV file would hold: dates as ISO dates, whole numbers bare."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
