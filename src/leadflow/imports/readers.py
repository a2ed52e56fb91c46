"""Reading tabular files row by row: .csv, .csv.gz and .xlsx, each as a header list and a stream of dicts."""

import csv
import gzip
import io
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, cast

from leadflow.errors import InvalidInput

from .cells import from_cell

SUPPORTED = (".csv", ".csv.gz", ".xlsx")


def suffix_of(name: str) -> str:
    """The file's type as one of SUPPORTED (or its last suffix when it is none of them)."""
    name = name.lower()
    return next((suffix for suffix in SUPPORTED if name.endswith(suffix)), Path(name).suffix)


def check_supported(name: str) -> None:
    """Refuse a file that is not .csv, .csv.gz or .xlsx."""
    suffix = suffix_of(name)
    if suffix not in SUPPORTED:
        raise InvalidInput.on("file", f"Unsupported file type {suffix or '(none)'}; use .csv, .csv.gz or .xlsx.")


def read_rows(path: Path) -> tuple[list[str], Generator[dict[str, str], None, None]]:
    """The file's headers and a generator of its rows (values as trimmed text, blank for empty cells); the file
    closes when the rows run out or the generator is closed."""
    check_supported(path.name)
    table = _xlsx_table(path) if suffix_of(path.name) == ".xlsx" else _csv_table(path)
    headers = next(table)  # opens the file: from here on, closing the generator closes it
    return cast(list[str], headers), cast(Generator[dict[str, str], None, None], table)


def _csv_table(path: Path) -> Iterator[list[str] | dict[str, str]]:
    """The headers, then each row."""
    opener: Any = gzip.open if suffix_of(path.name) == ".csv.gz" else open
    with opener(path, "rb") as raw:
        try:
            encoding = _encoding(raw.read(65536))
            raw.seek(0)
        except OSError as exc:  # a .gz file that is not gzip
            raise InvalidInput.on("file", f"Cannot read {path.name}: {exc}.") from exc
        with io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as handle:
            reader = csv.DictReader(handle)
            reader.fieldnames = [header.strip() for header in (reader.fieldnames or [])]
            yield list(reader.fieldnames)
            for row in reader:
                yield {key: from_cell(value or "").strip() for key, value in row.items() if key is not None}


def _encoding(sample: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) unless the sample cannot be UTF-8; then Windows-1252, which is
    what Excel writes for "CSV" on Western systems."""
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not merely a character cut in two by the sample's end
            return "cp1252"
    return "utf-8-sig"


def _xlsx_table(path: Path) -> Iterator[list[str] | dict[str, str]]:
    """The first sheet's headers, then each row that is not empty."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises whatever its zip or XML layer raised
        raise InvalidInput.on("file", f"{path.name} is not a readable .xlsx workbook.") from exc
    try:
        values = book.worksheets[0].iter_rows(values_only=True)
        headers = [_text(cell) for cell in next(values, ())]
        yield headers
        for raw in values:
            if not all(cell in (None, "") for cell in raw):
                yield {h: _text(cell) for h, cell in zip(headers, raw, strict=False) if h}
    finally:
        book.close()


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if hasattr(cell, "isoformat"):
        return cell.isoformat()  # dates and datetimes from Excel
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return from_cell(str(cell)).strip()


def count_rows(path: Path) -> int | None:
    """About how many data rows the file has (for a progress bar): lines for CSV, the sheet's size for .xlsx."""
    if suffix_of(path.name) == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        try:
            last = book.worksheets[0].max_row
        finally:
            book.close()
        return max(last - 1, 0) if last else None
    opener: Any = gzip.open if suffix_of(path.name) == ".csv.gz" else open
    with opener(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)
