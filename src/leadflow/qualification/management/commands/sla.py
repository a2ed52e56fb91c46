"""`leadflow sla check|report [--as USER]`: flag missed response times now, or list the qualified leads at risk."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from leadflow.qualification.selectors import no_lead_lost, problems_of
from leadflow.qualification.services import check_slas
from leadflow.users.models import Role, User


class Command(BaseCommand):
    help = "check: record and notify SLA breaches (as the worker does); report: the 'no lead lost' list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["check", "report"])
        parser.add_argument("--as", dest="username", help="See what this user sees (an admin's view by default)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "check":
            counts = check_slas()
            self.stdout.write(
                f"New breaches: {counts['first_touch']:,} first touch, {counts['decision']:,} accept/reject; "
                f"{counts['reassigned']:,} lead(s) reassigned."
            )
        user = User(role=Role.ADMIN)
        if options["username"]:
            found = User.objects.filter(username=options["username"], is_active=True).first()
            if found is None:
                raise CommandError(f"No active user {options['username']!r}.")
            user = found
        at_risk = no_lead_lost(user)
        self.stdout.write(f"Qualified leads at risk (no owner, next step or touch within SLA): {at_risk.count():,}")
        if options["action"] == "report":
            for lead in at_risk.iterator():
                arrived = getattr(lead, "arrived_at", None)
                when = f"arrived {timezone.localtime(arrived):%Y-%m-%d %H:%M}" if arrived else "never handed over"
                self.stdout.write(
                    f"  lead {lead.pk}  {lead.contact}  ({lead.owner or 'no owner'}; {when}): "
                    f"{', '.join(problems_of(lead))}"
                )
