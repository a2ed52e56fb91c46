"""What an import did, table by table: new, duplicate (already there), invalid, with the reasons; and for a
product's export, what it could not map, what it changed and the refused rows as a fixable copy."""

import csv
import io
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .cells import to_cell

# Called now and then during an import with the table being read and the rows read from it so far.
Progress = Callable[[str, int], None]
# Rows are numbered as a spreadsheet shows them: the header is row 1, the first row of data row 2.
FIRST_ROW = 2


@dataclass
class RowError:
    table: str
    row: int  # as a spreadsheet numbers it (see FIRST_ROW)
    column: str
    reason: str


# The column a fixable copy of refused rows adds; an import reading that copy back ignores it.
REASON_COLUMN = "Import error"


@dataclass
class RefusedRow:
    """A row refused whole, with everything it held, so a fixed copy can be imported again."""

    file: str
    headers: list[str]
    values: dict[str, str]
    reason: str


@dataclass
class TableCounts:
    FIELDS = ("read", "new", "updated", "duplicate", "invalid")

    read: int = 0
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    invalid: int = 0


@dataclass
class ImportReport:
    dry_run: bool = False
    tables: dict[str, TableCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    refused: list[RefusedRow] = field(default_factory=list)
    unknown: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, value) → rows
    warnings: list[str] = field(default_factory=list)
    changed: Counter[str] = field(default_factory=Counter)  # "table: field" → records changed
    unmatched_owners: Counter[str] = field(default_factory=Counter)  # owner as written → records
    without_deal: list[str] = field(default_factory=list)  # people whose funnel stage needed a deal not imported

    def table(self, name: str) -> TableCounts:
        return self.tables.setdefault(name, TableCounts())

    def reject(self, table: str, row: int, column: str, reason: str) -> None:
        """Count the row as invalid and say why."""
        self.table(table).invalid += 1
        self.note(table, row, column, reason)

    def refuse(self, table: str, file: str, row: int, headers: list[str], values: dict[str, str], reason: str) -> None:
        """Count the row as invalid and keep all of it for the fixable copy."""
        self.reject(table, row, file, reason)
        self.refused.append(RefusedRow(file, headers, values, f"{file} row {row}: {reason}"))

    def note(self, table: str, row: int, column: str, reason: str) -> None:
        """One more reason a row already counted as invalid was refused."""
        self.errors.append(RowError(table, row, column, reason))

    @property
    def rows(self) -> int:
        return sum(counts.read for counts in self.tables.values())

    @property
    def changed_nothing(self) -> bool:
        return all(counts.new == 0 and counts.updated == 0 for counts in self.tables.values())

    def summary(self) -> str:
        """A table of the counts, the rate, and the totals in a sentence (for the command line)."""
        lines = [
            f"{name:<18} read {c.read:>9,}  new {c.new:>9,}  updated {c.updated:>7,}  duplicate {c.duplicate:>9,}"
            f"  invalid {c.invalid:>6,}"
            for name, c in self.tables.items()
        ]
        rate = self.rows / self.seconds if self.seconds else 0
        lines.append(f"{self.rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)")
        lines.append(self.sentence())
        details = self.details()
        for title, key in DETAIL_TITLES:
            if details[key]:
                lines.append(f"{title}:")
                lines.extend(f"  {line}" for line in details[key])
        return "\n".join(lines)

    def details(self) -> dict[str, list[str]]:
        """What needs the user's eye beyond the counts, as lines by kind (see DETAIL_TITLES)."""
        plural = lambda n, word: f"{n:,} {word}{'' if n == 1 else 's'}"  # noqa: E731
        return {
            "unknown": [f"{column}: {value!r} on {plural(n, 'row')}" for (column, value), n in self.unknown.items()],
            "changed": [f"{name} on {plural(n, 'record')}" for name, n in sorted(self.changed.items())],
            "owners": [f"{name!r} on {plural(n, 'record')}" for name, n in self.unmatched_owners.most_common()],
            "without_deal": list(self.without_deal),
            "warnings": list(self.warnings),
        }

    def errors_file(self) -> tuple[str, bytes]:
        """The refused rows as a fixable copy, (suffix, content): all their columns plus REASON_COLUMN, as one .csv
        when they came from one file, else a .zip of one such .csv per file (either imports back as it is). Without
        refused rows kept whole: the reasons as `write_errors` gives them."""
        if not self.refused:
            text = io.StringIO()
            self.write_errors(text)
            return ".csv", text.getvalue().encode()
        by_file: dict[str, list[RefusedRow]] = {}
        for row in self.refused:
            by_file.setdefault(row.file, []).append(row)
        if len(by_file) == 1:
            return ".csv", _fixable_csv(next(iter(by_file.values())))
        content = io.BytesIO()
        with zipfile.ZipFile(content, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, rows in by_file.items():
                bundle.writestr(f"{Path(name).stem}.csv", _fixable_csv(rows))
        return ".zip", content.getvalue()

    def sentence(self) -> str:
        """The totals over every table, and whether anything was written, in a line."""
        total = {name: sum(getattr(counts, name) for counts in self.tables.values()) for name in TableCounts.FIELDS}
        text = (
            f"{total['read']:,} rows: {total['new']:,} new, {total['updated']:,} updated, "
            f"{total['duplicate']:,} already there, {total['invalid']:,} invalid."
        )
        if self.dry_run:
            return f"{text} Dry run: nothing was written."
        if self.changed_nothing:
            return f"{text} Nothing changed: every valid row was already imported."
        return text

    def counts(self) -> dict[str, dict[str, int]]:
        """The counts table by table, as plain data."""
        return {name: asdict(counts) for name, counts in self.tables.items()}

    def state(self) -> dict[str, Any]:
        """The counts and the invalid rows as plain data, to resume from (see `resumed`)."""
        return {"counts": self.counts(), "errors": [astuple(error) for error in self.errors]}

    @classmethod
    def resumed(cls, state: dict[str, Any]) -> "ImportReport":
        """A report carrying on from a `state`."""
        return cls(
            tables={name: TableCounts(**counts) for name, counts in state["counts"].items()},
            errors=[RowError(*error) for error in state["errors"]],
        )

    def write_errors(self, handle: TextIO) -> None:
        """The invalid rows as CSV: table, row, column, reason."""
        writer = csv.writer(handle)
        writer.writerow(["table", "row", "column", "reason"])
        writer.writerows([e.table, e.row, to_cell(e.column), to_cell(e.reason)] for e in self.errors)


DETAIL_TITLES = (
    ("Values leadflow does not know (imported as other or blank; the original is kept)", "unknown"),
    ("Fields changed on records already here", "changed"),
    ("Owners matching no user (their records wait in the team queue)", "owners"),
    ("People whose stage needs a deal this import lacks (imported as prospects)", "without_deal"),
    ("Warnings", "warnings"),
)


def _fixable_csv(rows: list[RefusedRow]) -> bytes:
    headers = [header for header in rows[0].headers if header != REASON_COLUMN] + [REASON_COLUMN]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([*(to_cell(row.values.get(header, "")) for header in headers[:-1]), to_cell(row.reason)])
    return ("\ufeff" + text.getvalue()).encode()  # with a byte-order mark, so Excel reads it as UTF-8


def details_of(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """A stored `details()` as (title, lines) for each kind that has lines."""
    return [(title, summary[key]) for title, key in DETAIL_TITLES if summary.get(key)]
