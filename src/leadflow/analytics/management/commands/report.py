"""`leadflow report NAME [--json] [--csv] [--as USER] [--since D] [--until D] [--source S]`."""

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.analytics.reports import REPORTS, csv_text, run_report
from leadflow.analytics.selectors import Scope
from leadflow.users.models import Role, User


class Command(BaseCommand):
    help = "Print an analytics report: " + ", ".join(REPORTS)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=list(REPORTS))
        parser.add_argument("--json", action="store_true", help="Print JSON (the default is a readable table)")
        parser.add_argument("--csv", action="store_true", help="Print the report's table as CSV")
        parser.add_argument("--as", dest="username", help="See what this user sees (an admin's view by default)")
        parser.add_argument("--since", type=date.fromisoformat, help="Created on or after (YYYY-MM-DD)")
        parser.add_argument("--until", type=date.fromisoformat, help="Created on or before (YYYY-MM-DD)")
        parser.add_argument("--source", help="Only leads from this source")

    def handle(self, *args: Any, **options: Any) -> None:
        users = User.objects.filter(is_active=True)
        user = users.filter(username=options["username"]).first() if options["username"] else None
        if options["username"] and user is None:
            raise CommandError(f"No active user {options['username']!r}.")
        # Without --as the report is the whole organisation's, as an admin sees it.
        scope = Scope(
            user=user or User(role=Role.ADMIN),
            since=options["since"],
            until=options["until"],
            source=options["source"],
        )
        if options["csv"]:
            self.stdout.write(csv_text(run_report(options["name"], scope, table=True)), ending="")
            return
        document = run_report(options["name"], scope)
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2, default=str))
            return
        rows = run_report(options["name"], scope, table=True)
        for row in rows:
            self.stdout.write("  ".join(f"{key}={value}" for key, value in row.items()))
