"""Spreadsheet-safe CSV cells: text a spreadsheet would run as a formula gets a leading apostrophe on the way out,
and the importer takes it off again, so an exported file re-imports unchanged."""

from typing import Any

# What Excel, LibreOffice and Google Sheets treat as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_cell(value: Any) -> Any:
    """The value as a CSV cell: text starting like a formula is prefixed with ' (a phone "+1 555…" too)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def from_cell(text: str) -> str:
    """The text a cell written by to_cell held (other cells unchanged)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
