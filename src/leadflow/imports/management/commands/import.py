"""`leadflow import PATH [--preset ...] [--mapping FILE] [--update fill|overwrite] [--dry-run] [--errors FILE]
[--as USERNAME]`."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.errors import DomainError
from leadflow.imports.services import PRESETS, import_path
from leadflow.imports.spreadsheet import load_mapping
from leadflow.imports.vendor import UPDATE_MODES
from leadflow.users.models import Role, User


class Command(BaseCommand):
    help = (
        "Import leads from .csv, .csv.gz or .xlsx (preset generic), a HubSpot, Salesforce or Pipedrive export (one "
        "file, or a folder or .zip of its files: presets hubspot, salesforce, pipedrive), a leadforge bundle folder "
        "(leadforge) or a leadforge labels file (leadforge-labels)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--preset", choices=PRESETS, default="generic")
        parser.add_argument("--mapping", type=Path, help="JSON file {column header: field} overriding auto-detection")
        parser.add_argument(
            "--update",
            choices=UPDATE_MODES,
            default="fill",
            help="Records already here (same email or record id): fill their blank fields, or overwrite them",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and count; write nothing")
        parser.add_argument(
            "--errors",
            type=Path,
            help="Write the refused rows to this file (for a product's export: a fixable copy that imports back; "
            "a .zip when they came from several files)",
        )
        parser.add_argument(
            "--as", dest="username", help="User the imported leads are captured by (an admin by default)"
        )

    def handle(self, *args: object, **options: object) -> None:
        path = options["path"]
        assert isinstance(path, Path)
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        self._last = ("", time.perf_counter(), 0)
        try:
            report = import_path(
                path,
                preset=str(options["preset"]),
                by=_importer(options["username"]),
                mapping=load_mapping(options["mapping"]) if isinstance(options["mapping"], Path) else None,
                update=str(options["update"]),
                dry_run=bool(options["dry_run"]),
                progress=self._progress,
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        if self._last[0]:
            self.stderr.write("")  # end the progress line
        self.stdout.write(report.summary())
        errors = options["errors"]
        if isinstance(errors, Path):
            suffix, content = report.errors_file()
            if suffix != errors.suffix:
                errors = errors.with_suffix(suffix)
            errors.write_bytes(content)
            what = f"{len(report.refused)} refused rows" if report.refused else f"{len(report.errors)} invalid values"
            self.stdout.write(f"{what} written to {errors}")
        elif report.errors:
            for error in report.errors[:10]:
                self.stdout.write(f"  {error.table} row {error.row}, {error.column}: {error.reason}")
            if len(report.errors) > 10:
                self.stdout.write(f"  … and {len(report.errors) - 10} more (use --errors FILE to get them all)")

    def _progress(self, table: str, rows: int) -> None:
        """A one-line progress bar with the rate since the last update."""
        now = time.perf_counter()
        last_table, then, before = self._last
        if table != last_table:
            before = 0
        rate = (rows - before) / (now - then) if now > then else 0
        self._last = (table, now, rows)
        self.stderr.write(f"\r{table:<18} {rows:>10,} rows  {rate:>10,.0f} rows/s", ending="")
        self.stderr.flush()


def _importer(username: object) -> User | None:
    """The user named by --as, else the first admin (None when there is none: only spreadsheets need one)."""
    users = User.objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        return user
    return users.filter(role=Role.ADMIN).order_by("id").first()
