"""`leadflow export leads|contacts|accounts|opportunities [--as USERNAME] [filters] [-o FILE]`."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.imports.exports import KINDS, csv_lines, export_rows, iterate
from leadflow.leads.models import LeadSource, LifecycleStage
from leadflow.pipeline.models import Stage
from leadflow.pipeline.selectors import default_pipeline
from leadflow.users.models import Role, User


class Command(BaseCommand):
    help = "Export a list as CSV, filtered as in the app and limited to what the user may see (an admin by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--as", dest="username", help="Export what this user may see (an admin by default)")
        parser.add_argument("-o", "--output", type=Path, help="File to write (standard output by default)")
        parser.add_argument("--search", help="Text in a name, email, company or domain")
        parser.add_argument("--stage", help="Leads: lifecycle stage; opportunities: stage name or id")
        parser.add_argument("--source", choices=LeadSource.values, help="Leads: source")
        parser.add_argument("--owner", help="Leads, opportunities: the owner's username")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--open", dest="is_open", action="store_true", default=None, help="Open deals only")
        state.add_argument("--closed", dest="is_open", action="store_false", help="Closed deals only")

    def handle(self, *args: object, **options: Any) -> None:
        kind = options["kind"]
        columns, rows = export_rows(kind, _exporter(options["username"]), _filters(kind, options))
        lines = csv_lines(columns, iterate(rows))
        output = options["output"]
        if output is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        with output.open("w", newline="") as handle:
            count = sum(1 for line in lines if handle.write(line)) - 1
        self.stderr.write(f"{count:,} {kind} written to {output}")


def _exporter(username: str | None) -> User:
    users = User.objects.filter(is_active=True)
    user = users.filter(username=username).first() if username else users.filter(role=Role.ADMIN).first()
    if user is None:
        raise CommandError(f"No active user {username!r}." if username else "Name a user with --as.")
    return user


def _filters(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The list's own filters from the options that apply to this kind of list."""
    filters: dict[str, Any] = {"search": options["search"]}
    owner = options["owner"]
    owner_id = User.objects.filter(username=owner).values_list("pk", flat=True).first() if owner else None
    if owner and owner_id is None:
        raise CommandError(f"No user {owner!r}.")
    stage = options["stage"]
    if kind == "leads":
        if stage and stage not in LifecycleStage.values:
            raise CommandError(f"--stage for leads is one of {', '.join(LifecycleStage.values)}.")
        filters.update(lifecycle_stage=stage, source=options["source"], owner_id=owner_id)
    elif kind == "opportunities":
        filters.update(is_open=options["is_open"], owner_id=owner_id, stage_id=_stage_id(stage) if stage else None)
    return filters


def _stage_id(stage: str) -> int:
    stages = default_pipeline().stages
    found = Stage.objects.filter(pk=int(stage)) if stage.isdigit() else stages.filter(name__iexact=stage)
    pk = found.values_list("pk", flat=True).first()
    if pk is None:
        names = ", ".join(stages.values_list("name", flat=True))
        raise CommandError(f"No stage {stage!r} in the default pipeline; choose one of {names}.")
    return pk
