"""`leadflow assign [--lead ID ...]`: give owners to unowned prospects (or the given leads) by the assignment
rules; safe to run while workers do the same."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leadflow.qualification.services import assign_waiting_leads


class Command(BaseCommand):
    help = "Assign unowned qualified leads (or the leads given) by the assignment rules and account ownership."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lead", type=int, action="append", metavar="ID", help="Only this lead (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = assign_waiting_leads(lead_ids=options["lead"])
        self.stdout.write(
            f"Assigned {counts['assigned']:,} lead{'s' if counts['assigned'] != 1 else ''}; "
            f"{counts['unassigned']:,} matched no rule with a rep free to take it and stay in the queue."
        )
