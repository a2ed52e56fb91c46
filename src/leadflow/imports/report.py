"""What an import did, table by table: new, duplicate (already there), invalid, with the reasons."""

import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

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

    def table(self, name: str) -> TableCounts:
        return self.tables.setdefault(name, TableCounts())

    def reject(self, table: str, row: int, column: str, reason: str) -> None:
        """Count the row as invalid and say why."""
        self.table(table).invalid += 1
        self.note(table, row, column, reason)

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
        return "\n".join(lines)

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

    def write_errors(self, handle: TextIO) -> None:
        """The invalid rows as CSV: table, row, column, reason."""
        writer = csv.writer(handle)
        writer.writerow(["table", "row", "column", "reason"])
        writer.writerows([e.table, e.row, to_cell(e.column), to_cell(e.reason)] for e in self.errors)
